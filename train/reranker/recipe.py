"""The reranker training recipe: build the reranker, its data stream, loss and DeepSpeed engine, then the
embedding trainer's loop (train/loop.py: resume, step/log/checkpoint, export) with the reranker's step and export.

Run it with ``python -m train.reranker`` (Hydra, conf/rerank/train.yaml) under ``deepspeed``/``torchrun`` or
plainly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from train.builders import build_engine_spec, build_optim_spec
from train.engine import deepspeed_config, initialize_engine
from train.loop import StepReport, run_loop
from train.model_setup import trainable_parameters
from train.optim import build_scheduler
from train.reranker.builders import build_loss_spec, build_rerank_loader, build_reranker
from train.reranker.export import export_reranker
from train.reranker.optim import build_rerank_optimizer
from train.reranker.step import rerank_step
from train.runtime import init_distributed, mean_over_ranks, seed_everything, sum_over_ranks

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

    def step() -> StepReport:
        batches = [next(loader) for _ in range(accumulation)]
        stats = rerank_step(engine, reranker, batches, spec)
        groups = sum_over_ranks(sum(s.groups for s in stats))
        metrics = {
            "loss": mean_over_ranks(sum(s.loss for s in stats) / len(stats)),
            "group_accuracy": sum_over_ranks(sum(s.correct for s in stats)) / max(1, groups),
        }
        counts = {
            "tokens": sum_over_ranks(sum(s.tokens for s in stats)),
            "pairs": sum_over_ranks(sum(s.pairs for s in stats)),
        }
        return StepReport(metrics, counts)

    return run_loop(c, engine, reranker, loader, step, export_reranker, rank)
