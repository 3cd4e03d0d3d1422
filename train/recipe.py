"""The training recipe: build the model, data stream, objective and DeepSpeed engine, then train.loop's resume,
step/log/checkpoint loop and export.

Run it with ``python -m train`` (Hydra, conf/train/config.yaml) under ``deepspeed``/``torchrun`` or plainly.
"""

from __future__ import annotations

import logging
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
)
from train.engine import deepspeed_config, initialize_engine
from train.export import export_model
from train.loop import StepReport, run_loop
from train.model_setup import trainable_parameters
from train.optim import build_optimizer, build_scheduler
from train.runtime import init_distributed, mean_over_ranks, seed_everything, sum_over_ranks
from train.step import engine_micro_steps, train_step

log = logging.getLogger(__name__)


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

    def step() -> StepReport:
        batches = [next(loader) for _ in range(step_config.accumulation)]
        stats = train_step(engine, model, batches, step_config, objective)
        loss = mean_over_ranks(sum(s.loss for s in stats) / len(stats))
        return StepReport({"loss": loss}, {"tokens": sum_over_ranks(sum(s.tokens for s in stats))})

    return run_loop(c, engine, model, loader, step, export_model, rank)
