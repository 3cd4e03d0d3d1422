"""Export the training reranker as a plain reranker folder (``embed.rerank.Reranker.save``) from any engine
state: ZeRO-3 partitions gathered, LoRA adapters merged (``modules_to_save`` heads included), tied embeddings
kept tied. A collective: every rank calls, rank 0 writes (the same scheme as :mod:`train.export`)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from embed.model import resolve_dtype
from embed.rerank import Reranker
from train.export import _rank, _tied_keys, gathered_state_dict
from train.model_setup import is_lora


def plain_reranker(
    reranker: Reranker, state: dict[str, torch.Tensor], dtype: torch.dtype | None = None
) -> Reranker:
    """A CPU Reranker with ``state`` loaded into a fresh backbone, adapters merged, in ``dtype``."""
    from transformers.initialization import no_init_weights

    lora = is_lora(reranker)
    base = reranker.model.get_base_model() if lora else reranker.model
    with no_init_weights():
        hf = type(base)(copy.deepcopy(base.config))
    hf.tie_weights()  # a fresh causal LM is built untied (transformers 5 ties in from_pretrained)
    if lora:
        from peft import get_peft_model

        hf = get_peft_model(hf, copy.deepcopy(reranker.model.peft_config["default"]))
    hf_state = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    missing, unexpected = hf.load_state_dict(hf_state, strict=False)
    missing = [k for k in missing if k not in _tied_keys(hf)]
    if missing or unexpected:
        raise RuntimeError(
            f"reranker export: state dict mismatch (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    if lora:
        hf = hf.merge_and_unload()
    floating = [v.dtype for v in state.values() if v.is_floating_point()]
    dtype = dtype or (floating[0] if floating else torch.float32)
    return Reranker(hf.to(dtype).eval(), reranker.tokenizer, reranker.config)


def export_reranker(engine, reranker: Reranker, path: str | Path, dtype: str | None = None) -> Path:
    """Write ``reranker`` (the engine's module) to ``path``; every rank calls."""
    path = Path(path)
    torch_dtype = resolve_dtype(dtype, torch.device("cpu")) if dtype else None
    if not is_lora(reranker) and not engine.zero_optimization_partition_weights() and torch_dtype is None:
        if _rank() == 0:
            reranker.save(path)
        return path
    state = gathered_state_dict(engine)
    if _rank() == 0:
        plain_reranker(reranker, state, torch_dtype).save(path)
    return path
