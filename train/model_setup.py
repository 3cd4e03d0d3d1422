"""Build the trainable embedding model: load through embed.EmbeddingModel, then LoRA (peft) or full fine-tuning,
optionally frozen input embeddings and gradient checkpointing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from embed import EmbeddingModel


@dataclass(frozen=True)
class LoraSpec:
    """peft LoRA settings (``target_modules: None`` = every linear layer of the backbone)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: Sequence[str] | None = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class FinetuneSpec:
    """What is trained and how activations are kept."""

    method: Literal["full", "lora"] = "full"
    lora: LoraSpec = field(default_factory=LoraSpec)
    freeze_input_embeddings: bool = False
    gradient_checkpointing: bool = False


def load_model(
    path: str | Path,
    *,
    pooling: str | None = None,
    normalize: bool | None = None,
    max_length: int | None = None,
    prompts: dict[str, str] | None = None,
    dtype: str = "float32",
    packing: str | bool = "auto",
) -> EmbeddingModel:
    """The embedding model on the CPU in train mode (DeepSpeed moves it to the accelerator); ``packing``:
    :mod:`embed.packing`."""
    model = EmbeddingModel.load(
        path,
        device="cpu",
        dtype=dtype,
        pooling=pooling,
        normalize=normalize,
        max_length=max_length,
        prompts=prompts,
        packing=packing,
    )
    return model.train()


def prepare_backbone(hf: torch.nn.Module, spec: FinetuneSpec, lora_task: str) -> torch.nn.Module:
    """Set up a transformers backbone for training: checkpointing, embedding freeze, then LoRA adapters (peft
    ``lora_task``, e.g. FEATURE_EXTRACTION) when ``spec.method`` is lora; returns the module to train."""
    if spec.method not in ("full", "lora"):
        raise ValueError(f"finetune method must be 'full' or 'lora', got {spec.method!r}")
    if spec.gradient_checkpointing:
        # non-reentrant: one backward per forward, so DeepSpeed's reduce hooks fire once per parameter
        hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if spec.freeze_input_embeddings:
        hf.get_input_embeddings().weight.requires_grad_(False)
    if spec.method == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            task_type=lora_task,
            r=spec.lora.r,
            lora_alpha=spec.lora.alpha,
            lora_dropout=spec.lora.dropout,
            target_modules=list(spec.lora.target_modules) if spec.lora.target_modules else "all-linear",
        )
        hf = get_peft_model(hf, config)
    return hf


def apply_finetune(model: EmbeddingModel, spec: FinetuneSpec) -> EmbeddingModel:
    """Set up ``model`` for training in place: checkpointing, embedding freeze, LoRA adapters."""
    model.model = prepare_backbone(model.model, spec, "FEATURE_EXTRACTION")
    return model.train()


def is_lora(model: EmbeddingModel) -> bool:
    """True when the backbone carries peft adapters."""
    return hasattr(model.model, "peft_config")


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total
