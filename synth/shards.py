"""Exactly-once output of distributed generation: one folder per deterministic shard, committed by a rename.

Layout under ``<out>/generated/shards/``: ``job.json`` (fingerprint and shard count, fixed for the job),
``manifest.json`` (totals, replaced after every commit) and ``s<SSSSS>/{records.jsonl, rejects.jsonl, meta.json}``.
Item ``id`` belongs to shard ``int(id[:8], 16) % num_shards`` (``synth.ids.shard_of``), whatever the number of
workers. A shard folder is built under a temporary name and renamed into place (``embed.atomic.atomic_dir``) by
the driver, the only writer: a shard is either absent or complete, a restarted job redoes exactly the absent ones,
and a shard that is already there is never written again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from embed.atomic import atomic_dir
from synth.store import atomic_write_json

SHARDS = "shards"
_NAME = re.compile(r"^s(\d{5,})$")


def shards_root(out_dir: str | Path) -> Path:
    """``<out>/generated/shards``."""
    return Path(out_dir) / "generated" / SHARDS


def shard_name(index: int) -> str:
    """Folder name of shard ``index``."""
    return f"s{index:05d}"


def committed_shards(out_dir: str | Path) -> set[int]:
    """Indexes of the committed shards (folders in place; temporary ones start with a dot)."""
    root = shards_root(out_dir)
    if not root.is_dir():
        return set()
    return {int(m.group(1)) for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name))}


def committed_dirs(out_dir: str | Path) -> list[Path]:
    """Committed shard folders in shard order."""
    return [shards_root(out_dir) / shard_name(i) for i in sorted(committed_shards(out_dir))]


def remove_partial(out_dir: str | Path) -> int:
    """Delete temporary folders a killed driver left mid-commit; returns how many."""
    root = shards_root(out_dir)
    if not root.is_dir():
        return 0
    stale = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(".")]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def commit_shard(
    out_dir: str | Path, index: int, records: list[dict], rejects: list[dict], meta: dict[str, Any]
) -> bool:
    """Write shard ``index`` atomically; False (and nothing written) when it is already committed."""
    target = shards_root(out_dir) / shard_name(index)
    if target.exists():
        return False
    with atomic_dir(target) as tmp:
        _write_jsonl(tmp / "records.jsonl", records)
        _write_jsonl(tmp / "rejects.jsonl", rejects)
        atomic_write_json(tmp / "meta.json", {"shard": index, **meta})
    return True


def check_job(out_dir: str | Path, fingerprint: str, num_shards: int, allow_change: bool = False) -> dict:
    """Create ``job.json`` or check that a resumed job has the same fingerprint and shard count."""
    root = shards_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "job.json"
    job = {"fingerprint": fingerprint, "num_shards": num_shards}
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("num_shards") != num_shards:
            raise RuntimeError(
                f"{path}: the job was split into {old.get('num_shards')} shards, now generate.num_shards="
                f"{num_shards}; shard membership depends on it: keep it, or use a new out_dir"
            )
        if old.get("fingerprint") != fingerprint and not allow_change:
            raise RuntimeError(
                f"{path}: generated with other settings (fingerprint {old.get('fingerprint')}, now "
                f"{fingerprint}); use a new out_dir or generate.allow_config_change=true"
            )
        if old.get("fingerprint") == fingerprint:
            return old
    atomic_write_json(path, job)
    return job
