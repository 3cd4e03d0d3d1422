"""Generation over many workers, exactly once: deterministic shards, one commit per shard, progress and ETA.

The driver plans ``generate.num_shards`` shards by item id (``synth.ids.shard_of``), skips the committed ones
(``synth.shards``), hands the rest to an executor and commits each shard's result as it arrives. Executors:
``synth.ray_engine`` (Ray Data ``map_batches`` over an actor pool of vLLM engines, any number of nodes) and
``inline`` (this process, one engine; tests and one-machine runs). A worker returns its shard's records instead
of writing them, so the driver is the only writer: a shard redone after a killed worker (Ray retries it) or a
killed job (the next run skips committed shards) is committed once, and no shared filesystem is needed.
De-duplication inside generation is per shard (so a shard's records do not depend on which worker ran which
other shard); the filter stage de-duplicates across shards.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth.dedup import Deduplicator
from synth.engines.base import Engine
from synth.generate import _batches, run_batch
from synth.ids import shard_of
from synth.shards import commit_shard, committed_shards, remove_partial, shards_root
from synth.store import atomic_write_json
from synth.tasks.base import Task, WorkItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardSettings:
    """What a worker needs besides the tasks and the engine."""

    num_shards: int
    batch_size: int = 256
    dedup: bool = True
    dedup_normalized: bool = True


@dataclass
class ShardResult:
    """One shard's output as a worker returns it."""

    shard: int
    records: list[dict]
    rejects: list[dict]
    worker: str
    seconds: float
    engine: dict = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0


def plan(tasks: Sequence[Task], num_shards: int) -> dict[int, int]:
    """Items per shard (shards without items are left out)."""
    counts: Counter = Counter()
    for task in tasks:
        for item in task.items():
            counts[shard_of(item.id, num_shards)] += 1
    return dict(sorted(counts.items()))


def index_items(tasks: Sequence[Task], num_shards: int) -> dict[int, list[tuple[Task, WorkItem]]]:
    """Every item grouped by shard, in task then item order (a worker builds this once)."""
    by_shard: dict[int, list[tuple[Task, WorkItem]]] = defaultdict(list)
    for task in tasks:
        for item in task.items():
            by_shard[shard_of(item.id, num_shards)].append((task, item))
    return dict(by_shard)


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_shard(
    shard: int, pairs: Sequence[tuple[Task, WorkItem]], engine: Engine, settings: ShardSettings
) -> ShardResult:
    """Generate one shard's items in batches (steps, checks, per-shard de-duplication); nothing is written."""
    t0, started = time.perf_counter(), time.time()
    before = engine.counters.as_dict()
    seen = Deduplicator(normalized=settings.dedup_normalized) if settings.dedup else None
    records: list[dict] = []
    rejects: list[dict] = []
    for batch in _batches(pairs, settings.batch_size):
        acc, rej = run_batch(batch, engine, seen)
        records.extend(acc)
        rejects.extend(rej)
    now = engine.counters.as_dict()
    usage = {
        k: now[k] - (before[k] or 0)
        for k in ("requests", "prompt_tokens", "output_tokens", "failures", "seconds")
    }
    secs = time.perf_counter() - t0
    return ShardResult(shard, records, rejects, worker_name(), secs, usage, started, started + secs)


class Progress:
    """Items/s and ETA over all workers, from the shards committed in this session."""

    def __init__(self, plan_counts: dict[int, int], done: set[int], clock: Callable[[], float] = time.time):
        self.total = sum(plan_counts.values())
        self.shards_total = len(plan_counts)
        self.counts = plan_counts
        self.items_done = sum(plan_counts[s] for s in done if s in plan_counts)
        self.shards_done = len(done & plan_counts.keys())
        self.session_items = 0
        self.by_worker: Counter = Counter()
        self.clock = clock
        self.start = clock()

    def update(self, shard: int, worker: str) -> dict:
        """Count a committed shard; returns the current figures."""
        n = self.counts.get(shard, 0)
        self.items_done += n
        self.shards_done += 1
        self.session_items += n
        self.by_worker[worker] += n
        return self.figures()

    def figures(self) -> dict:
        """Done/total, items/s (this session, all workers), ETA in seconds (None before the first shard)."""
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.session_items / elapsed
        left = self.total - self.items_done
        return {
            "shards": f"{self.shards_done}/{self.shards_total}",
            "items": f"{self.items_done}/{self.total}",
            "items_per_s": round(rate, 3),
            "eta_s": round(left / rate, 1) if rate > 0 else None,
            "workers": {w: round(c / elapsed, 3) for w, c in sorted(self.by_worker.items())},
        }

    def line(self) -> str:
        """One log line."""
        f = self.figures()
        eta = "?" if f["eta_s"] is None else _duration(f["eta_s"])
        per = ", ".join(f"{w} {r:.2f}" for w, r in f["workers"].items())
        return (
            f"generate: shards {f['shards']}, items {f['items']}, {f['items_per_s']:.2f} items/s over "
            f"{len(f['workers'])} workers ({per}), ETA {eta}"
        )


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s // 60 % 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


