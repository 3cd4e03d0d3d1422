"""Rows (from a local JSONL file or a hub split) -> the record containers, validating every field on the way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import DataError
from .jsonl import check_unique, read_jsonl, require, require_id, require_list, require_text
from .records import (
    Corpus,
    Fields,
    RawLabels,
    RerankingData,
    RetrievalData,
    check_same_corpus_ids,
)

DEFAULT_FIELDS = Fields()
Rows = Sequence[tuple[int, dict[str, Any]]]
"""``(line_number, object)`` pairs; hub rows are numbered from 1 like lines."""


def rows_of(source: str | Path | tuple[str, Rows]) -> tuple[str, Rows]:
    """``(label, rows)`` from a JSONL path or an already-read ``(label, rows)`` pair."""
    if isinstance(source, tuple):
        return source
    return str(source), read_jsonl(source)


def _non_empty(path: str, rows: Rows) -> None:
    if not rows:
        raise DataError(path, "no rows (empty file)")


def read_pairs(
    source: str | Path | tuple[str, Rows], fields: Fields = DEFAULT_FIELDS
) -> tuple[list[str], list[str], RawLabels]:
    """STS / pair rows -> ``(sentence1, sentence2, raw labels)``."""
    path, rows = rows_of(source)
    _non_empty(path, rows)
    s1, s2, labels, lines = [], [], [], []
    for line, row in rows:
        s1.append(require_text(row, fields.sentence1, path, line))
        s2.append(require_text(row, fields.sentence2, path, line))
        labels.append(require(row, fields.label, path, line))
        lines.append(line)
    return s1, s2, RawLabels(labels, lines, fields.label, path)


def read_labelled(
    source: str | Path | tuple[str, Rows], fields: Fields = DEFAULT_FIELDS
) -> tuple[list[str], RawLabels]:
    """Classification / clustering rows -> ``(texts, raw labels)``."""
    path, rows = rows_of(source)
    _non_empty(path, rows)
    texts, labels, lines = [], [], []
    for line, row in rows:
        texts.append(require_text(row, fields.text, path, line))
        labels.append(require(row, fields.label, path, line))
        lines.append(line)
    return texts, RawLabels(labels, lines, fields.label, path)


def read_corpus(
    source: str | Path | tuple[str, Rows], fields: Fields = DEFAULT_FIELDS, *, tag: str = "corpus"
) -> Corpus:
    """Corpus rows ``{docid, text[, title]}`` -> ``Corpus`` (unique, non-empty ids and texts)."""
    path, rows = rows_of(source)
    _non_empty(path, rows)
    ids, texts, lines = [], [], []
    for line, row in rows:
        ids.append(require_id(require(row, fields.docid, path, line), fields.docid, path, line))
        text = require_text(row, fields.doc_text, path, line)
        if fields.title is not None:
            title = row.get(fields.title)
            if isinstance(title, str) and title.strip():
                text = f"{title} {text}"
        texts.append(text)
        lines.append(line)
    check_unique(ids, lines, fields.docid, path)
    return Corpus(ids, texts, tag, path)


def _qids(rows: Rows, fields: Fields, path: str) -> list[str]:
    """Query ids from ``fields.qid``; when no row has that field, ``q<line>`` (qids are only labels)."""
    if not any(fields.qid in row for _, row in rows):
        return [f"q{line}" for line, _ in rows]
    qids = [require_id(require(row, fields.qid, path, line), fields.qid, path, line) for line, row in rows]
    check_unique(qids, [line for line, _ in rows], fields.qid, path)
    return qids


def read_retrieval(
    source: str | Path | tuple[str, Rows], corpus: Corpus, fields: Fields = DEFAULT_FIELDS
) -> RetrievalData:
    """Retrieval query rows ``{qid, query, relevant_docs}`` checked against ``corpus``."""
    path, rows = rows_of(source)
    _non_empty(path, rows)
    queries, relevant, lines = [], [], []
    for line, row in rows:
        queries.append(require_text(row, fields.query, path, line))
        docs = require_list(row, fields.relevant_docs, path, line, wrap_scalar=True)
        if not docs:
            raise DataError(path, "no relevant documents", line=line, field=fields.relevant_docs)
        relevant.append([require_id(d, fields.relevant_docs, path, line) for d in docs])
        lines.append(line)
    data = RetrievalData(_qids(rows, fields, path), queries, relevant, corpus, path)
    check_same_corpus_ids(data, relevant, fields.relevant_docs, lines)
    return data


def read_reranking(
    source: str | Path | tuple[str, Rows], corpus: Corpus, fields: Fields = DEFAULT_FIELDS
) -> RerankingData:
    """Reranking query rows ``{qid, query, retrieved_docs, relevance_scores}`` checked against ``corpus``."""
    path, rows = rows_of(source)
    _non_empty(path, rows)
    queries, candidates, relevance, lines = [], [], [], []
    for line, row in rows:
        queries.append(require_text(row, fields.query, path, line))
        docs = [
            require_id(d, fields.retrieved_docs, path, line)
            for d in require_list(row, fields.retrieved_docs, path, line)
        ]
        scores = require_list(row, fields.relevance_scores, path, line)
        if not docs:
            raise DataError(path, "no candidate documents", line=line, field=fields.retrieved_docs)
        if len(scores) != len(docs):
            raise DataError(
                path,
                f"{len(scores)} scores for {len(docs)} retrieved_docs",
                line=line,
                field=fields.relevance_scores,
            )
        for s in scores:
            if isinstance(s, bool) or not isinstance(s, int | float):
                raise DataError(
                    path, f"expected numbers, got {s!r}", line=line, field=fields.relevance_scores
                )
        candidates.append(docs)
        relevance.append([float(s) for s in scores])
        lines.append(line)
    data = RerankingData(_qids(rows, fields, path), queries, candidates, relevance, corpus, path)
    check_same_corpus_ids(data, candidates, fields.retrieved_docs, lines)
    return data
