"""The training loop both trainers share: resume (model, optimizer, scheduler, RNG, data position) or start,
then step, log, checkpoint up to ``trainer.max_steps``, then export the final model.

``TSUMUGI_TRAIN_KILL_AT_STEP=N`` SIGKILLs the process right after step N (tests of exact resume).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train.builders import build_wandb_spec
from train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from train.data import TrainLoader
from train.monitor import Monitor
from train.runtime import barrier, seed_everything

log = logging.getLogger(__name__)

ExportFn = Callable[..., Path]  # export(engine, module, path, dtype) -> path; every rank calls


@dataclass
class StepReport:
    """What one optimizer step reports: ``metrics`` as they are (already reduced over ranks) and global
    ``counts`` (tokens, pairs, ...) that the loop turns into ``<name>_per_s`` rates over the step's wall time."""

    metrics: dict[str, float]
    counts: dict[str, float] = field(default_factory=dict)


def resume_from(c: Mapping[str, Any], output_dir: Path) -> Path | None:
    """The checkpoint to resume: ``trainer.resume`` = auto (latest in output_dir) | never | a path."""
    resume = c["trainer"].get("resume", "auto")
    if resume in (None, False, "never", "none"):
        return None
    if resume == "auto":
        return latest_checkpoint(output_dir)
    return Path(resume)


def kill_if_asked(step: int) -> None:
    """SIGKILL this process after ``step`` when ``TSUMUGI_TRAIN_KILL_AT_STEP`` names it (resume tests)."""
    if os.environ.get("TSUMUGI_TRAIN_KILL_AT_STEP") == str(step):
        os.kill(os.getpid(), signal.SIGKILL)


def run_loop(
    c: Mapping[str, Any],
    engine,
    module,
    loader: TrainLoader,
    step: Callable[[], StepReport],
    export: ExportFn,
    rank: int,
) -> Path:
    """Resume or start, run ``step`` (one optimizer step, batches drawn inside) up to ``trainer.max_steps``
    with logging and checkpoints every ``save_every``, then export ``<output_dir>/final``; every rank calls."""
    output_dir, t = Path(c["output_dir"]), c["trainer"]
    max_steps = int(t["max_steps"])
    start = 0
    checkpoint = resume_from(c, output_dir)
    if checkpoint is not None:
        state = load_checkpoint(engine, checkpoint)
        loader.load_state_dict(state["data"])
        start = int(state["step"])
        if rank == 0:
            log.info("resumed from %s at step %d", checkpoint, start)
    else:
        seed_everything(int(c["seed"]) + rank)  # dropout streams differ per rank
    monitor = Monitor(
        output_dir, c["run_name"], max_steps, start, dict(c), build_wandb_spec(c), enabled=rank == 0
    )
    save_every, keep_last = int(t.get("save_every") or 0), t.get("keep_last")
    export_dtype = t.get("export_dtype")
    for n in range(start + 1, max_steps + 1):
        began = time.perf_counter()
        lr = engine.get_lr()[0]
        report = step()
        seconds = time.perf_counter() - began
        metrics = {"loss": report.metrics.pop("loss"), "lr": lr}
        metrics.update({f"{name}_per_s": count / seconds for name, count in report.counts.items()})
        metrics.update(report.metrics)
        metrics.update({"epoch": loader.epoch, "step_seconds": seconds})
        if (grad_norm := engine.get_global_grad_norm()) is not None:  # ZeRO and bf16 optimizers report it
            metrics["grad_norm"] = float(grad_norm)
        monitor.log(n, metrics)
        if save_every and n % save_every == 0:
            state = {"data": loader.state_dict()}
            save_checkpoint(engine, module, output_dir, n, state, keep_last, export_dtype, export=export)
        kill_if_asked(n)
    final = export(engine, module, output_dir / "final", export_dtype)
    barrier()
    monitor.close()
    return final
