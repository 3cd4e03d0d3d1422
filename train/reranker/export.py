"""Export the training reranker as a plain reranker folder (``embed.rerank.Reranker.save``) from any engine
state: ZeRO-3 partitions gathered, LoRA adapters merged (``modules_to_save`` heads included), tied embeddings
kept tied. A collective: every rank calls, rank 0 writes (the same scheme as :mod:`train.export`)."""

from __future__ import annotations

from pathlib import Path

import torch

from embed.rerank import Reranker
from train.export import export_module, merged_backbone, state_dtype


def plain_reranker(
    reranker: Reranker, state: dict[str, torch.Tensor], dtype: torch.dtype | None = None
) -> Reranker:
    """A CPU Reranker with ``state`` loaded into a fresh backbone, adapters merged, in ``dtype``."""
    hf = merged_backbone(reranker.model, state, "reranker export")
    return Reranker(hf.to(dtype or state_dtype(state)).eval(), reranker.tokenizer, reranker.config)


def export_reranker(engine, reranker: Reranker, path: str | Path, dtype: str | None = None) -> Path:
    """Write ``reranker`` (the engine's module) to ``path``; every rank calls."""
    return export_module(engine, reranker, path, dtype, plain_reranker)
