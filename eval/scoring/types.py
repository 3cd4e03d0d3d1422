"""Inputs and outputs of the JMTEB v1 scorers: embeddings in, one ``TaskScore`` out.

The scorers never encode text; the runner (``eval.runner``) encodes with the shared embedding model (and its cache)
and hands these containers over. Every scorer picks its option (similarity function, classifier, clusterer,
threshold) on the validation split and reports that option on test, exactly as JMTEB v1.3.3 does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Mode = Literal["official", "corrected"]
"""``official`` reproduces JMTEB v1.3.3 bit for bit, quirks included; ``corrected`` fixes the documented quirks."""


@dataclass
class PairSplit:
    """STS / pair classification: row i of ``emb1`` and ``emb2`` are the two sentences, ``labels[i]`` their gold."""

    emb1: np.ndarray
    emb2: np.ndarray
    labels: np.ndarray


@dataclass
class LabelledSplit:
    """Classification / clustering: one embedding per text with its integer label."""

    emb: np.ndarray
    labels: np.ndarray


@dataclass
class RetrievalSplit:
    """Retrieval: queries against a corpus; ``relevant[i]`` are the doc ids relevant to query i."""

    query_emb: np.ndarray
    doc_emb: np.ndarray
    doc_ids: list[str]
    relevant: list[list[str]]


@dataclass
class RerankingSplit:
    """Reranking: each query ranks only its own candidates with graded relevance."""

    query_emb: np.ndarray
    doc_emb: np.ndarray  # one row per doc id in ``doc_ids``
    doc_ids: list[str]
    candidates: list[list[str]]  # retrieved_docs per query
    relevance: list[list[float]]  # relevance_scores per query, aligned with ``candidates``


@dataclass
class TaskScore:
    """One dataset's result in JMTEB's ``scores_<dataset>.json`` layout (values are fractions, not x100)."""

    metric_name: str
    metric_value: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"metric_name": self.metric_name, "metric_value": self.metric_value, "details": self.details}
