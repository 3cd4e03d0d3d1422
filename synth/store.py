"""Crash-safe output: append-only JSONL shards per worker plus an atomically replaced manifest.

Layout under ``<out>/generated/w<NN>/``: ``records-<SSSSS>.jsonl`` (accepted, rolled every ``shard_size``
records), ``rejects-<SSSSS>.jsonl`` and ``manifest.json``. Every batch is appended, flushed and fsynced, then
the manifest is replaced. The shards are the truth: on resume a torn last line (a kill mid-write) is cut off,
the ids found in records and rejects are done, and the manifest is rebuilt from them.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON to a temp file, fsync, and rename over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def repair_tail(path: Path) -> int:
    """Cut an unterminated last line (a write interrupted by a kill); returns the bytes removed."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        chunk, pos = 1 << 16, size
        while pos > 0:
            start = max(0, pos - chunk)
            handle.seek(start)
            data = handle.read(pos - start)
            nl = data.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                handle.truncate(keep)
                return size - keep
            pos = start
        handle.truncate(0)
        return size


def read_jsonl(path: Path) -> Iterator[dict]:
    """Rows of a JSONL file, skipping lines that do not parse (a torn line left by an unrepaired kill)."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue


@dataclass
class ShardState:
    """What is on disk for one worker: done ids, accepted count per shard, reject counts by reason."""

    done: set[str] = field(default_factory=set)
    shard_counts: dict[str, int] = field(default_factory=dict)
    rejects: Counter = field(default_factory=Counter)
    repaired_bytes: int = 0


class ShardStore:
    """Append-only shards and the manifest of one worker's generation run."""

    def __init__(self, out_dir: str | Path, worker: int = 0, shard_size: int = 10000) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.dir = Path(out_dir) / "generated" / f"w{worker:02d}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.worker, self.shard_size = worker, shard_size
        self.manifest_path = self.dir / "manifest.json"
        self.state = self.scan()
        self._records: IO[str] | None = None
        self._rejects: IO[str] | None = None
        self._shard = self._next_shard_index()
        self._in_shard = self.state.shard_counts.get(self._shard_name(self._shard), 0)

    # ----------------------------------------------------------------- reading
    def record_files(self) -> list[Path]:
        """Accepted-record shards, in order."""
        return sorted(self.dir.glob("records-*.jsonl"))

    def reject_files(self) -> list[Path]:
        """Reject shards, in order."""
        return sorted(self.dir.glob("rejects-*.jsonl"))

    def scan(self) -> ShardState:
        """Repair torn tails and collect done ids and counts from the shards."""
        state = ShardState()
        for path in self.record_files():
            state.repaired_bytes += repair_tail(path)
            n = 0
            for row in read_jsonl(path):
                state.done.add(row["id"])
                n += 1
            state.shard_counts[path.name] = n
        for path in self.reject_files():
            state.repaired_bytes += repair_tail(path)
            for row in read_jsonl(path):
                state.done.add(row["id"])
                state.rejects[row.get("reason", "unknown")] += 1
        return state

    def records(self) -> Iterator[dict]:
        """Accepted records of this worker."""
        for path in self.record_files():
            yield from read_jsonl(path)

    def read_manifest(self) -> dict:
        """The last manifest written, or {}."""
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    # ----------------------------------------------------------------- writing
    @staticmethod
    def _shard_name(index: int, kind: str = "records") -> str:
        return f"{kind}-{index:05d}.jsonl"

    def _next_shard_index(self) -> int:
        names = [p.name for p in self.record_files()]
        if not names:
            return 0
        last = max(int(n.split("-")[1].split(".")[0]) for n in names)
        return last if self.state.shard_counts.get(self._shard_name(last), 0) < self.shard_size else last + 1

    def _open(self) -> None:
        if self._records is None:
            self._records = (self.dir / self._shard_name(self._shard)).open("a", encoding="utf-8")
            self._rejects = (self.dir / self._shard_name(self._shard, "rejects")).open("a", encoding="utf-8")

    def _roll(self) -> None:
        self._close_files()
        self._shard += 1
        self._in_shard = 0

    def write_batch(self, accepted: list[dict], rejected: list[dict]) -> None:
        """Append a batch's records and rejects durably (flush + fsync), rolling shards at ``shard_size``."""
        self._open()
        for rec in accepted:
            if self._in_shard >= self.shard_size:
                self._roll()
                self._open()
            self._records.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._in_shard += 1
            self.state.shard_counts[self._shard_name(self._shard)] = self._in_shard
            self.state.done.add(rec["id"])
        for rec in rejected:
            self._rejects.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.state.rejects[rec["reason"]] += 1
            self.state.done.add(rec["id"])
        for handle in (self._records, self._rejects):
            handle.flush()
            os.fsync(handle.fileno())

    def write_manifest(self, **fields: Any) -> dict:
        """Replace the manifest: shard list with counts, reject counts, plus the given fields."""
        manifest = {
            "worker": self.worker,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "shards": [{"file": k, "records": v} for k, v in sorted(self.state.shard_counts.items())],
            "accepted": sum(self.state.shard_counts.values()),
            "rejected": dict(sorted(self.state.rejects.items())),
            "done": len(self.state.done),
            **fields,
        }
        atomic_write_json(self.manifest_path, manifest)
        return manifest

    def _close_files(self) -> None:
        for handle in (self._records, self._rejects):
            if handle is not None:
                handle.close()
        self._records = self._rejects = None

    def close(self) -> None:
        """Close the open shard files."""
        self._close_files()


def generated_dirs(out_dir: str | Path) -> list[Path]:
    """The per-worker folders of a run, then the committed shards of a distributed run (``synth.shards``)."""
    root = Path(out_dir) / "generated"
    shards = sorted(p for p in (root / "shards").glob("s[0-9][0-9][0-9][0-9][0-9]*") if p.is_dir())
    return sorted(root.glob("w[0-9][0-9]")) + shards


def iter_generated(out_dir: str | Path) -> Iterator[dict]:
    """Accepted records of all workers of a run (worker order, then shard order)."""
    for d in generated_dirs(out_dir):
        for path in sorted(d.glob("records*.jsonl")):
            yield from read_jsonl(path)


def iter_rejects(out_dir: str | Path) -> Iterator[dict]:
    """Rejected units of all workers of a run."""
    for d in generated_dirs(out_dir):
        for path in sorted(d.glob("rejects*.jsonl")):
            yield from read_jsonl(path)
