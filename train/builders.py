"""Builders: one small function per component, from the resolved run config (a plain dict, conf/train/)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from embed import EmbeddingModel
from embed.hardware import resolve as resolve_dtype
from train.data import (
    DatasetSpec,
    PromptFormatter,
    SamplingConfig,
    TrainLoader,
    load_datasets,
    template_from_prompt,
)
from train.engine import EngineSpec
from train.losses import InfoNCEConfig
from train.model_setup import FinetuneSpec, LoraSpec, apply_finetune, load_model
from train.monitor import WandbSpec
from train.objective import ObjectiveSpec
from train.optim import OptimSpec
from train.step import StepConfig

_INFONCE_FIELDS = (
    "temperature",
    "terms",
    "inbatch_docs",
    "dd_mask",
    "dup_mask",
    "dd_own_negatives",
    "mask_hard_negatives",
    "mask_margin",
)


def build_model(c: Mapping[str, Any]) -> EmbeddingModel:
    """The embedding model (``model`` preset) set up for ``finetune``."""
    m = c["model"]
    model = load_model(
        m["path"],
        pooling=m.get("pooling"),
        normalize=m.get("normalize"),
        max_length=m.get("max_length"),
        prompts=dict(m["prompts"]) if m.get("prompts") else None,
        dtype=c.get("model_kwargs", {}).get("dtype") or "float32",
        packing=(c.get("trainer") or {}).get("packing", "auto"),
    )
    return apply_finetune(model, build_finetune_spec(c))


def build_finetune_spec(c: Mapping[str, Any]) -> FinetuneSpec:
    """The ``finetune`` section: full or LoRA (r, alpha, dropout, targets), frozen embeddings, checkpointing."""
    f = c["finetune"]
    lora = f.get("lora") or {}
    return FinetuneSpec(
        method=f.get("method", "full"),
        lora=LoraSpec(
            r=lora.get("r", 16),
            alpha=lora.get("alpha", 32),
            dropout=lora.get("dropout", 0.0),
            target_modules=tuple(lora["target_modules"]) if lora.get("target_modules") else None,
        ),
        freeze_input_embeddings=bool(f.get("freeze_input_embeddings", False)),
        gradient_checkpointing=bool(f.get("gradient_checkpointing", False)),
    )


def build_formatter(c: Mapping[str, Any], model: EmbeddingModel) -> PromptFormatter:
    """Query template and document prompt: ``data`` settings, else derived from the model's prompts."""
    d = c["data"]
    prompts = model.prompts
    template = d.get("query_template")
    if template is None:
        template = template_from_prompt(prompts.get("query"))
    document = d.get("document_prompt")
    if document is None:
        document = prompts.get("document", prompts.get("passage", ""))
    return PromptFormatter(template, document, d["default_instruction"])


def dataset_specs(c: Mapping[str, Any]) -> list[DatasetSpec]:
    """The ``data.datasets`` entries."""
    entries = c["data"].get("datasets") or []
    if not entries:
        raise ValueError("no training data: set data.datasets=[{path: ..., weight: ...}, ...]")
    specs = []
    for e in entries:
        e = {"path": e} if isinstance(e, str) else dict(e)
        specs.append(
            DatasetSpec(
                path=e["path"],
                name=e.get("name"),
                format=e.get("format", "auto"),
                weight=float(e.get("weight", 1.0)),
                instruction=e.get("instruction"),
                symmetric=bool(e.get("symmetric", False)),
                split=e.get("split", "train"),
                negatives=e.get("negatives", "none"),
            )
        )
    return specs


def build_loader(c: Mapping[str, Any], formatter: PromptFormatter, rank: int, world_size: int) -> TrainLoader:
    """The mixture stream of this rank."""
    d = c["data"]
    specs = dataset_specs(c)
    sets = load_datasets(specs, d.get("on_error", "raise"))
    sampling = SamplingConfig(
        batch_size=int(d["batch_size"]),
        seed=int(c["seed"]),
        batch_by_dataset=bool(d.get("batch_by_dataset", True)),
        no_duplicates=bool(d.get("no_duplicates", True)),
    )
    return TrainLoader(
        sets,
        specs,
        sampling,
        formatter,
        hard_negatives_k=int(d.get("hard_negatives_k", 0)),
        missing_negatives=d.get("missing_negatives", "random"),
        rank=rank,
        world_size=world_size,
    )


def build_infonce(loss: Mapping[str, Any]) -> InfoNCEConfig:
    """The InfoNCE switches of the ``loss`` group (every field explicit in conf/train/loss/*.yaml)."""
    fields = {k: loss[k] for k in _INFONCE_FIELDS if k in loss}
    if "terms" in fields:
        fields["terms"] = tuple(fields["terms"])
    return InfoNCEConfig(**fields)


def build_objective(c: Mapping[str, Any]) -> ObjectiveSpec:
    """Loss switches, MRL and cross-device gathering."""
    loss = c["loss"]
    mrl = loss.get("mrl") or {}
    return ObjectiveSpec(
        infonce=build_infonce(loss),
        mrl_dims=tuple(mrl["dims"]) if mrl.get("dims") else None,
        mrl_weights=tuple(mrl["weights"]) if mrl.get("weights") else None,
        mrl_mask_from=mrl.get("mask_from", "full"),
        gather=bool(loss.get("gather", True)),
    )


def build_step_config(c: Mapping[str, Any]) -> StepConfig:
    """Lengths, GradCache and accumulation."""
    d, t = c["data"], c["trainer"]
    gc = t.get("grad_cache") or {}
    return StepConfig(
        max_query_length=d.get("max_query_length"),
        max_document_length=d.get("max_document_length"),
        grad_cache=bool(gc.get("enabled", False)),
        mini_batch_size=int(gc.get("mini_batch_size") or 32),
        accumulation=int(t.get("gradient_accumulation_steps", 1)),
    )


def build_optim_spec(c: Mapping[str, Any]) -> OptimSpec:
    """AdamW and schedule settings."""
    o = dict(c["optim"])
    if "betas" in o:
        o["betas"] = tuple(o["betas"])
    return OptimSpec(**o)


def build_engine_spec(c: Mapping[str, Any]) -> EngineSpec:
    """ZeRO stage, bf16 and raw DeepSpeed extras."""
    ds = c["deepspeed"]
    return EngineSpec(
        zero_stage=int(ds.get("zero_stage", 0)),
        bf16=train_bf16(ds.get("bf16", "auto")),
        extra=ds.get("extra") or {},
    )


def train_bf16(setting: Any) -> bool:
    """``deepspeed.bf16``: true/false as given (a pinned bf16 on a CPU without native bf16 warns), ``auto``:
    the hardware's training dtype (:func:`embed.hardware.choose_dtype`: bf16 on bf16 GPUs, fp32 on CPU)."""
    if isinstance(setting, bool):
        if setting:
            resolve_dtype("bfloat16", "train", who="train deepspeed.bf16")
        return setting
    if setting is None or str(setting).lower() == "auto":
        return resolve_dtype("auto", "train", who="train deepspeed.bf16").dtype == torch.bfloat16
    raise ValueError(f"deepspeed.bf16 must be true, false or auto, got {setting!r}")


def build_wandb_spec(c: Mapping[str, Any]) -> WandbSpec:
    """wandb settings."""
    w = c.get("wandb") or {}
    return WandbSpec(
        mode=w.get("mode"),
        project=w.get("project", "tsumugi"),
        entity=w.get("entity"),
        tags=tuple(w.get("tags") or ()),
    )
