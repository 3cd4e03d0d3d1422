"""Shared inputs for the JMTEB scorer tests: deterministic text embeddings and the JMTEB fixture splits.

Embeddings are a seeded Gaussian random projection of hashed character 1-3-gram counts (float32), so no model is
needed and every run sees the same vectors. Labels that are strings are mapped to integers in sorted order, as
JMTEB's loaders do.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from eval.scoring.types import LabelledSplit, PairSplit, RerankingSplit, RetrievalSplit  # noqa: E402

N_BUCKETS = 512


def embed_texts(texts: list[str], dim: int = 32, seed: int = 0) -> np.ndarray:
    """float32 (len(texts), dim): counts of crc32-hashed char 1/2/3-grams times a seeded N(0, 1) projection."""
    counts = np.zeros((len(texts), N_BUCKETS), dtype=np.float64)
    for row, text in enumerate(texts):
        for n in (1, 2, 3):
            for i in range(len(text) - n + 1):
                counts[row, zlib.crc32(text[i : i + n].encode("utf-8")) % N_BUCKETS] += 1.0
    projection = np.random.default_rng(seed).standard_normal((N_BUCKETS, dim))
    return (counts @ projection / np.sqrt(N_BUCKETS)).astype(np.float32)


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _int_labels(values: list) -> np.ndarray:
    if all(isinstance(v, int) for v in values):
        return np.asarray(values, dtype=np.int64)
    mapping = {label: i for i, label in enumerate(sorted(set(values)))}
    return np.asarray([mapping[v] for v in values], dtype=np.int64)


@pytest.fixture(scope="session")
def fixture_dir(shared_data: Path) -> Path:
    path = shared_data / "jmteb_fixtures" / "test_data"
    if not path.is_dir():
        pytest.skip(f"JMTEB fixtures not found at {path}")
    return path


@pytest.fixture(scope="session")
def embed():
    return embed_texts


@pytest.fixture(scope="session")
def sts_fixture(fixture_dir: Path) -> PairSplit:
    rows = _jsonl(fixture_dir / "dummy_sts" / "val.jsonl")
    return PairSplit(
        emb1=embed_texts([r["sentence1"] for r in rows]),
        emb2=embed_texts([r["sentence2"] for r in rows]),
        labels=np.asarray([float(r["label"]) for r in rows]),
    )


@pytest.fixture(scope="session")
def pair_fixture(fixture_dir: Path) -> PairSplit:
    rows = _jsonl(fixture_dir / "dummy_pair_classification" / "binary.jsonl")
    return PairSplit(
        emb1=embed_texts([r["sentence1"] for r in rows]),
        emb2=embed_texts([r["sentence2"] for r in rows]),
        labels=_int_labels([r["label"] for r in rows]),
    )


@pytest.fixture(scope="session")
def classification_fixture(fixture_dir: Path) -> tuple[LabelledSplit, LabelledSplit]:
    train = _jsonl(fixture_dir / "dummy_classification" / "train.jsonl")
    val = _jsonl(fixture_dir / "dummy_classification" / "val.jsonl")
    labels = _int_labels([r["label"] for r in train + val])
    return (
        LabelledSplit(embed_texts([r["sentence"] for r in train]), labels[: len(train)]),
        LabelledSplit(embed_texts([r["sentence"] for r in val]), labels[len(train) :]),
    )


@pytest.fixture(scope="session")
def clustering_fixture(fixture_dir: Path) -> LabelledSplit:
    rows = _jsonl(fixture_dir / "dummy_clustering" / "val.jsonl")
    return LabelledSplit(embed_texts([r["text"] for r in rows]), _int_labels([r["label"] for r in rows]))


@pytest.fixture(scope="session")
def retrieval_fixture(fixture_dir: Path) -> RetrievalSplit:
    queries = _jsonl(fixture_dir / "dummy_retrieval" / "val.jsonl")
    corpus = _jsonl(fixture_dir / "dummy_retrieval" / "corpus.jsonl")
    return RetrievalSplit(
        query_emb=embed_texts([q["question"] for q in queries]),
        doc_emb=embed_texts([d["title"] + d["text"] for d in corpus]),
        doc_ids=[d["docid"] for d in corpus],
        relevant=[list(q["answer"]) for q in queries],
    )


@pytest.fixture(scope="session")
def reranking_fixture(fixture_dir: Path) -> RerankingSplit:
    """ESCI-like fixture; candidates missing from the 10-doc corpus are embedded from their id string."""
    queries = _jsonl(fixture_dir / "dummy_reranking" / "val.jsonl")
    corpus = {d["docid"]: d["text"] for d in _jsonl(fixture_dir / "dummy_reranking" / "corpus.jsonl")}
    doc_ids = sorted({doc for q in queries for doc in q["retrieved_docs"]} | set(corpus))
    return RerankingSplit(
        query_emb=embed_texts([q["query"] for q in queries]),
        doc_emb=embed_texts([corpus.get(doc, doc) for doc in doc_ids]),
        doc_ids=doc_ids,
        candidates=[list(q["retrieved_docs"]) for q in queries],
        relevance=[list(q["relevance_scores"]) for q in queries],
    )
