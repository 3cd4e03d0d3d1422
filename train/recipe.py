"""The training recipe, top to bottom: build, resume, loop (step, log, checkpoint), export.

Run it with ``python -m train`` (Hydra, conf/train/config.yaml) under ``deepspeed``/``torchrun`` or plainly.
``TSUMUGI_TRAIN_KILL_AT_STEP=N`` SIGKILLs the process right after step N (tests of exact resume).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from train.builders import (
    build_engine_spec,
    build_formatter,
    build_loader,
    build_model,
    build_objective,
    build_optim_spec,
    build_step_config,
    build_wandb_spec,
)
from train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from train.engine import deepspeed_config, initialize_engine
from train.export import export_model
from train.model_setup import trainable_parameters
from train.monitor import Monitor
from train.optim import build_optimizer, build_scheduler
from train.runtime import barrier, init_distributed, mean_over_ranks, seed_everything, sum_over_ranks
from train.step import engine_micro_steps, train_step

log = logging.getLogger(__name__)


def _resume_from(c: Mapping[str, Any], output_dir: Path) -> Path | None:
    """The checkpoint to resume: ``trainer.resume`` = auto (latest in output_dir) | never | a path."""
    resume = c["trainer"].get("resume", "auto")
    if resume in (None, False, "never", "none"):
        return None
    if resume == "auto":
        return latest_checkpoint(output_dir)
    return Path(resume)


def _kill_if_asked(step: int) -> None:
    if os.environ.get("TSUMUGI_TRAIN_KILL_AT_STEP") == str(step):
        os.kill(os.getpid(), signal.SIGKILL)


def train(c: Mapping[str, Any]) -> Path:
    """Run one training job from a resolved config (plain dict); returns the final model folder."""
    rank, world = init_distributed()
    output_dir = Path(c["output_dir"])
    if rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
    t = c["trainer"]
    max_steps = int(t["max_steps"])

    # --- build: identical initialisation (LoRA adapters included) on every rank
    seed_everything(int(c["seed"]))
    model = build_model(c)
    loader = build_loader(c, build_formatter(c, model), rank, world)
    step_config, objective = build_step_config(c), build_objective(c)
    optim = build_optim_spec(c)
    optimizer = build_optimizer(model, optim)
    scheduler = build_scheduler(optimizer, optim, max_steps)
    local_batch = int(c["data"]["batch_size"]) // world
    micro_steps = engine_micro_steps(local_batch, loader.k, step_config)
    ds_config = deepspeed_config(build_engine_spec(c), local_batch, micro_steps, optim.max_grad_norm)
    trainable, total = trainable_parameters(model)  # before ZeRO-3 partitions the parameters
    engine = initialize_engine(model, optimizer, scheduler, ds_config)
    if rank == 0:
        log.info(
            "training %d of %d parameters on %d rank(s); %d engine micro-steps per step",
            trainable,
            total,
            world,
            micro_steps,
        )

    # --- resume (model, optimizer, scheduler, RNG, data position) or start
    start = 0
    checkpoint = _resume_from(c, output_dir)
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

    # --- loop
    save_every, keep_last = int(t.get("save_every") or 0), t.get("keep_last")
    export_dtype = t.get("export_dtype")
    for step in range(start + 1, max_steps + 1):
        began = time.perf_counter()
        batches = [next(loader) for _ in range(step_config.accumulation)]
        lr = engine.get_lr()[0]
        stats = train_step(engine, model, batches, step_config, objective)
        seconds = time.perf_counter() - began
        tokens = sum_over_ranks(sum(s.tokens for s in stats))
        metrics = {
            "loss": mean_over_ranks(sum(s.loss for s in stats) / len(stats)),
            "lr": lr,
            "tokens_per_s": tokens / seconds,
            "epoch": loader.epoch,
            "step_seconds": seconds,
        }
        if (grad_norm := engine.get_global_grad_norm()) is not None:  # ZeRO and bf16 optimizers report it
            metrics["grad_norm"] = float(grad_norm)
        monitor.log(step, metrics)
        if save_every and step % save_every == 0:
            save_checkpoint(
                engine, model, output_dir, step, {"data": loader.state_dict()}, keep_last, export_dtype
            )
        _kill_if_asked(step)

    # --- export
    final = export_model(engine, model, output_dir / "final", export_dtype)
    barrier()
    monitor.close()
    return final
