"""The DeepSpeed engine: its config from ours (ZeRO 0-3, bf16, clipping, micro-steps) and its initialisation.

The optimizer is a torch AdamW handed to DeepSpeed (``zero_allow_untested_optimizer``), so no ``fused_adam``
op is compiled (environment.md §3); ``extra`` is merged last into the generated config for anything else
(offload, bucket sizes, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class EngineSpec:
    """DeepSpeed settings we expose; ``extra`` is deep-merged into the generated config."""

    zero_stage: int = 0
    bf16: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def _deep_merge(base: dict, extra: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def deepspeed_config(spec: EngineSpec, micro_batch: int, micro_steps: int, max_grad_norm: float) -> dict:
    """A DeepSpeed config: ``micro_steps`` engine micro-steps (backwards) per optimizer step."""
    if spec.zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {spec.zero_stage}")
    zero: dict[str, Any] = {"stage": spec.zero_stage}
    if spec.zero_stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = False  # we export through train.export
    config = {
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": micro_steps,
        "gradient_clipping": max_grad_norm if max_grad_norm and max_grad_norm > 0 else 0.0,
        "zero_optimization": zero,
        "bf16": {"enabled": bool(spec.bf16)},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 2**31 - 1,
        "wall_clock_breakdown": False,
    }
    return _deep_merge(config, spec.extra)


def initialize_engine(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config: dict,
):
    """``deepspeed.initialize`` on an initialised process group; returns the engine."""
    import deepspeed

    engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=scheduler, config=config
    )
    return engine
