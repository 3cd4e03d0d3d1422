"""Checkpoints: a sentence-transformers folder (loadable by eval/, merge/ and sentence-transformers) with the
trainer state beside it, keep-last-K, and exact resume.

Layout::

    <output_dir>/checkpoints/step-00000100/        the model (embed.EmbeddingModel.save layout)
        trainer_state/deepspeed/                  engine.save_checkpoint: module, optimizer, scheduler (per rank)
        trainer_state/rng_rank{r}.pt              every RNG of rank r
        trainer_state/trainer_state.json          step, data position, ... — written last: marks completeness

Resume restores module, optimizer and scheduler (DeepSpeed), the data position and every RNG, so the run
continues as if never stopped.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist

from embed import EmbeddingModel
from train.export import export_model
from train.runtime import barrier, current_rank, restore_rng, rng_snapshot

log = logging.getLogger(__name__)

STATE_DIR, STATE_FILE, DS_TAG = "trainer_state", "trainer_state.json", "deepspeed"


def checkpoint_dir(output_dir: str | Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives."""
    return Path(output_dir) / "checkpoints" / f"step-{step:08d}"


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """Finished checkpoints, oldest first."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if (p / STATE_DIR / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest finished checkpoint, if any."""
    found = complete_checkpoints(output_dir)
    return found[-1] if found else None


def prune_checkpoints(output_dir: str | Path, keep_last: int | None) -> list[Path]:
    """Delete all but the newest ``keep_last`` finished checkpoints (and unfinished older ones)."""
    if not keep_last or keep_last <= 0:
        return []
    finished = complete_checkpoints(output_dir)
    keep = set(finished[-keep_last:])
    newest = int(finished[-1].name.split("-")[1]) if finished else -1
    removed = []
    for p in (Path(output_dir) / "checkpoints").glob("step-*"):
        if p not in keep and int(p.name.split("-")[1]) < newest:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def save_checkpoint(
    engine,
    model: EmbeddingModel,
    output_dir: str | Path,
    step: int,
    state: dict,
    keep_last: int | None = None,
    export_dtype: str | None = None,
    export: Callable = export_model,
) -> Path:
    """Export the model (``export(engine, model, path, dtype)``; the reranker trainer passes its own), save the
    engine and RNG states, mark complete, prune; every rank calls."""
    path = checkpoint_dir(output_dir, step)
    export(engine, model, path, export_dtype)
    barrier()
    state_dir = path / STATE_DIR
    engine.save_checkpoint(str(state_dir), tag=DS_TAG, client_state={"trainer": {"step": step, **state}})
    torch.save(rng_snapshot(), state_dir / f"rng_rank{current_rank()}.pt")
    barrier()
    if current_rank() == 0:
        world = dist.get_world_size() if dist.is_initialized() else 1
        record = {"step": step, "world_size": world, **state}
        (state_dir / STATE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        prune_checkpoints(output_dir, keep_last)
    barrier()
    return path


def load_checkpoint(engine, path: str | Path) -> dict:
    """Restore engine (module, optimizer, scheduler) and this rank's RNGs; returns the saved trainer state."""
    state_dir = Path(path) / STATE_DIR
    record = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    loaded, client = engine.load_checkpoint(str(state_dir), tag=DS_TAG)
    if loaded is None:
        raise RuntimeError(f"DeepSpeed could not load the checkpoint in {state_dir}")
    world = dist.get_world_size() if dist.is_initialized() else 1
    rng_file = state_dir / f"rng_rank{current_rank()}.pt"
    if record.get("world_size") == world and rng_file.is_file():
        restore_rng(torch.load(rng_file, weights_only=False))
    else:
        log.warning(
            "resuming on %d ranks from a %s-rank checkpoint: RNG streams restart",
            world,
            record.get("world_size"),
        )
    return {**record, **(client or {}).get("trainer", {})}
