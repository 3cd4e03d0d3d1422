"""Passage corpora: JSONL files or ``datasets`` datasets -> ``Passage(id, text, title)``, filtered and sampled."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from synth.ids import stable_hash
from synth.textnorm import normalize_for_dedup

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Passage:
    """One source document."""

    id: str
    text: str
    title: str | None = None


def default_data_root() -> Path:
    """``$TSUMUGI_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("TSUMUGI_DATA")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "data"


def _rows_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None


def _rows_datasets(path: str, split: str | None) -> Iterator[dict]:
    import datasets

    local = Path(path).expanduser()
    if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "dataset_dict.json").exists()):
        ds = datasets.load_from_disk(str(local))
    else:
        ds = datasets.load_dataset(path, split=split or "train")
    if isinstance(ds, datasets.DatasetDict):
        ds = ds[split or "train"]
    yield from ds


def read_rows(path: str | Path, fmt: str = "auto", split: str | None = None) -> Iterator[dict]:
    """Raw rows of a JSONL file (``fmt=jsonl``) or a ``datasets`` dataset (``fmt=datasets``; folder or name)."""
    if fmt == "auto":
        fmt = "jsonl" if str(path).endswith((".jsonl", ".json")) else "datasets"
    if fmt == "jsonl":
        return _rows_jsonl(Path(path).expanduser())
    if fmt == "datasets":
        return _rows_datasets(str(path), split)
    raise ValueError(f"unknown corpus format {fmt!r}; use jsonl, datasets or auto")


def to_passages(
    rows: Iterable[dict],
    id_field: str | Sequence[str] = ("id", "docid", "_id"),
    text_field: str = "text",
    title_field: str | None = "title",
) -> Iterator[Passage]:
    """Rows -> Passages; the id is the first present ``id_field``, else a hash of the text."""
    id_fields = [id_field] if isinstance(id_field, str) else list(id_field)
    for i, row in enumerate(rows):
        text = row.get(text_field)
        if not isinstance(text, str):
            raise ValueError(f"row {i}: field {text_field!r} must be a string, got {type(text).__name__}")
        pid = next((str(row[f]) for f in id_fields if row.get(f) is not None), None)
        title = row.get(title_field) if title_field else None
        yield Passage(
            id=pid or stable_hash(text)[:16], text=text, title=title if isinstance(title, str) else None
        )


def truncate_text(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters, cut after the last sentence end (。．.!?！？ or newline) past half-way."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    cut = max(head.rfind(ch) for ch in "。．.!?！？\n")
    return head[: cut + 1].rstrip() if cut >= max_chars // 2 else head


def load_passages(
    path: str | Path,
    *,
    fmt: str = "auto",
    split: str | None = None,
    id_field: str | Sequence[str] = ("id", "docid", "_id"),
    text_field: str = "text",
    title_field: str | None = "title",
    min_chars: int = 0,
    max_chars: int | None = None,
    limit: int | None = None,
    sample_seed: int | None = None,
    exclude: Sequence[str | Path] = (),
) -> list[Passage]:
    """Load, drop short/duplicate/excluded passages, truncate long ones, then keep ``limit`` (hash-sampled).

    ``exclude`` lists JSONL corpora (e.g. evaluation passages) whose normalised texts must never be used.
    With ``sample_seed`` the kept subset is the ``limit`` passages with the smallest hash(seed, id), which is
    stable when the corpus grows; without it the first ``limit`` in file order.
    """
    banned = set()
    for ex in exclude:
        banned.update(
            normalize_for_dedup(p.text) for p in to_passages(_rows_jsonl(Path(ex)), text_field=text_field)
        )
    seen_ids, seen_text, out = set(), set(), []
    rows = read_rows(path, fmt, split)
    for p in to_passages(rows, id_field, text_field, title_field):
        key = normalize_for_dedup(p.text)
        if len(p.text.strip()) < min_chars or p.id in seen_ids or key in seen_text or key in banned:
            continue
        seen_ids.add(p.id)
        seen_text.add(key)
        if max_chars is not None and len(p.text) > max_chars:
            p = Passage(p.id, truncate_text(p.text, max_chars), p.title)
        out.append(p)
    if sample_seed is not None:
        out.sort(key=lambda p: stable_hash(sample_seed, p.id))
    return out[:limit] if limit is not None else out
