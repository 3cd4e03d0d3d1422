"""Compatibility checks run before any tensor is read: one error that lists every mismatch."""

from __future__ import annotations

from collections.abc import Sequence

from merge.checkpoint import Checkpoint
from merge.errors import IncompatibleCheckpoints
from merge.tied import text_config, tied_pairs, ties_embeddings

_SHOW = 8


def _few(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:_SHOW])
    return shown + (f", ... ({len(names) - _SHOW} more)" if len(names) > _SHOW else "")


def _arch(c: Checkpoint) -> dict:
    if c.kind == "adapter":
        return {
            "peft_type": c.config.get("peft_type"),
            "lora_alpha": c.config.get("lora_alpha"),
            "use_rslora": bool(c.config.get("use_rslora")),
            "fan_in_fan_out": bool(c.config.get("fan_in_fan_out")),
        }
    tc = text_config(c.config)
    return {
        "model_type": c.config.get("model_type"),
        "architectures": c.config.get("architectures"),
        "tie_word_embeddings": ties_embeddings(c.config),
        "num_hidden_layers": tc.get("num_hidden_layers"),
        "sentence-transformers modules": [str(m.get("type", "")).rsplit(".", 1)[-1] for m in c.modules],
        "pooling": c.pooling,
    }


def compatibility_problems(ckpts: Sequence[Checkpoint], labels: Sequence[str]) -> list[str]:
    """Every way ``ckpts[1:]`` differ from ``ckpts[0]``: kind, architecture, tensor names, shapes, ties."""
    problems: list[str] = []
    ref, ref_label = ckpts[0], labels[0]
    ref_arch = _arch(ref)
    ref_specs = ref.specs
    ref_ties = tied_pairs(ref.config, set(ref_specs)) if ref.kind == "model" else {}
    for c, label in zip(ckpts[1:], labels[1:]):
        if c.kind != ref.kind:
            problems.append(f"{label} is a {c.kind} but {ref_label} is a {ref.kind}")
            continue
        arch = _arch(c)
        for key, value in ref_arch.items():
            if arch.get(key) != value:
                problems.append(f"{label}: {key} {arch.get(key)!r} differs from {ref_label}'s {value!r}")
        specs = c.specs
        missing = [n for n in ref_specs if n not in specs]
        extra = [n for n in specs if n not in ref_specs]
        if missing:
            problems.append(f"{label} lacks {len(missing)} tensor(s) that {ref_label} has: {_few(missing)}")
        if extra:
            problems.append(f"{label} has {len(extra)} tensor(s) that {ref_label} lacks: {_few(extra)}")
        for name, spec in ref_specs.items():
            other = specs.get(name)
            if other is not None and other.shape != spec.shape:
                problems.append(
                    f"{name}: shape {list(other.shape)} in {label} but {list(spec.shape)} in {ref_label}"
                )
            elif other is not None and other.dtype.is_floating_point != spec.dtype.is_floating_point:
                problems.append(f"{name}: dtype {other.dtype} in {label} but {spec.dtype} in {ref_label}")
        if c.kind == "model":
            ties = tied_pairs(c.config, set(specs))
            if ties != ref_ties:
                problems.append(
                    f"{label}: tied tensors {ties or 'none'} differ from {ref_label}'s {ref_ties or 'none'}"
                )
    return problems


def check_compatible(ckpts: Sequence[Checkpoint], labels: Sequence[str]) -> None:
    """Raise IncompatibleCheckpoints listing every mismatch between the inputs."""
    problems = compatibility_problems(ckpts, labels)
    if problems:
        raise IncompatibleCheckpoints(problems)
