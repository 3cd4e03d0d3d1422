"""Label columns: numeric gold scores for STS, integer classes elsewhere (strings mapped in sorted order, as JMTEB).

String labels are numbered over the union of all splits of a task, so train/validation/test agree even when one
split lacks a class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError


def float_labels(values: Sequence[Any], lines: Sequence[int], field: str, path: str | Path) -> np.ndarray:
    """Numeric gold scores (STS); a non-number is a ``DataError`` naming its line."""
    out = np.empty(len(values), dtype=np.float64)
    for i, (v, line) in enumerate(zip(values, lines)):
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
            raise DataError(path, f"expected a number, got {v!r}", line=line, field=field)
        out[i] = float(v)
    return out


def check_class_values(values: Sequence[Any], lines: Sequence[int], field: str, path: str | Path) -> None:
    """Every label is an int or a non-empty string, and the column does not mix the two."""
    first_kind = None
    for v, line in zip(values, lines):
        if isinstance(v, bool) or not isinstance(v, int | str) or (isinstance(v, str) and not v.strip()):
            raise DataError(path, f"expected an integer or string label, got {v!r}", line=line, field=field)
        kind = int if isinstance(v, int) else str
        if first_kind is None:
            first_kind = (kind, v)
        elif kind is not first_kind[0]:
            raise DataError(
                path, f"mixed integer and string labels ({first_kind[1]!r} and {v!r})", line=line, field=field
            )


def label_mapping(values: Iterable[Any]) -> dict[str, int] | None:
    """``None`` when all labels are integers (kept as they are), else ``{label: index}`` in sorted order."""
    values = list(values)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return {str(label): k for k, label in enumerate(sorted({str(v) for v in values}))}


def class_labels(
    values: Sequence[Any],
    lines: Sequence[int],
    field: str,
    path: str | Path,
    mapping: Mapping[str, int] | None,
) -> np.ndarray:
    """Integer labels through ``mapping`` (``None``: the values are integers already)."""
    if mapping is None:
        check_class_values(values, lines, field, path)
        return np.asarray(values, dtype=np.int64)
    out = np.empty(len(values), dtype=np.int64)
    for i, (v, line) in enumerate(zip(values, lines)):
        key = str(v)
        if key not in mapping:
            raise DataError(
                path, f"label {v!r} not in the label map {sorted(mapping)}", line=line, field=field
            )
        out[i] = mapping[key]
    return out
