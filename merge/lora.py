"""Fold a PEFT LoRA adapter into its base model while streaming: a merged tensor's rows are the base rows plus
the matching rows of the low-rank update, as ``peft``'s ``merge_and_unload`` computes them.

Linear: ``W' = W + s * B @ A`` (``fan_in_fan_out``: ``W + s * (B @ A)^T``); Embedding: ``W' = W + s * (B @ A)^T``
with ``s = alpha / r`` (``alpha / sqrt(r)`` with rsLoRA; ``rank_pattern`` / ``alpha_pattern`` per module).
``modules_to_save`` tensors replace the base's. DoRA and non-LoRA adapters are refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

from merge.checkpoint import Checkpoint, open_checkpoint
from merge.errors import MergeError

_PREFIX = "base_model.model."
_LORA = re.compile(r"^(?P<module>.+)\.(?P<kind>lora_(?:embedding_)?[AB])(?:\.weight)?$")


def _pattern_value(patterns: dict, module: str, default):
    for key, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


@dataclass
class LowRankUpdate:
    """``s * B @ A`` for one weight; ``transposed`` for Embedding / Conv1D layouts."""

    a: torch.Tensor  # (r, in) or, transposed, (r, rows)
    b: torch.Tensor  # (out, r) or, transposed, (cols, r)
    scale: float
    transposed: bool

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of the update (float32)."""
        if self.transposed:
            return self.scale * (self.a[:, start:stop].T @ self.b.T)
        return self.scale * (self.b[start:stop] @ self.a)


@dataclass
class Replacement:
    """A ``modules_to_save`` tensor that replaces the base's."""

    adapter: Checkpoint
    name: str


def _base_name(module_path: str, suffix: str, base: Checkpoint) -> str | None:
    names = set(base.names())
    for cand in (module_path, f"model.{module_path}", module_path.removeprefix("model.")):
        if f"{cand}{suffix}" in names:
            return f"{cand}{suffix}"
    return None


def check_adapter_config(cfg: dict, where) -> None:
    """Refuse adapters this module cannot fold (non-LoRA, DoRA)."""
    if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
        raise MergeError(f"{where}: only LoRA adapters can be folded (peft_type {cfg.get('peft_type')!r})")
    if cfg.get("use_dora"):
        raise MergeError(f"{where}: DoRA adapters are not supported; merge them with peft first")


def fold(adapter: Checkpoint, base: Checkpoint) -> Checkpoint:
    """``base`` seen through ``adapter``: a Checkpoint whose reads return the merged weights."""
    cfg = adapter.config
    check_adapter_config(cfg, adapter.path)
    parts: dict[str, dict[str, str]] = {}
    patches: dict[str, LowRankUpdate | Replacement] = {}
    problems = []
    for key in adapter.names():
        local = key.removeprefix(_PREFIX)
        if "lora_magnitude_vector" in local:
            raise MergeError(f"{adapter.path}: DoRA magnitude vectors found; DoRA is not supported")
        m = _LORA.match(local)
        if m:
            parts.setdefault(m["module"], {})[m["kind"]] = key
            continue
        local = re.sub(r"\.(modules_to_save(\.[^.]+)?|base_layer)(?=\.[^.]+$)", "", local)
        target = _base_name(local[: local.rfind(".")], local[local.rfind(".") :], base)
        if target is None:
            problems.append(f"adapter tensor {key!r} matches no base tensor")
        else:
            patches[target] = Replacement(adapter, key)
    for module, kinds in parts.items():
        embedding = "lora_embedding_A" in kinds or "lora_embedding_B" in kinds
        ka, kb = ("lora_embedding_A", "lora_embedding_B") if embedding else ("lora_A", "lora_B")
        if ka not in kinds or kb not in kinds:
            problems.append(f"adapter module {module!r} lacks {ka if ka not in kinds else kb}")
            continue
        target = _base_name(module, ".weight", base)
        if target is None:
            problems.append(f"adapter module {module!r} matches no base weight")
            continue
        a = adapter.read(kinds[ka]).float()
        b = adapter.read(kinds[kb]).float()
        r = a.shape[0]
        alpha = _pattern_value(cfg.get("alpha_pattern"), module, cfg.get("lora_alpha", 8))
        scale = alpha / (math.sqrt(r) if cfg.get("use_rslora") else r)
        transposed = embedding or bool(cfg.get("fan_in_fan_out"))
        update = LowRankUpdate(a, b, scale, transposed)
        out_shape = (a.shape[1], b.shape[0]) if transposed else (b.shape[0], a.shape[1])
        if tuple(base.spec(target).shape) != out_shape:
            problems.append(f"{target}: base shape {base.spec(target).shape} but the update is {out_shape}")
            continue
        patches[target] = (
            (patches[target], update) if isinstance(patches.get(target), Replacement) else update
        )
    if problems:
        raise MergeError(f"cannot fold adapter {adapter.path} into {base.path}: " + "; ".join(problems))
    return FoldedCheckpoint.wrap(base, adapter, patches)


@dataclass
class FoldedCheckpoint(Checkpoint):
    """A base Checkpoint whose reads add the adapter's updates (files and layout are the base's)."""

    adapter: Checkpoint | None = None
    patches: dict = None  # name -> LowRankUpdate | Replacement | (Replacement, LowRankUpdate)

    @classmethod
    def wrap(cls, base: Checkpoint, adapter: Checkpoint, patches: dict) -> FoldedCheckpoint:
        """Build from an opened base and adapter."""
        fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
        return cls(**fields, adapter=adapter, patches=patches)

    def read(self, name: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Base rows plus the adapter's update (float32 where patched)."""
        patch = self.patches.get(name)
        replaced, update = patch if isinstance(patch, tuple) else (None, patch)
        if isinstance(update, Replacement):
            replaced, update = update, None
        if replaced is not None:
            rows = replaced.adapter.read(replaced.name, start, stop)
        else:
            rows = super().read(name, start, stop)
        if update is None:
            return rows
        stop = rows.shape[0] + start
        return rows.float() + update.rows(start, stop)

    def close(self) -> None:
        """Close the base's and the adapter's files."""
        super().close()
        if self.adapter is not None:
            self.adapter.close()


def open_folded(adapter_path, base_path=None, *, allow_pickle: bool = False) -> Checkpoint:
    """Open an adapter folder and its base (``base_path`` or the adapter's ``base_model_name_or_path``), folded."""
    adapter = open_checkpoint(adapter_path, allow_pickle=allow_pickle)
    base_ref = base_path or adapter.config.get("base_model_name_or_path")
    if not base_ref:
        adapter.close()
        raise MergeError(f"{adapter.path}: adapter names no base model; set lora_base")
    try:
        base = open_checkpoint(base_ref, allow_pickle=allow_pickle)
    except BaseException:
        adapter.close()
        raise
    try:
        return fold(adapter, base)
    except BaseException:
        adapter.close()
        base.close()
        raise


__all__ = ["FoldedCheckpoint", "LowRankUpdate", "fold", "open_folded"]
