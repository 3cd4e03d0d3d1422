"""Expand a search space (checkpoints x methods x parameter grids) into named merge recipes.

A grid entry::

    {method: slerp, models: all_pairs, grid: {t: [0.3, 0.5, 0.7]}, parameters: {...}}
    {method: karcher}                                   # models: all (default for methods taking > 2 models)
    {method: linear, models: [[0, 1], [0, 1, 2]], grid: {weights: [[1, 1], [2, 1]]}}
    {method: ties, grid: {density: [0.3, 0.5]}}         # base_model from the search config

``models``: ``all`` | ``all_pairs`` | ``adjacent_pairs`` | a list of index lists. ``grid`` values are alternatives
(their product is taken); ``weights`` alternatives are per-model weight vectors of the subset. ``parameters`` are
fixed for every candidate of the entry.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merge.errors import MergeError
from merge.methods.base import get_method


@dataclass
class Candidate:
    """One row of the search: a merge recipe (without ``out``), or an input checkpoint scored as it is."""

    name: str
    recipe: dict[str, Any] | None  # None: an input checkpoint
    model: str | None = None  # for inputs: the checkpoint


def checkpoint_labels(checkpoints: Sequence[str], labels: Sequence[str] | None = None) -> list[str]:
    """Short unique labels: the given ones, else the folder names (parent/name when names repeat)."""
    if labels:
        if len(labels) != len(checkpoints):
            raise MergeError(f"{len(labels)} labels for {len(checkpoints)} checkpoints")
        return [str(x) for x in labels]
    names = [Path(str(c)).name or str(c) for c in checkpoints]
    if len(set(names)) < len(names):
        names = [f"{Path(str(c)).parent.name}/{Path(str(c)).name}" for c in checkpoints]
    if len(set(names)) < len(names):
        names = [f"{i}:{n}" for i, n in enumerate(names)]
    return names


def _subsets(spec: Any, n: int, method_max: int | None) -> list[list[int]]:
    if spec is None:
        spec = "all_pairs" if method_max == 2 else "all"
    if spec == "all":
        return [list(range(n))]
    if spec == "all_pairs":
        return [list(p) for p in itertools.combinations(range(n), 2)]
    if spec == "adjacent_pairs":
        return [[i, i + 1] for i in range(n - 1)]
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        out = []
        for s in spec:
            idx = [int(i) for i in s]
            if any(not 0 <= i < n for i in idx):
                raise MergeError(f"model subset {idx} indexes outside the {n} checkpoints")
            out.append(idx)
        return out
    raise MergeError(f"models: {spec!r} is not all, all_pairs, adjacent_pairs or a list of index lists")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    return str(v)


def input_indices(include_inputs: bool | Sequence[int], n: int) -> list[int]:
    """The checkpoints scored as they are: all (``True``), none (``False``) or the listed indices (negative ones
    count from the end), in checkpoint order."""
    if isinstance(include_inputs, bool):
        return list(range(n)) if include_inputs else []
    picked = set()
    for i in include_inputs:
        if not isinstance(i, int) or isinstance(i, bool) or not -n <= i < n:
            raise MergeError(f"include_inputs: {i!r} is not the index of one of the {n} checkpoints")
        picked.add(i % n)
    return sorted(picked)


def expand(
    checkpoints: Sequence[str],
    entries: Sequence[Mapping[str, Any]],
    *,
    base_model: str | None = None,
    labels: Sequence[str] | None = None,
    include_inputs: bool | Sequence[int] = True,
    recipe_defaults: Mapping[str, Any] | None = None,
) -> list[Candidate]:
    """Every candidate of the search, inputs first (all with ``include_inputs=True``, those at the given
    indices with a list, e.g. ``[-1]`` for the last checkpoint alone), names unique."""
    labels = checkpoint_labels(checkpoints, labels)
    out = [
        Candidate(labels[i], None, str(checkpoints[i]))
        for i in input_indices(include_inputs, len(checkpoints))
    ]
    for entry in entries:
        entry = dict(entry)
        unknown = sorted(set(entry) - {"method", "models", "grid", "parameters"})
        if unknown:
            raise MergeError(f"unknown key(s) {unknown} in search entry {entry}")
        method = get_method(str(entry.get("method")))
        grid = dict(entry.get("grid") or {})
        weights = grid.pop("weights", None)
        keys = sorted(grid)
        combos = [dict(zip(keys, vals)) for vals in itertools.product(*(list(grid[k]) for k in keys))] or [{}]
        for subset in _subsets(entry.get("models"), len(checkpoints), method.max_models):
            for w in weights or [None]:
                if w is not None and len(w) != len(subset):
                    raise MergeError(f"weights {w} do not match the {len(subset)} models of subset {subset}")
                for combo in combos:
                    models: list[Any] = [checkpoints[i] for i in subset]
                    if w is not None:
                        models = [{"model": m, "parameters": {"weight": x}} for m, x in zip(models, w)]
                    params = {**dict(entry.get("parameters") or {}), **combo}
                    recipe = {
                        **dict(recipe_defaults or {}),
                        "method": method.name,
                        "models": models,
                        "parameters": params,
                    }
                    if method.base != "none" and base_model:
                        recipe["base_model"] = base_model
                    tag = " ".join(f"{k}={_fmt(v)}" for k, v in combo.items())
                    if w is not None:
                        tag = (tag + " " if tag else "") + f"w={_fmt(list(w))}"
                    name = f"{method.name}({'+'.join(labels[i] for i in subset)})" + (
                        f" {tag}" if tag else ""
                    )
                    out.append(Candidate(name, recipe))
    seen: dict[str, int] = {}
    for c in out:
        seen[c.name] = seen.get(c.name, 0) + 1
        if seen[c.name] > 1:
            c.name = f"{c.name} #{seen[c.name]}"
    return out
