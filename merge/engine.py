"""Run a merge recipe: open and check every input, then stream tensor by tensor into an atomic output folder.

Peak memory is a few row chunks per input (``chunk_elements``), whatever the tensor sizes: methods get the
inputs' Gram matrices (one streaming pass) or thresholds, and the output is written chunk by chunk. A tensor whose
inputs are bit-identical comes back bit-identical; tied tensors are written once and copied; non-float tensors
(position ids) are copied from the reference input.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from embed.atomic import atomic_dir
from merge import params as P
from merge.checkpoint import Checkpoint, is_adapter, open_checkpoint, resolve
from merge.checks import check_compatible
from merge.errors import MergeError
from merge.files import copy_support_files, set_config_dtype, write_card
from merge.lora import open_folded
from merge.memory import release_large_buffers
from merge.methods.base import get_method
from merge.recipe import MergeRecipe
from merge.shard_writer import ShardedWriter, parse_size
from merge.tensor_file import TensorSpec
from merge.tensor_inputs import TensorInputs
from merge.tied import tied_pairs

log = logging.getLogger(__name__)
_TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class MergeResult:
    """Where the merge went and what it cost."""

    out: Path
    tensors: int
    nbytes: int
    seconds: float
    inputs: list[str]


@dataclass
class _Inputs:
    ckpts: list[Checkpoint]
    labels: list[str]
    has_base: bool
    per_model: list[dict]  # parameters of each non-base model


def _order(recipe: MergeRecipe, method) -> tuple[list[tuple[str, dict, str | None]], bool]:
    """(model, own parameters, lora_base) of each input, base first when the method uses one."""
    entries = [(m.model, m.parameters, m.lora_base) for m in recipe.models]
    if recipe.base_model is None:
        return entries, False
    if method.base == "none":
        if method.name != "slerp":
            raise MergeError(f"{method.name} takes no base_model")
        base = resolve(recipe.base_model).resolve()
        idx = [i for i, e in enumerate(entries) if resolve(e[0]).resolve() == base]
        if not idx:
            raise MergeError("slerp: base_model must be one of the two models (it is the t=0 side)")
        entries.insert(0, entries.pop(idx[0]))
        return entries, False
    return [(recipe.base_model, {}, None), *entries], True


def open_inputs(recipe: MergeRecipe) -> _Inputs:
    """Open every input (LoRA adapters folded into their base unless ``lora: adapter``); all errors at once."""
    method = get_method(recipe.method)
    entries, has_base = _order(recipe, method)
    method.check(len(entries) - has_base, has_base)
    ckpts: list[Checkpoint] = []
    errors: list[str] = []
    for model, _, lora_base in entries:
        try:
            path = resolve(model)
            if is_adapter(path) and recipe.lora == "fold":
                ckpts.append(
                    open_folded(path, lora_base or recipe.lora_base, allow_pickle=recipe.allow_pickle)
                )
            else:
                ckpts.append(open_checkpoint(path, allow_pickle=recipe.allow_pickle))
        except MergeError as err:
            errors.append(str(err))
    if errors:
        for c in ckpts:
            c.close()
        raise MergeError("cannot open the inputs:\n" + "\n".join(f"  - {e}" for e in errors))
    if recipe.lora == "adapter" and any(c.kind != "adapter" for c in ckpts):
        for c in ckpts:
            c.close()
        raise MergeError(
            "lora: adapter merges adapter tensors directly: every input must be a LoRA adapter folder"
        )
    labels = [("base " if has_base and i == 0 else "") + str(e[0]) for i, e in enumerate(entries)]
    per_model = [e[1] for e in entries[1 if has_base else 0 :]]
    return _Inputs(ckpts, labels, has_base, per_model)


def validate(recipe: MergeRecipe | Mapping[str, Any]) -> MergeRecipe:
    """Check a recipe without reading any weights: method, parameter names, number of models, base model."""
    if not isinstance(recipe, MergeRecipe):
        recipe = MergeRecipe.from_mapping(recipe)
    method = get_method(recipe.method)
    entries, has_base = _order(recipe, method)
    method.check(len(entries) - has_base, has_base)
    spec = method.param_spec()
    unknown = set(recipe.parameters) - set(spec)
    for m in recipe.models:
        unknown |= set(m.parameters) - set(spec)
    if unknown:
        raise MergeError(f"{method.name} has no parameter(s) {sorted(unknown)}; it takes {sorted(spec)}")
    return recipe


def _tokenizer_source(recipe: MergeRecipe, inp: _Inputs) -> tuple[Checkpoint, bool]:
    """The checkpoint whose files are copied, and whether it was opened just for that."""
    src = recipe.tokenizer_source
    if src is None or src == "base" and inp.has_base:
        return inp.ckpts[0], False
    if src == "base":
        raise MergeError("tokenizer_source: base, but the recipe has no base_model")
    if src == "first":
        return inp.ckpts[1 if inp.has_base else 0], False
    if isinstance(src, int) or str(src).isdigit():
        i = int(src)
        if not 0 <= i < len(recipe.models):
            raise MergeError(f"tokenizer_source {i} is not an index of models (0..{len(recipe.models) - 1})")
        return inp.ckpts[i + inp.has_base], False
    return open_checkpoint(src, allow_pickle=recipe.allow_pickle), True


def _resolve_params(method, names: list[str], recipe: MergeRecipe, inp: _Inputs) -> dict[str, dict[str, Any]]:
    spec = method.param_spec()
    unknown = sorted(set(recipe.parameters) - set(spec))
    for own in inp.per_model:
        unknown += sorted(set(own) - set(spec))
    if unknown:
        raise MergeError(f"{method.name} has no parameter(s) {sorted(set(unknown))}; it takes {sorted(spec)}")
    n_layers = P.layer_count(names)
    return {n: P.resolve(n, P.depth(n, n_layers), recipe.parameters, inp.per_model, spec) for n in names}


def _origin(c: Checkpoint) -> str:
    adapter = getattr(c, "adapter", None)
    return f"{adapter.path} (LoRA folded into {c.path})" if adapter is not None else str(c.path)


def _write_tensor(name, local, inp: _Inputs, method, p, writer: ShardedWriter, dtype, chunk: int) -> None:
    ref = inp.ckpts[0]
    spec = ref.spec(name)
    if not spec.dtype.is_floating_point:
        tin = TensorInputs(name, [ref], chunk)
        for start, stop in tin.ranges:
            writer.write(local, ref.read(name, start, stop))
        return
    tin = TensorInputs(name, inp.ckpts, chunk)
    kernel = method.plan(tin, p, inp.has_base)
    for chunks in tin.chunks():
        if kernel.fixed_point and all(torch.equal(chunks[0], c) for c in chunks[1:]):
            out = chunks[0]
        else:
            out = kernel(chunks)
        writer.write(local, out.to(dtype))
    tin.release()


def run(recipe: MergeRecipe | Mapping[str, Any]) -> MergeResult:
    """Merge as ``recipe`` says; returns the output folder and what it cost. Nothing is written on error."""
    if not isinstance(recipe, MergeRecipe):
        recipe = MergeRecipe.from_mapping(recipe)
    started = time.perf_counter()
    release_large_buffers()
    method = get_method(recipe.method)
    out = Path(recipe.out).expanduser()
    if out.exists() and not recipe.overwrite:
        raise MergeError(f"{out} exists; choose another out or set overwrite=true")
    inp = open_inputs(recipe)
    extra: Checkpoint | None = None
    try:
        check_compatible(inp.ckpts, inp.labels)
        ref = inp.ckpts[0]
        names = ref.names()
        params = _resolve_params(method, names, recipe, inp)
        source, opened = _tokenizer_source(recipe, inp)
        extra = source if opened else None
        ties = tied_pairs(ref.config, set(names)) if ref.kind == "model" else {}
        out_dtype = _TORCH_DTYPES.get(recipe.dtype) if recipe.dtype else None
        modules: dict[str, list[tuple[str, str, TensorSpec]]] = {}
        for name in sorted(names, key=lambda n: n in ties):  # tied aliases after their targets
            spec = ref.spec(name)
            dtype = out_dtype if out_dtype is not None and spec.dtype.is_floating_point else spec.dtype
            module = ref.module_of(name) if ref.kind == "model" else ""
            local = name.split("/", 1)[1] if "/" in name else name
            modules.setdefault(module, []).append((name, local, TensorSpec(dtype, spec.shape)))
        log.info(
            "merging %d tensors of %d inputs with %s into %s", len(names), len(inp.ckpts), method.name, out
        )
        nbytes = 0
        prefix = "adapter_model" if ref.kind == "adapter" else "model"
        with atomic_dir(out) as tmp:
            copy_support_files(source, tmp)
            for module, items in modules.items():
                writer = ShardedWriter(
                    tmp / module,
                    [(local, spec) for _, local, spec in items],
                    max_shard_bytes=parse_size(recipe.max_shard_size),
                    prefix=prefix,
                )
                local_of = {name: local for name, local, _ in items}
                for i, (name, local, spec) in enumerate(items, 1):
                    if name in ties:
                        writer.copy(local, local_of[ties[name]])
                    else:
                        _write_tensor(
                            name, local, inp, method, params[name], writer, spec.dtype, recipe.chunk_elements
                        )
                    nbytes += spec.nbytes
                    if i % 50 == 0:
                        log.info("  %s: %d/%d tensors", module or "model", i, len(items))
                writer.close()
            if recipe.dtype and ref.kind == "model":
                set_config_dtype(tmp / ref.transformer_dir / "config.json", recipe.dtype)
            text = yaml.safe_dump(recipe.to_mapping(), sort_keys=False, allow_unicode=True)
            (tmp / "merge_recipe.yaml").write_text(text, encoding="utf-8")
            write_card(tmp, text, [_origin(c) for c in inp.ckpts], str(source.path))
    finally:
        for c in inp.ckpts:
            c.close()
        if extra is not None:
            extra.close()
    seconds = time.perf_counter() - started
    log.info("merged %s in %.1fs", out, seconds)
    return MergeResult(out, len(names), nbytes, seconds, inp.labels)
