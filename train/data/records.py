"""Training records and their validation: one schema, three input layouts, errors that name file, line and field.

The record every reader produces (the format synth/ writes)::

    {"query": str, "positive": str | [str, ...], "negatives": [str, ...], "instruction": str | null, "task": str | null}

Layouts read (``format``):

- ``tsumugi`` — the record above (``negatives``, ``instruction``, ``task`` optional);
- ``flag`` — FlagEmbedding: ``{"query", "pos": [..], "neg": [..], "prompt", "type"}`` (``prompt`` is the
  instruction, ``type`` the task);
- ``st`` — sentence-transformers columns: ``anchor`` (or ``query``), ``positive``, ``negative`` /
  ``negative_1`` … ``negative_N``; without those names, column order defines the roles (anchor, positive,
  negatives…), as in sentence-transformers;
- ``auto`` — picked from the first record's keys;
- ``jmteb`` (a folder, :func:`train.data.readers.read_retrieval`) — JMTEB retrieval files ``corpus.jsonl`` +
  ``retrieval_queries.jsonl``: one record per query, its relevant documents as positives; with ``negatives:
  same_title`` also the other documents of the positives' titles (another paragraph of the same article) that
  contain none of the query's ``answers``, as hard negatives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FORMATS = ("auto", "tsumugi", "flag", "st")
_NEGATIVE_COLUMN = re.compile(r"^negative(?:_(\d+))?$")


class RecordError(ValueError):
    """A malformed training record; the message names where (file:line or dataset[row]) and which field."""

    def __init__(self, where: str, field: str | None, problem: str) -> None:
        self.where, self.field, self.problem = where, field, problem
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{problem}")


@dataclass(frozen=True)
class TrainRecord:
    """One query with its positive document(s), optional hard negatives, instruction and task."""

    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    instruction: str | None = None
    task: str | None = None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _text(raw: Mapping, key: str, where: str, field: str | None = None) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise RecordError(where, field or key, f"expected a string, got {_type_name(value)}")
    if not value.strip():
        raise RecordError(where, field or key, "empty string")
    return value


def _texts(value: Any, where: str, field: str, *, allow_str: bool, min_len: int) -> tuple[str, ...]:
    if allow_str and isinstance(value, str):
        value = [value]
    if value is None and min_len == 0:
        return ()
    if not isinstance(value, list | tuple):
        kind = "a string or a list of strings" if allow_str else "a list of strings"
        raise RecordError(where, field, f"expected {kind}, got {_type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise RecordError(where, f"{field}[{i}]", f"expected a string, got {_type_name(item)}")
        if not item.strip():
            raise RecordError(where, f"{field}[{i}]", "empty string")
    if len(value) < min_len:
        raise RecordError(where, field, f"needs at least {min_len} text(s), got {len(value)}")
    return tuple(value)


def _optional_text(raw: Mapping, key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise RecordError(where, key, f"expected a string or null, got {_type_name(value)}")
    return value


def detect_format(raw: Mapping) -> str:
    """The layout of a raw record from its keys (``tsumugi``, ``flag`` or ``st``); RecordError when unknown."""
    keys = set(raw)
    if "pos" in keys:
        return "flag"
    if "query" in keys and ("positive" in keys or "positives" in keys):
        return "tsumugi"
    if "anchor" in keys or any(_NEGATIVE_COLUMN.match(k) for k in keys) or len(keys) >= 2:
        return "st"
    raise RecordError("first record", None, f"cannot tell the format from keys {sorted(keys)}")


def _parse_tsumugi(raw: Mapping, where: str) -> TrainRecord:
    key = "positive" if "positive" in raw else "positives"
    return TrainRecord(
        query=_text(raw, "query", where),
        positives=_texts(raw.get(key), where, key, allow_str=True, min_len=1),
        negatives=_texts(raw.get("negatives"), where, "negatives", allow_str=False, min_len=0),
        instruction=_optional_text(raw, "instruction", where),
        task=_optional_text(raw, "task", where),
    )


def _parse_flag(raw: Mapping, where: str) -> TrainRecord:
    return TrainRecord(
        query=_text(raw, "query", where),
        positives=_texts(raw.get("pos"), where, "pos", allow_str=False, min_len=1),
        negatives=_texts(raw.get("neg"), where, "neg", allow_str=False, min_len=0),
        instruction=_optional_text(raw, "prompt", where),
        task=_optional_text(raw, "type", where),
    )


def _parse_st(raw: Mapping, where: str) -> TrainRecord:
    anchor = "anchor" if "anchor" in raw else "query" if "query" in raw else None
    if anchor is not None and "positive" in raw:
        negative_cols = sorted(
            (k for k in raw if _NEGATIVE_COLUMN.match(k)),
            key=lambda k: int(_NEGATIVE_COLUMN.match(k).group(1) or 0),
        )
        query, positive = _text(raw, anchor, where), _text(raw, "positive", where)
        negatives = tuple(_text(raw, k, where) for k in negative_cols)
    else:  # column order defines the roles: anchor, positive, negatives...
        columns = list(raw)
        if len(columns) < 2:
            raise RecordError(where, None, f"needs at least 2 text columns (anchor, positive), got {columns}")
        query, positive = _text(raw, columns[0], where), _text(raw, columns[1], where)
        negatives = tuple(_text(raw, k, where) for k in columns[2:])
    return TrainRecord(query=query, positives=(positive,), negatives=negatives)


_PARSERS = {"tsumugi": _parse_tsumugi, "flag": _parse_flag, "st": _parse_st}


def parse_record(raw: Any, fmt: str, where: str) -> TrainRecord:
    """Validate one raw record of layout ``fmt`` (not ``auto``) into a TrainRecord; RecordError names the field."""
    if fmt not in _PARSERS:
        raise ValueError(f"unknown record format {fmt!r}; supported: {', '.join(FORMATS)}")
    if not isinstance(raw, Mapping):
        raise RecordError(where, None, f"expected a JSON object, got {_type_name(raw)}")
    return _PARSERS[fmt](raw, where)
