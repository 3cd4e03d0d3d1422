"""The generation loop: batches of work items through their steps, checks, de-duplication and durable writes.

Items already in the shards (accepted or rejected) are skipped, so a killed run resumes where it stopped without
duplicates; the de-duplicator is rebuilt from the accepted shards first. Within a batch every item's step k
runs in one engine call (items of different tasks mixed), so the engine always sees whole batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from synth.dedup import Deduplicator
from synth.engines.base import Engine
from synth.ids import shard_of
from synth.store import ShardStore
from synth.tasks.base import Task, WorkItem
from synth.validate import Reject, parse_json_output

log = logging.getLogger(__name__)


@dataclass
class GenerateResult:
    """Counts of one generation session (this process) and the manifest it left."""

    attempted: int
    accepted: int
    rejected: int
    skipped_done: int
    seconds: float
    manifest: dict


def _batches(items: Iterable[tuple[Task, WorkItem]], size: int) -> Iterator[list[tuple[Task, WorkItem]]]:
    batch: list[tuple[Task, WorkItem]] = []
    for pair in items:
        batch.append(pair)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _reject_row(task: Task, item: WorkItem, step: str, err: Reject, raw: str | None) -> dict[str, Any]:
    return {
        "id": item.id,
        "task": task.name,
        "source_id": item.source_id,
        "variant": item.variant,
        "step": step,
        "reason": err.reason,
        "detail": err.detail,
        "raw": raw,
    }


def run_batch(
    batch: Sequence[tuple[Task, WorkItem]], engine: Engine, dedup: Deduplicator | None
) -> tuple[list[dict], list[dict]]:
    """Run one batch through all steps; returns (accepted records, reject rows)."""
    states: dict[str, dict] = {item.id: {} for _, item in batch}
    raws: dict[str, dict] = {item.id: {} for _, item in batch}
    alive = list(batch)
    rejects: list[dict] = []
    usage: dict[str, list[int]] = {item.id: [0, 0] for _, item in batch}
    depth = max(len(task.steps) for task, _ in batch)
    for k in range(depth):
        todo = [(t, it) for t, it in alive if k < len(t.steps)]
        if not todo:
            break
        requests = []
        for task, item in todo:
            requests.append(task.request(task.steps[k], item, states[item.id]))
        outputs = engine.generate(requests)
        failed: set[str] = set()
        for (task, item), req, out in zip(todo, requests, outputs, strict=True):
            step = task.steps[k]
            raws[item.id][step.name] = out.text
            usage[item.id][0] += out.prompt_tokens
            usage[item.id][1] += out.output_tokens
            try:
                parsed = parse_json_output(out.text, out.finish_reason, req.schema, out.error)
                task.absorb(step, item, states[item.id], parsed)
            except Reject as err:
                rejects.append(_reject_row(task, item, step.name, err, out.text))
                failed.add(item.id)
        alive = [(t, it) for t, it in alive if it.id not in failed]
    accepted = []
    for task, item in alive:
        try:
            fields = task.finish(item, states[item.id])
            record_task = fields.pop("task", None) or task.name
            if dedup is not None:
                reason = dedup.check_and_add(fields["query"], record_task)
                if reason is not None:
                    raise Reject(reason, fields["query"][:80])
        except Reject as err:
            rejects.append(_reject_row(task, item, "finish", err, raws[item.id].get(task.steps[-1].name)))
            continue
        accepted.append(
            {
                "id": item.id,
                "task": record_task,
                **fields,
                "source_id": item.source_id,
                "variant": item.variant,
                "raw": raws[item.id],
                "usage": {"prompt_tokens": usage[item.id][0], "output_tokens": usage[item.id][1]},
            }
        )
    return accepted, rejects


def generate(
    tasks: Sequence[Task],
    engine: Engine,
    store: ShardStore,
    *,
    batch_size: int = 256,
    dedup: bool = True,
    dedup_normalized: bool = True,
    num_workers: int = 1,
    worker: int = 0,
    max_items: int | None = None,
    manifest_fields: dict[str, Any] | None = None,
) -> GenerateResult:
    """Generate every pending item of ``tasks`` owned by ``worker``; writes shards and the manifest per batch."""
    t0 = time.perf_counter()
    seen = Deduplicator(normalized=dedup_normalized) if dedup else None
    if seen is not None:
        for rec in store.records():
            seen.add(rec["query"], rec["task"])
    done = store.state.done
    previous = store.read_manifest()
    base_counters = previous.get("engine_total", {})
    skipped = 0
    stopped_early = False

    def pending() -> Iterator[tuple[Task, WorkItem]]:
        nonlocal skipped, stopped_early
        n = 0
        for task in tasks:
            for item in task.items():
                if num_workers > 1 and shard_of(item.id, num_workers) != worker:
                    continue
                if item.id in done:
                    skipped += 1
                    continue
                if max_items is not None and n >= max_items:
                    stopped_early = True
                    return
                n += 1
                yield task, item

    def engine_total() -> dict:
        now = engine.counters.as_dict()
        total = {
            k: (base_counters.get(k) or 0) + (now.get(k) or 0)
            for k in ("requests", "prompt_tokens", "output_tokens", "failures", "retries", "seconds")
        }
        total["output_tokens_per_s"] = (
            round(total["output_tokens"] / total["seconds"], 2) if total["seconds"] else None
        )
        return total

    attempted = accepted_n = rejected_n = 0
    fields = dict(manifest_fields or {})
    store.write_manifest(complete=False, engine_total=engine_total(), **fields)
    for batch in _batches(pending(), batch_size):
        accepted, rejects = run_batch(batch, engine, seen)
        store.write_batch(accepted, rejects)
        attempted += len(batch)
        accepted_n += len(accepted)
        rejected_n += len(rejects)
        store.write_manifest(complete=False, engine_total=engine_total(), **fields)
        log.info(
            "batch of %d: %d accepted, %d rejected (session: %d/%d accepted, %.1f output tok/s)",
            len(batch),
            len(accepted),
            len(rejects),
            accepted_n,
            attempted,
            engine.counters.as_dict()["output_tokens_per_s"] or 0.0,
        )
    manifest = store.write_manifest(complete=not stopped_early, engine_total=engine_total(), **fields)
    return GenerateResult(attempted, accepted_n, rejected_n, skipped, time.perf_counter() - t0, manifest)
