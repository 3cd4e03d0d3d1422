"""Build the trainable reranker: ``embed.rerank.Reranker`` loaded on the CPU, then full fine-tuning or LoRA
(peft ``CAUSAL_LM`` / ``SEQ_CLS``, whose fresh classifier head stays trainable), frozen input embeddings, frozen
bottom blocks (``freeze_layers``: no backward through them, the CPU saver) and gradient checkpointing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from embed.rerank import Reranker
from train.model_setup import FinetuneSpec

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
    if spec.method not in ("full", "lora"):
        raise ValueError(f"finetune method must be 'full' or 'lora', got {spec.method!r}")
    hf = reranker.model
    if spec.gradient_checkpointing:
        hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if spec.freeze_input_embeddings:
        hf.get_input_embeddings().weight.requires_grad_(False)
    freeze_bottom_layers(reranker, freeze_layers)
    if spec.method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        task = TaskType.CAUSAL_LM if reranker.kind == "causal_lm" else TaskType.SEQ_CLS
        config = LoraConfig(
            task_type=task,
            r=spec.lora.r,
            lora_alpha=spec.lora.alpha,
            lora_dropout=spec.lora.dropout,
            target_modules=list(spec.lora.target_modules) if spec.lora.target_modules else "all-linear",
        )
        reranker.model = get_peft_model(hf, config)
    reranker.train()
    return reranker
