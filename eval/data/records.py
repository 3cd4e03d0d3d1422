"""Loaded datasets as plain text containers (before encoding), one class per JMTEB schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DataError
from .labels import class_labels, float_labels


@dataclass(frozen=True)
class Fields:
    """JSONL field names; JMTEB's defaults, each overridable per task (JMTEB's own fixtures use other keys)."""

    sentence1: str = "sentence1"
    sentence2: str = "sentence2"
    label: str = "label"
    text: str = "text"
    qid: str = "qid"
    query: str = "query"
    relevant_docs: str = "relevant_docs"
    retrieved_docs: str = "retrieved_docs"
    relevance_scores: str = "relevance_scores"
    docid: str = "docid"
    doc_text: str = "text"
    title: str | None = None
    """If set, the corpus text is ``"<title> <text>"``; JMTEB v1 uses the text only (the default)."""


@dataclass
class RawLabels:
    """A label column as read, with the line of each value so that mapping errors can point at it."""

    values: list[Any]
    lines: list[int]
    field: str
    path: str

    def as_float(self) -> np.ndarray:
        """Numeric gold scores (STS)."""
        return float_labels(self.values, self.lines, self.field, self.path)

    def as_class(self, mapping: dict[str, int] | None) -> np.ndarray:
        """Integer classes through ``mapping`` (``None``: already integers)."""
        return class_labels(self.values, self.lines, self.field, self.path, mapping)

    def take(self, idx: np.ndarray) -> RawLabels:
        """The rows ``idx`` only."""
        return RawLabels([self.values[i] for i in idx], [self.lines[i] for i in idx], self.field, self.path)


@dataclass
class PairData:
    """STS / pair classification: ``sentence1[i]`` vs ``sentence2[i]`` with gold ``labels[i]``."""

    sentence1: list[str]
    sentence2: list[str]
    labels: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.sentence1)


@dataclass
class LabelledData:
    """Classification / clustering: one text per row with its integer label."""

    texts: list[str]
    labels: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Corpus:
    """Documents by id; ``tag`` names the corpus in cache keys (val and test may share one corpus)."""

    ids: list[str]
    texts: list[str]
    tag: str
    source: str = ""
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {d: i for i, d in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, docid: str) -> bool:
        return docid in self._index

    def subset(self, keep: list[str], tag: str) -> Corpus:
        """The documents ``keep`` (in that order) as a new corpus."""
        return Corpus(list(keep), [self.texts[self._index[d]] for d in keep], tag, self.source)


@dataclass
class RetrievalData:
    """Queries with their relevant doc ids, searched against the whole ``corpus``."""

    qids: list[str]
    queries: list[str]
    relevant: list[list[str]]
    corpus: Corpus
    source: str = ""

    def __len__(self) -> int:
        return len(self.qids)


@dataclass
class RerankingData:
    """Queries that rank only their own candidates, with graded relevance aligned to ``candidates``."""

    qids: list[str]
    queries: list[str]
    candidates: list[list[str]]
    relevance: list[list[float]]
    corpus: Corpus
    source: str = ""

    def __len__(self) -> int:
        return len(self.qids)


def check_same_corpus_ids(
    data: RetrievalData | RerankingData, ids: list[list[str]], field: str, lines: list[int]
) -> None:
    """Every referenced doc id exists in the corpus; else a ``DataError`` naming the query line."""
    for line, doc_ids in zip(lines, ids):
        missing = [d for d in doc_ids if d not in data.corpus]
        if missing:
            raise DataError(
                data.source,
                f"doc id {missing[0]!r} is not in the corpus {data.corpus.source}",
                line=line,
                field=field,
            )