Executor = Callable[[list[int]], Iterable[ShardResult]]


def inline_executor(
    tasks: Sequence[Task], engine: Engine, settings: ShardSettings
) -> Callable[[list[int]], Iterator[ShardResult]]:
    """Run the shards one after another in this process on ``engine``."""

    def execute(shards: list[int]) -> Iterator[ShardResult]:
        index = index_items(tasks, settings.num_shards)
        for s in shards:
            yield run_shard(s, index.get(s, []), engine, settings)

    return execute


@dataclass
class ShardedResult:
    """Counts of one driver session."""

    shards_total: int
    shards_skipped: int
    shards_committed: int
    attempted: int
    accepted: int
    rejected: int
    seconds: float
    progress: dict


def generate_sharded(
    tasks: Sequence[Task],
    out_dir,
    execute: Executor,
    settings: ShardSettings,
    *,
    manifest_fields: dict[str, Any] | None = None,
    max_shards: int | None = None,
) -> ShardedResult:
    """Plan the shards, run the uncommitted ones through ``execute``, commit each result once; log progress."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    shards_root(out_dir).mkdir(parents=True, exist_ok=True)
    stale = remove_partial(out_dir)
    if stale:
        log.info("generate: removed %d half-committed shard folders of an earlier run", stale)
    counts = plan(tasks, settings.num_shards)
    done = committed_shards(out_dir)
    pending = [s for s in counts if s not in done]
    if max_shards is not None:
        pending = pending[:max_shards]
    progress = Progress(counts, done)
    log.info(
        "generate: %d items in %d shards; %d committed, %d to run",
        progress.total,
        len(counts),
        len(done & counts.keys()),
        len(pending),
    )
    committed = accepted = rejected = attempted = 0
    engine_total: Counter = Counter(_read_totals(out_dir))
    fields = dict(manifest_fields or {})
    session_tokens = [0]

    def manifest(complete: bool) -> None:
        wall = time.perf_counter() - t0  # all workers together: this session's tokens over its wall time
        rate = session_tokens[0] / wall if session_tokens[0] else None
        atomic_write_json(
            shards_root(out_dir) / "manifest.json",
            {
                "complete": complete,
                "num_shards": settings.num_shards,
                "progress": progress.figures(),
                "engine_total": {**engine_total, "output_tokens_per_s": round(rate, 2) if rate else None},
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
                **fields,
            },
        )

    manifest(complete=False)
    if pending:
        for res in execute(pending):
            if res.shard not in counts or res.shard in done:
                continue  # a duplicate answer (a retried task whose first attempt also returned): drop it
            answered = len(res.records) + len(res.rejects)
            if answered != counts[res.shard]:  # e.g. a node running other code or another corpus
                raise RuntimeError(
                    f"shard {res.shard} from worker {res.worker}: {answered} records + rejects for "
                    f"{counts[res.shard]} items; the worker's tasks differ from the driver's"
                )
            meta = {
                "items": counts[res.shard],
                "worker": res.worker,
                "seconds": round(res.seconds, 3),
                "started": res.started,
                "finished": res.finished,
            }
            if not commit_shard(out_dir, res.shard, res.records, res.rejects, {**meta, "engine": res.engine}):
                continue
            done.add(res.shard)
            committed += 1
            attempted += counts[res.shard]
            accepted += len(res.records)
            rejected += len(res.rejects)
            for k, v in res.engine.items():
                engine_total[k] += v
            engine_total["worker_seconds"] += res.seconds
            session_tokens[0] += res.engine.get("output_tokens", 0)
            progress.update(res.shard, res.worker)
            manifest(complete=False)
            log.info(progress.line())
    complete = all(s in done for s in counts)
    manifest(complete=complete)
    return ShardedResult(
        len(counts),
        len(counts) - len(pending),
        committed,
        attempted,
        accepted,
        rejected,
        time.perf_counter() - t0,
        progress.figures(),
    )


def _read_totals(out_dir: Path) -> dict:
    path = shards_root(out_dir) / "manifest.json"
    if not path.exists():
        return {}
    eng = json.loads(path.read_text(encoding="utf-8")).get("engine_total", {})
    return {k: v for k, v in eng.items() if isinstance(v, int | float) and k != "output_tokens_per_s"}
