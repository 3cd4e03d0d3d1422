"""One task end to end: load its splits, encode each text side (cached), score every requested width."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data.records import LabelledData, PairData, RerankingData, RetrievalData
from .data.task_data import TaskData, load_task_data
from .dims import truncate
from .encoding import TextEncoder
from .scoring.types import LabelledSplit, PairSplit, RerankingSplit, RetrievalSplit, TaskScore
from .tasks import TaskSpec


@dataclass
class TaskOutcome:
    """Scores of one task per width (``None`` = full dimension) plus sizes and timings."""

    task: TaskSpec
    prefixes: dict[str, str]
    scores: dict[int | None, TaskScore]
    timing: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def _scorer(kind: str) -> Callable[..., TaskScore]:
    if kind == "sts":
        from .scoring.sts import score_sts

        return score_sts
    if kind == "pair":
        from .scoring.pair_classification import score_pair_classification

        return score_pair_classification
    if kind == "classification":
        from .scoring.classification import score_classification

        return score_classification
    if kind == "clustering":
        from .scoring.clustering import score_clustering

        return score_clustering
    if kind == "retrieval":
        from .scoring.retrieval import score_retrieval

        return score_retrieval
    from .scoring.reranking import score_reranking

    return score_reranking


def _split_labels(task: TaskSpec) -> dict[str, str]:
    """Cache split names: ``test`` for both when val is test, else the role name."""
    return {role: ("test" if task.val_is_test else role) for role in task.splits}


def _corpus_split(task: TaskSpec, role: str) -> str:
    """One cache entry for a corpus shared by val and test (JMTEB's hub retrieval corpora)."""
    if (
        task.kind in ("retrieval", "reranking")
        and task.splits["val"]["corpus"] == task.splits["test"]["corpus"]
    ):
        return "corpus"
    return _split_labels(task)[role]


def encode_task(
    task: TaskSpec, data: TaskData, enc: TextEncoder, prefixes: Mapping[str, str]
) -> dict[str, Any]:
    """Full-width embeddings of every side of every split: ``{role: {side: array}}`` (+ ids for search tasks)."""
    group = task.cache_group or task.name
    split_of = _split_labels(task)
    out: dict[str, Any] = {}
    for role in ("train", "val", "test"):
        split = getattr(data, role, None)
        if split is None:
            continue
        name = split_of[role]
        if isinstance(split, PairData):
            p1, p2 = prefixes["sentence1_prefix"], prefixes["sentence2_prefix"]
            if p1 == p2:  # one encode of the distinct sentences of both sides (JNLI: half the texts)
                first: dict[str, str] = {}
                for col, texts in (("sentence1", split.sentence1), ("sentence2", split.sentence2)):
                    for i, t in enumerate(texts):
                        first.setdefault(t, f"row {i} ({col})")
                union = list(first)
                row = {t: i for i, t in enumerate(union)}
                e = enc.embed(
                    union,
                    dataset=group,
                    split=name,
                    side="sentences",
                    prefix=p1,
                    row_labels=list(first.values()),
                )
                out[role] = {
                    "s1": e[[row[t] for t in split.sentence1]],
                    "s2": e[[row[t] for t in split.sentence2]],
                }
            else:
                out[role] = {
                    "s1": enc.embed(split.sentence1, dataset=group, split=name, side="sentence1", prefix=p1),
                    "s2": enc.embed(split.sentence2, dataset=group, split=name, side="sentence2", prefix=p2),
                }
        elif isinstance(split, LabelledData):
            out[role] = {
                "x": enc.embed(split.texts, dataset=group, split=name, side="text", prefix=prefixes["prefix"])
            }
        else:
            corpus = split.corpus
            if isinstance(split, RerankingData):  # only candidates are ever scored
                needed = set(d for docs in split.candidates for d in docs)
                if len(needed) < len(corpus):
                    corpus = corpus.subset([d for d in corpus.ids if d in needed], corpus.tag + "~candidates")
            out[role] = {
                "q": enc.embed(
                    split.queries, dataset=group, split=name, side="query", prefix=prefixes["query_prefix"]
                ),
                "d": enc.embed(
                    corpus.texts,
                    dataset=group,
                    split=_corpus_split(task, role),
                    side="doc",
                    prefix=prefixes["doc_prefix"],
                ),
                "doc_ids": corpus.ids,
            }
    return out


def _containers(
    task: TaskSpec, data: TaskData, emb: Mapping[str, Any], cut: Callable[[np.ndarray], np.ndarray]
):
    """Scorer inputs for each role at one width."""
    out = {}
    for role, e in emb.items():
        split = getattr(data, role)
        if isinstance(split, PairData):
            out[role] = PairSplit(cut(e["s1"]), cut(e["s2"]), split.labels)
        elif isinstance(split, LabelledData):
            out[role] = LabelledSplit(cut(e["x"]), split.labels)
        elif isinstance(split, RetrievalData):
            out[role] = RetrievalSplit(cut(e["q"]), cut(e["d"]), e["doc_ids"], split.relevant)
        else:
            out[role] = RerankingSplit(
                cut(e["q"]), cut(e["d"]), e["doc_ids"], split.candidates, split.relevance
            )
    return out


def score_task(
    task: TaskSpec, data: TaskData, emb: Mapping[str, Any], *, mode: str, dim: int | None, renormalize: bool
) -> TaskScore:
    """Score one width: JMTEB's selection on val, report on test."""
    c = _containers(task, data, emb, lambda a: truncate(a, dim, renormalize=renormalize))
    fn = _scorer(task.kind)
    kw = dict(task.score_kwargs)
    if task.kind == "classification":
        return fn(c["train"], c["val"], c["test"], mode, **kw)
    if task.kind in ("retrieval", "reranking"):
        return fn(c["val"], c["test"], mode, task.k_values, **kw)
    return fn(c["val"], c["test"], mode, **kw)


def run_task(
    task: TaskSpec,
    data_root: str | Path,
    enc: TextEncoder,
    prefixes: Mapping[str, str],
    *,
    mode: str = "official",
    dims: Sequence[int | None] = (None,),
    renormalize: bool = False,
) -> TaskOutcome:
    """Load, encode (through the cache) and score ``task`` at each width in ``dims``."""
    t0 = time.perf_counter()
    data = load_task_data(task, data_root)
    t1 = time.perf_counter()
    n0, s0 = enc.texts_encoded, enc.encode_seconds
    emb = encode_task(task, data, enc, prefixes)
    t2 = time.perf_counter()
    scores = {d: score_task(task, data, emb, mode=mode, dim=d, renormalize=renormalize) for d in dims}
    t3 = time.perf_counter()
    sizes = {
        role: len(getattr(data, role))
        for role in ("train", "val", "test")
        if getattr(data, role, None) is not None
    }
    for role in ("val", "test"):
        split = getattr(data, role)
        if isinstance(split, RetrievalData | RerankingData):
            sizes[f"{role}_corpus"] = len(split.corpus)
    timing = {
        "load_s": round(t1 - t0, 3),
        "encode_s": round(t2 - t1, 3),
        "model_encode_s": round(enc.encode_seconds - s0, 3),
        "score_s": round(t3 - t2, 3),
        "texts_encoded": enc.texts_encoded - n0,
    }
    return TaskOutcome(task, dict(prefixes), scores, timing, sizes)
