"""Export the training model as a plain sentence-transformers folder (embed.EmbeddingModel.save) from any
engine state: ZeRO-3 partitions gathered layer by layer, LoRA adapters merged, tied embeddings kept tied.

A collective: every rank must call :func:`export_model`; rank 0 writes. With full fine-tuning below ZeRO-3
the module is saved as is; otherwise rank 0 rebuilds a CPU copy of the backbone from its config, loads the
gathered state dict (``engine._zero3_consolidated_16bit_state_dict`` under ZeRO-3: despite its name it keeps
the parameters' dtype), merges the adapters and saves with ``save_pretrained`` — no ``zero_to_fp32
--safe_serialization``, which fails on tied embeddings (environment.md §3).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch

from embed import EmbeddingModel
from embed.dense import Dense
from embed.model import resolve_dtype
from train.model_setup import is_lora
from train.runtime import current_rank


def gathered_state_dict(engine) -> dict[str, torch.Tensor] | None:
    """The module's full state dict on CPU at rank 0 (``None`` elsewhere); a collective under ZeRO-3."""
    if engine.zero_optimization_partition_weights():
        return engine._zero3_consolidated_16bit_state_dict()
    if current_rank() != 0:
        return None
    return {k: v.detach().cpu().clone() for k, v in engine.module.state_dict().items()}


def merged_backbone(backbone: torch.nn.Module, state: dict[str, torch.Tensor], what: str = "export"):
    """A fresh CPU copy of ``backbone`` (a transformers model, peft-wrapped or not) holding the ``model.``
    entries of ``state``, adapters merged; tied weights stay tied. RuntimeError on any key mismatch."""
    from transformers.initialization import no_init_weights

    lora = hasattr(backbone, "peft_config")
    base = backbone.get_base_model() if lora else backbone
    with no_init_weights():
        hf = type(base)(copy.deepcopy(base.config))
    hf.tie_weights()  # a fresh causal LM is built untied (transformers 5 ties in from_pretrained)
    if getattr(base, "pooler", False) is None:  # removed at load (embed.model: absent from the checkpoint)
        hf.pooler = None
    if lora:
        from peft import get_peft_model

        hf = get_peft_model(hf, copy.deepcopy(backbone.peft_config["default"]))
    hf_state = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    missing, unexpected = hf.load_state_dict(hf_state, strict=False)
    missing = [k for k in missing if k not in tied_keys(hf)]
    if missing or unexpected:
        raise RuntimeError(
            f"{what}: state dict mismatch (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    return hf.merge_and_unload() if lora else hf


def plain_copy(
    model: EmbeddingModel, state: dict[str, torch.Tensor], dtype: torch.dtype | None = None
) -> EmbeddingModel:
    """A CPU EmbeddingModel with ``state`` loaded into a fresh backbone, adapters merged, in ``dtype``."""
    hf = merged_backbone(model.model, state)
    dense = []
    for i, layer in enumerate(model.dense):
        copy_ = Dense(
            layer.in_features, layer.out_features, layer.bias, layer.activation_name, layer.use_residual
        )
        prefix = f"dense.{i}."
        copy_.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        dense.append(copy_)
    dtype = dtype or state_dtype(state)
    shell = EmbeddingModel(
        hf.to(dtype),
        model.tokenizer,
        pooling=model.pooling,
        normalize=model.normalize,
        max_length=model.max_length,
        prompts=model.prompts,
        default_prompt_name=model.default_prompt_name,
        dense=[d.to(dtype) for d in dense],
        eos_token=model.eos_token,
        is_decoder=model.is_decoder,
        do_lower_case=model.do_lower_case,
    )
    return shell.eval()


def state_dtype(state: dict[str, torch.Tensor]) -> torch.dtype:
    """The dtype of the first floating tensor of ``state`` (float32 when none)."""
    return next((v.dtype for v in state.values() if v.is_floating_point()), torch.float32)


def tied_keys(module: torch.nn.Module) -> set[str]:
    """Parameter names that alias another parameter (tied weights appear once in a state dict)."""
    seen: dict[int, str] = {}
    tied = set()
    for name, p in module.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            tied.add(name)
        seen.setdefault(id(p), name)
    return tied


def export_module(engine, module, path: str | Path, dtype: str | None, plain: Callable) -> Path:
    """Write the engine's ``module`` to ``path`` with its own ``save``: as is when that is exact (full fine-tuning
    below ZeRO-3, own dtype), else ``plain(module, gathered_state, dtype).save`` on rank 0; every rank calls."""
    path = Path(path)
    torch_dtype = resolve_dtype(dtype, torch.device("cpu")) if dtype else None
    if not is_lora(module) and not engine.zero_optimization_partition_weights() and torch_dtype is None:
        if current_rank() == 0:
            module.save(path)
        return path
    state = gathered_state_dict(engine)
    if current_rank() == 0:
        plain(module, state, torch_dtype).save(path)
    return path


def export_model(engine, model: EmbeddingModel, path: str | Path, dtype: str | None = None) -> Path:
    """Write ``model`` (the engine's module) to ``path`` in the sentence-transformers layout; all ranks call."""
    return export_module(engine, model, path, dtype, plain_copy)
