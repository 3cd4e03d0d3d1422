"""Read training records from JSONL files or ``datasets`` datasets, raising (or skipping and counting) bad ones."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from train.data.records import FORMATS, RecordError, TrainRecord, detect_format, parse_record

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
_JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")
_DATASETS_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


@dataclass
class RecordSet:
    """The validated records of one source, with the count and first messages of the skipped ones."""

    name: str
    records: list[TrainRecord]
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)


def _collect(rows: Iterable[tuple[str, Any]], fmt: str, on_error: OnError, name: str) -> RecordSet:
    """Parse ``(where, raw)`` pairs; the first record fixes the format when ``fmt`` is ``auto``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown record format {fmt!r}; supported: {', '.join(FORMATS)}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    out = RecordSet(name=name, records=[])
    for where, raw in rows:
        try:
            if isinstance(raw, RecordError):
                raise raw
            if fmt == "auto":
                if not isinstance(raw, Mapping):
                    raise RecordError(where, None, f"expected a JSON object, got {type(raw).__name__}")
                try:
                    fmt = detect_format(raw)
                except RecordError as err:
                    raise RecordError(where, None, err.problem) from None
            out.records.append(parse_record(raw, fmt, where))
        except RecordError as err:
            if on_error == "raise":
                raise
            out.skipped += 1
            if len(out.errors) < 20:
                out.errors.append(str(err))
    if out.skipped:
        log.warning("%s: skipped %d malformed record(s); first: %s", name, out.skipped, out.errors[0])
    return out


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as err:
                yield where, RecordError(where, None, f"invalid JSON ({err.msg} at column {err.colno})")


def read_jsonl(
    path: str | Path, fmt: str = "auto", on_error: OnError = "raise", name: str | None = None
) -> RecordSet:
    """Records of a JSONL file (``.gz`` too); errors read ``file:line: field 'x': problem``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training data file not found: {path}")
    return _collect(_jsonl_rows(path), fmt, on_error, name or path.stem)


def read_dataset(
    dataset: Any, fmt: str = "auto", on_error: OnError = "raise", name: str = "dataset"
) -> RecordSet:
    """Records of a ``datasets.Dataset`` (or any sequence of mappings); errors read ``name[row i]: field ...``."""
    return _collect(((f"{name}[row {i}]", row) for i, row in enumerate(dataset)), fmt, on_error, name)


RETRIEVAL_NEGATIVES = ("none", "same_title")


def _title_negatives(
    corpus: dict[str, dict], by_title: dict[str, list[str]], relevant: list[str], answers
) -> list:
    """Texts of the other documents titled like the relevant ones (another paragraph of the same article: the
    distractors of JSQuAD / JaQuAD-style retrieval), minus any that contain one of the query's answers."""
    answers = [a for a in answers if isinstance(a, str) and a] if isinstance(answers, list) else []
    positives = {corpus[d]["text"] for d in relevant}
    out, seen = [], set()
    for title in dict.fromkeys(corpus[d]["title"] for d in relevant if corpus[d]["title"]):
        for docid in by_title[title]:
            text = corpus[docid]["text"]
            if docid in relevant or text in positives or text in seen or any(a in text for a in answers):
                continue
            seen.add(text)
            out.append(text)
    return out


def _retrieval_rows(folder: Path, negatives: str = "none") -> Iterator[tuple[str, Any]]:
    """JMTEB retrieval files (``corpus.jsonl`` + ``retrieval_queries.jsonl``) as tsumugi records, one per query;
    ``negatives='same_title'`` gives each record the answer-free documents of its positives' titles."""
    if negatives not in RETRIEVAL_NEGATIVES:
        raise ValueError(
            f"negatives must be one of {RETRIEVAL_NEGATIVES} for JMTEB retrieval data, got {negatives!r}"
        )
    corpus_file, queries_file = folder / "corpus.jsonl", folder / "retrieval_queries.jsonl"
    for f in (corpus_file, queries_file):
        if not f.is_file():
            raise FileNotFoundError(f"JMTEB retrieval folder {folder} lacks {f.name}")
    corpus: dict[str, dict] = {}
    by_title: dict[str, list[str]] = {}
    for _where, doc in _jsonl_rows(corpus_file):
        if isinstance(doc, Mapping) and "docid" in doc:
            title = doc.get("title") if isinstance(doc.get("title"), str) else None
            corpus[doc["docid"]] = {"text": doc.get("text"), "title": title}
            if title:
                by_title.setdefault(title, []).append(doc["docid"])
    if negatives == "same_title" and not by_title:
        raise ValueError(
            f"{corpus_file}: negatives=same_title needs a 'title' field in the corpus, none found"
        )
    for where, row in _jsonl_rows(queries_file):
        if not isinstance(row, Mapping):
            yield where, row
            continue
        relevant = row.get("relevant_docs") or []
        if not isinstance(relevant, list) or not relevant or any(d not in corpus for d in relevant):
            yield where, RecordError(where, "relevant_docs", f"unknown or missing document ids {relevant!r}")
            continue
        record = {"query": row.get("query"), "positive": [corpus[d]["text"] for d in relevant]}
        if negatives == "same_title":
            record["negatives"] = _title_negatives(corpus, by_title, relevant, row.get("answers"))
        yield where, record


def read_retrieval(
    folder: str | Path, on_error: OnError = "raise", name: str | None = None, negatives: str = "none"
) -> RecordSet:
    """Query-positive records from a JMTEB-format retrieval split folder (e.g. ../shared/data/jaquad/...);
    ``negatives``: none | same_title (see :func:`_retrieval_rows`)."""
    folder = Path(folder)
    return _collect(
        _retrieval_rows(folder, negatives), "tsumugi", on_error, name or folder.parent.parent.name
    )


def _load_with_datasets(path: Path, split: str) -> Any:
    import datasets

    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    builder = _DATASETS_BUILDERS[path.suffix]
    return datasets.load_dataset(builder, data_files={split: str(path)}, split=split)


def read_source(
    source: str | Path | Any,
    fmt: str = "auto",
    on_error: OnError = "raise",
    name: str | None = None,
    split: str = "train",
    negatives: str = "none",
) -> RecordSet:
    """Records of a JSONL file, a ``save_to_disk`` folder, a parquet/csv/arrow file, a dataset object, or
    (``fmt='jmteb'``) a JMTEB retrieval split folder (``negatives``: none | same_title, that format only)."""
    if not isinstance(source, str | Path):
        return read_dataset(source, fmt, on_error, name or "dataset")
    path = Path(source).expanduser()
    if fmt == "jmteb":
        return read_retrieval(path, on_error, name, negatives)
    if negatives != "none":
        raise ValueError(f"{path}: negatives={negatives!r} applies to format 'jmteb' only")
    if path.is_dir() or path.suffix in _DATASETS_BUILDERS:
        if not path.exists():
            raise FileNotFoundError(f"training data not found: {path}")
        return read_dataset(_load_with_datasets(path, split), fmt, on_error, name or path.stem)
    if any(str(path).endswith(s) for s in _JSONL_SUFFIXES):
        return read_jsonl(path, fmt, on_error, name)
    raise ValueError(
        f"cannot read training data {path}: expected .jsonl[.gz], .parquet, .csv, .arrow or a save_to_disk folder"
    )
