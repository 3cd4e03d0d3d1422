"""The reranker training recipe, top to bottom: build, resume, loop (step, log, checkpoint), export — the
embedding trainer's recipe (train/recipe.py) with a reranker, its loss and its export.

Run it with ``python -m train.reranker`` (Hydra, conf/rerank/train.yaml) under ``deepspeed``/``torchrun`` or
plainly. ``TSUMUGI_TRAIN_KILL_AT_STEP=N`` SIGKILLs the process right after step N (tests of exact resume).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from train.builders import build_engine_spec, build_optim_spec, build_wandb_spec
from train.checkpoint import load_checkpoint, save_checkpoint
from train.engine import deepspeed_config, initialize_engine
from train.model_setup import trainable_parameters
from train.monitor import Monitor
from train.optim import build_scheduler
from train.recipe import _kill_if_asked, _resume_from
from train.reranker.builders import build_loss_spec, build_rerank_loader, build_reranker
from train.reranker.export import export_reranker
from train.reranker.optim import build_rerank_optimizer
from train.reranker.step import rerank_step
from train.runtime import barrier, init_distributed, mean_over_ranks, seed_everything, sum_over_ranks

log = logging.getLogger(__name__)


def train_reranker(c: Mapping[str, Any]) -> Path:
    """Run one reranker training job from a resolved config (plain dict); returns the final reranker folder."""
    rank, world = init_distributed()
    output_dir = Path(c["output_dir"])
    if rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
    t = c["trainer"]
    max_steps = int(t["max_steps"])
    accumulation = int(t.get("gradient_accumulation_steps", 1))

    # --- build: identical initialisation (fresh heads, LoRA adapters) on every rank
    seed_everything(int(c["seed"]))
    reranker = build_reranker(c)
    loader = build_rerank_loader(c, reranker, rank, world)
    spec = build_loss_spec(c)
    optim = build_optim_spec(c)
    optimizer = build_rerank_optimizer(
        reranker, optim, float((c.get("reranker") or {}).get("head_lr_scale", 1.0))
    )
    scheduler = build_scheduler(optimizer, optim, max_steps)
    local_batch = int(c["data"]["batch_size"]) // world
    ds_config = deepspeed_config(build_engine_spec(c), local_batch, accumulation, optim.max_grad_norm)
    trainable, total = trainable_parameters(reranker)
    engine = initialize_engine(reranker, optimizer, scheduler, ds_config)
    if rank == 0:
        log.info(
            "training a %s reranker (%s, %s): %d of %d parameters on %d rank(s)",
            reranker.kind,
            spec.objective,
            spec.loss,
            trainable,
            total,
            world,
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
        seed_everything(int(c["seed"]) + rank)
    monitor = Monitor(
        output_dir, c["run_name"], max_steps, start, dict(c), build_wandb_spec(c), enabled=rank == 0
    )

    # --- loop
    save_every, keep_last = int(t.get("save_every") or 0), t.get("keep_last")
    export_dtype = t.get("export_dtype")
    for step in range(start + 1, max_steps + 1):
        began = time.perf_counter()
        batches = [next(loader) for _ in range(accumulation)]
        lr = engine.get_lr()[0]
        stats = rerank_step(engine, reranker, batches, spec)
        seconds = time.perf_counter() - began
        groups = sum_over_ranks(sum(s.groups for s in stats))
        metrics = {
            "loss": mean_over_ranks(sum(s.loss for s in stats) / len(stats)),
            "lr": lr,
            "tokens_per_s": sum_over_ranks(sum(s.tokens for s in stats)) / seconds,
            "pairs_per_s": sum_over_ranks(sum(s.pairs for s in stats)) / seconds,
            "group_accuracy": sum_over_ranks(sum(s.correct for s in stats)) / max(1, groups),
            "epoch": loader.epoch,
            "step_seconds": seconds,
        }
        if (grad_norm := engine.get_global_grad_norm()) is not None:
            metrics["grad_norm"] = float(grad_norm)
        monitor.log(step, metrics)
        if save_every and step % save_every == 0:
            save_checkpoint(
                engine,
                reranker,
                output_dir,
                step,
                {"data": loader.state_dict()},
                keep_last,
                export_dtype,
                export=export_reranker,
            )
        _kill_if_asked(step)

    # --- export
    final = export_reranker(engine, reranker, output_dir / "final", export_dtype)
    barrier()
    monitor.close()
    return final
