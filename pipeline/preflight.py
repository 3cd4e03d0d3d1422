"""The preflight line ``python -m pipeline`` prints first: the hardware found, the dtype each stage will use (and
why), and the time the scale is expected to take on this kind of machine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embed.hardware import Hardware, choose_dtype, detect


def _nested(values: Mapping[str, Any], *keys: str) -> Any:
    """``values[k1][k2]...`` or the dotted key ``"k1.k2"`` (both spellings of a stage's ``set`` overrides)."""
    dotted = ".".join(keys)
    if dotted in values:
        return values[dotted]
    node: Any = values
    for k in keys:
        if not isinstance(node, Mapping) or k not in node:
            return None
        node = node[k]
    return node


def hardware_class(hw: Hardware) -> str:
    """``cuda``, ``cpu_native_bf16`` or ``cpu``: the key of a scale's ``expected_minutes``."""
    if hw.device == "cuda":
        return "cuda"
    return "cpu_native_bf16" if hw.native_bf16 else "cpu"


def preflight(
    cfg: Mapping[str, Any], hw: Hardware | None = None, bf16_ratio: float | None = None
) -> list[str]:
    """The preflight lines: hardware, the dtypes the stages will choose, the expected time of the scale."""
    hw = hw or detect()
    synth_req = _nested((cfg.get("synth") or {}).get("set") or {}, "engine", "dtype") or "auto"
    train_req = _nested((cfg.get("stage2") or {}).get("set") or {}, "deepspeed", "bf16")
    eval_req = _nested((cfg.get("eval") or {}).get("set") or {}, "model_kwargs", "dtype")
    synth = choose_dtype(synth_req, "generate", hw, bf16_ratio=bf16_ratio)
    if train_req is True:
        train = choose_dtype("bfloat16", "train", hw, bf16_ratio=bf16_ratio)
    elif train_req is False:
        train = choose_dtype("float32", "train", hw)
    else:
        train = choose_dtype("auto", "train", hw, bf16_ratio=bf16_ratio)
    ev = choose_dtype(eval_req, "evaluate", hw, bf16_ratio=bf16_ratio)
    enc = choose_dtype("auto", "encode", hw, bf16_ratio=bf16_ratio)
    lines = [
        f"preflight: {hw.describe()}",
        f"preflight: dtypes: synth vLLM {synth.name} ({synth.reason}); train {train.name} ({train.reason}); "
        f"synth filter/mining embeddings {enc.name} ({enc.reason}); eval {ev.name}",
    ]
    lines += [f"preflight: WARNING {c.warning}" for c in (synth, train) if c.warning]
    expected = (cfg.get("expected_minutes") or {}).get(hardware_class(hw))
    scale = cfg.get("scale_name", "?")
    if expected:
        lines.append(
            f"preflight: scale={scale}: expected ~{expected} min on this kind of machine "
            f"({hardware_class(hw)}, measured on 2 cores; you have {hw.cores})"
        )
    else:
        lines.append(f"preflight: scale={scale}: no measured time for {hardware_class(hw)} machines")
    return lines
