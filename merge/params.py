"""Per-tensor parameter values from recipe settings, with mergekit's rules.

A setting is a scalar; a gradient (a list of numbers, interpolated piecewise linearly across the layers:
layer ``i`` of ``n`` sits at ``i / (n - 1)``; a list of booleans or strings picks ``values[int(pos * (len - 1))]``);
or a list of ``{filter, value}`` rules, the first rule whose ``filter`` is a substring of the tensor name (or is
absent / ``"*"``) giving the value. Tensors outside the layer stack (embeddings, final norm, heads) sit at 0,
as in mergekit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from merge.errors import MergeError

_LAYER = re.compile(r"(?:^|[./])(?:layers|layer|h|blocks|block)\.(\d+)\.")


def layer_index(name: str) -> int | None:
    """The transformer-block index in a tensor name (``model.layers.3.``, ``encoder.layer.3.``), else None."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def layer_count(names: Iterable[str]) -> int:
    """Number of transformer blocks seen in ``names`` (largest index + 1; 0 without blocks)."""
    found = [i for i in (layer_index(n) for n in names) if i is not None]
    return max(found) + 1 if found else 0


def depth(name: str, n_layers: int) -> float:
    """Position of ``name`` on the gradient axis: ``i / (n - 1)`` for block ``i``, 1 for a single block, 0 outside."""
    i = layer_index(name)
    if i is None:
        return 0.0
    return i / (n_layers - 1) if n_layers > 1 else 1.0


def _is_rule(x: Any) -> bool:
    return isinstance(x, Mapping) and "value" in x


def _scalar(x: Any) -> bool:
    return isinstance(x, int | float | bool | str)


def evaluate(setting: Any, name: str, pos: float) -> Any:
    """The value of ``setting`` for tensor ``name`` at gradient position ``pos`` (None when no rule matches)."""
    if setting is None or _scalar(setting):
        return setting
    if _is_rule(setting):
        setting = [setting]
    if not isinstance(setting, list | tuple):
        raise MergeError(f"cannot read parameter setting {setting!r}")
    if not setting:
        return None
    if all(_scalar(v) for v in setting):
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in setting)
        if not numeric:
            return setting[int(pos * (len(setting) - 1))]
        scaled = pos * (len(setting) - 1)
        i0 = int(scaled)
        i1 = min(len(setting) - 1, i0 + 1)
        frac = scaled - i0
        return (1 - frac) * setting[i0] + frac * setting[i1]
    for rule in setting:
        if not _is_rule(rule):
            raise MergeError(f"parameter list mixes values and rules: {setting!r}")
        flt = rule.get("filter")
        if flt is None or flt == "*" or flt in name:
            return evaluate(rule["value"], name, pos)
    return None


def resolve(
    name: str,
    pos: float,
    shared: Mapping[str, Any],
    per_model: list[Mapping[str, Any]],
    spec: Mapping[str, tuple[str, Any]],
) -> dict[str, Any]:
    """Values for one tensor: ``spec`` maps a parameter to (scope ``shared`` | ``model``, default or ``REQUIRED``).

    A ``model``-scope parameter becomes a list (one value per non-base model): the model's own setting, else
    the shared one, else the default.
    """
    out: dict[str, Any] = {}
    for param, (scope, default) in spec.items():
        if scope == "shared":
            value = evaluate(shared.get(param), name, pos)
            out[param] = _default(value, default, param, name)
        else:
            values = []
            for i, own in enumerate(per_model):
                setting = own.get(param, shared.get(param))
                values.append(_default(evaluate(setting, name, pos), default, param, name, i))
            out[param] = values
    return out


REQUIRED = object()


def _default(value: Any, default: Any, param: str, name: str, model: int | None = None) -> Any:
    if value is not None:
        return value
    if default is REQUIRED:
        where = f" of model {model}" if model is not None else ""
        raise MergeError(f"parameter {param!r}{where} has no value for tensor {name!r}")
    return default
