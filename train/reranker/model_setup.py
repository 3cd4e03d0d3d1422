"""Build the trainable reranker: ``embed.rerank.Reranker`` loaded on the CPU, then full fine-tuning or LoRA
(peft ``CAUSAL_LM`` / ``SEQ_CLS``, whose fresh classifier head stays trainable), frozen input embeddings, frozen
bottom blocks (``freeze_layers``: no backward through them, the CPU saver) and gradient checkpointing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from embed.rerank import Reranker
from train.model_setup import FinetuneSpec, prepare_backbone

_BLOCK = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks)\.(\d+)\.")


def load_reranker(m: Mapping[str, Any], dtype: str = "float32") -> Reranker:
    """The reranker of a ``model`` preset (conf/rerank/model/*.yaml) on the CPU in train mode."""
    reranker = Reranker.load(
        m["path"],
        kind=m.get("kind"),
        device="cpu",
        dtype=dtype,
        max_length=m.get("max_length"),
        field_sep=m.get("field_sep"),
        instruction=m.get("instruction"),
        yes_token=m.get("yes_token"),
        no_token=m.get("no_token"),
    )
    return reranker.train()


def freeze_bottom_layers(reranker: Reranker, count: int) -> int:
    """Freeze transformer blocks ``0 .. count-1`` (names ``*.layers.N.*`` / ``*.layer.N.*``); returns how many
    parameters were frozen. ValueError when the model has no numbered blocks or fewer than ``count``."""
    if count <= 0:
        return 0
    params = [(name, p, _BLOCK.search(name)) for name, p in reranker.model.named_parameters()]
    blocks = {int(m.group(1)) for _, _, m in params if m}
    if not blocks:
        raise ValueError("finetune.freeze_layers: the model has no numbered transformer blocks")
    if count > len(blocks):
        raise ValueError(f"finetune.freeze_layers={count} but the model has only {len(blocks)} blocks")
    frozen = 0
    for _, p, m in params:
        if m and int(m.group(1)) < count:
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def apply_reranker_finetune(reranker: Reranker, spec: FinetuneSpec, freeze_layers: int = 0) -> Reranker:
    """Set up ``reranker`` for training in place (see the module docstring)."""
    freeze_bottom_layers(reranker, freeze_layers)
    task = "CAUSAL_LM" if reranker.kind == "causal_lm" else "SEQ_CLS"
    reranker.model = prepare_backbone(reranker.model, spec, task)
    return reranker.train()
