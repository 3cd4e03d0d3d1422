"""Strict JSON Lines reading: every problem becomes a ``DataError`` naming the file, the line and the field."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import DataError


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Read a JSON Lines file into ``(line_number, object)`` pairs (1-based, blank lines skipped)."""
    return list(iter_jsonl(path))


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; raise ``DataError`` on the first bad one."""
    path = Path(path)
    if not path.is_file():
        hint = "a directory, expected a file" if path.is_dir() else "file not found"
        raise DataError(path, hint)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    path,
                    f"not valid UTF-8 (byte {e.start} of the line: {raw[e.start : e.start + 4]!r})",
                    line=lineno,
                ) from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, f"invalid JSON ({e.msg} at column {e.colno})", line=lineno) from None
            if not isinstance(obj, dict):
                raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", line=lineno)
            yield lineno, obj
    return


def require(row: dict[str, Any], field: str, path: str | Path, line: int) -> Any:
    """``row[field]``, or a ``DataError`` that lists the fields the row does have."""
    if field not in row:
        present = ", ".join(sorted(row)) or "none"
        raise DataError(path, f"missing (fields present: {present})", line=line, field=field)
    return row[field]


def require_text(row: dict[str, Any], field: str, path: str | Path, line: int) -> str:
    """A non-empty string field (whitespace-only counts as empty)."""
    value = require(row, field, path, line)
    if not isinstance(value, str):
        raise DataError(
            path, f"expected a string, got {type(value).__name__} {value!r}", line=line, field=field
        )
    if not value.strip():
        raise DataError(path, "empty text", line=line, field=field)
    return value


def require_list(
    row: dict[str, Any], field: str, path: str | Path, line: int, *, wrap_scalar: bool = False
) -> list:
    """A list field; a scalar is wrapped into a one-element list when ``wrap_scalar`` (JMTEB does this)."""
    value = require(row, field, path, line)
    if not isinstance(value, list):
        if wrap_scalar and isinstance(value, str | int):
            return [value]
        raise DataError(path, f"expected a list, got {type(value).__name__}", line=line, field=field)
    return value


def require_id(value: Any, field: str, path: str | Path, line: int) -> str:
    """An id (string or integer, as JMTEB allows) normalised to ``str``."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(
            path,
            f"expected a string or integer id, got {type(value).__name__} {value!r}",
            line=line,
            field=field,
        )
    text = str(value)
    if not text.strip():
        raise DataError(path, "empty id", line=line, field=field)
    return text


def check_unique(ids: Sequence[str], lines: Sequence[int], field: str, path: str | Path) -> None:
    """Raise ``DataError`` on the first duplicate id, naming both lines."""
    seen: dict[str, int] = {}
    for id_, line in zip(ids, lines):
        if id_ in seen:
            raise DataError(
                path, f"duplicate id {id_!r} (first seen on line {seen[id_]})", line=line, field=field
            )
        seen[id_] = line
