"""The reranker's AdamW: train/'s rules (no decay on biases and norms) plus a learning-rate multiplier for the
parameters the checkpoint did not have (a fresh cross-encoder head: ``classifier``, ``pooler``), which otherwise
learn at the backbone's fine-tuning rate and leave the loss flat for the first hundreds of steps."""

from __future__ import annotations

import torch

from embed.rerank import Reranker
from train.optim import OptimSpec


def _plain_name(name: str) -> str:
    """A parameter name without the ``model.`` prefix and peft's wrappers."""
    name = name.removeprefix("model.").removeprefix("base_model.model.")
    return name.replace(".modules_to_save.default.", ".")


def param_groups(reranker: Reranker, spec: OptimSpec, head_lr_scale: float = 1.0) -> list[dict]:
    """Trainable parameters in up to four groups: (fresh head or backbone) x (decayed matrices or not)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in reranker.named_parameters():
        if p.requires_grad:
            fresh = _plain_name(name) in reranker.fresh_parameters
            groups.setdefault((fresh, p.dim() >= 2), []).append(p)
    return [
        {
            "params": params,
            "weight_decay": spec.weight_decay if decay else 0.0,
            "lr": spec.lr * (head_lr_scale if fresh else 1.0),
        }
        for (fresh, decay), params in sorted(groups.items())
    ]


def build_rerank_optimizer(
    reranker: Reranker, spec: OptimSpec, head_lr_scale: float = 1.0
) -> torch.optim.Optimizer:
    """torch AdamW over the trainable parameters (the schedule scales every group's own learning rate)."""
    if head_lr_scale <= 0:
        raise ValueError(f"reranker.head_lr_scale must be > 0, got {head_lr_scale}")
    groups = param_groups(reranker, spec, head_lr_scale)
    if not groups:
        raise ValueError("the reranker has no trainable parameters")
    return torch.optim.AdamW(groups, lr=spec.lr, betas=tuple(spec.betas), eps=spec.eps, fused=spec.fused)
