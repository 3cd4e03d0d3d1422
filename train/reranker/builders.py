"""Builders of the reranker trainer, from the resolved run config (conf/rerank/train.yaml); data, optimizer,
engine and wandb settings go through train/'s own builders, so the keys mean the same in both trainers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embed.rerank import Reranker
from train.builders import build_finetune_spec, build_loader, dataset_specs
from train.data import PromptFormatter, TrainLoader
from train.reranker.losses import RerankLossSpec
from train.reranker.model_setup import apply_reranker_finetune, load_reranker


def build_reranker(c: Mapping[str, Any]) -> Reranker:
    """The reranker of the ``model`` preset, set up for ``finetune``."""
    f = c["finetune"]
    reranker = load_reranker(c["model"], dtype=c.get("model_kwargs", {}).get("dtype") or "float32")
    return apply_reranker_finetune(reranker, build_finetune_spec(c), int(f.get("freeze_layers") or 0))


def build_rerank_formatter(c: Mapping[str, Any], reranker: Reranker) -> PromptFormatter:
    """Causal LM: the template's ``<Instruct>: {instruction}<sep><Query>: `` and ``<Document>: `` fields (record >
    dataset > ``data.default_instruction``); cross-encoder: the raw texts."""
    default = c["data"]["default_instruction"]
    if reranker.template is None:
        return PromptFormatter("", "", default)
    return PromptFormatter(reranker.template.query_template, reranker.template.document_prompt, default)


def build_rerank_loader(c: Mapping[str, Any], reranker: Reranker, rank: int, world_size: int) -> TrainLoader:
    """train/'s mixture stream of groups (query, positive, ``hard_negatives_k`` negatives) in reranker format."""
    k = int(c["data"].get("hard_negatives_k", 0))
    if k < 1:
        raise ValueError(f"data.hard_negatives_k must be >= 1 for a reranker (negatives per group), got {k}")
    symmetric = [s.name or str(s.path) for s in dataset_specs(c) if s.symmetric]
    if symmetric:
        raise ValueError(f"symmetric datasets have no meaning for a reranker: {symmetric}")
    return build_loader(c, build_rerank_formatter(c, reranker), rank, world_size)


def build_loss_spec(c: Mapping[str, Any]) -> RerankLossSpec:
    """The ``reranker`` section: objective, loss, temperature."""
    r = c.get("reranker") or {}
    return RerankLossSpec(
        objective=r.get("objective", "pointwise"),
        loss=r.get("loss", "two_way"),
        temperature=float(r.get("temperature", 1.0)),
    )
