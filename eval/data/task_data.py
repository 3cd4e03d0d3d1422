"""Load every split of a task (local files or hub), map labels consistently across splits, subsample if asked."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .hub import hub_rows
from .labels import check_class_values, label_mapping
from .loaders import read_corpus, read_labelled, read_pairs, read_reranking, read_retrieval
from .records import Corpus, LabelledData, PairData, RawLabels, RerankingData, RetrievalData

if TYPE_CHECKING:
    from ..tasks import Ref, TaskSpec

SplitData = PairData | LabelledData | RetrievalData | RerankingData


@dataclass
class TaskData:
    """The loaded splits of one task; ``train`` only for classification."""

    val: SplitData
    test: SplitData
    train: LabelledData | None = None


def _source(ref: Ref, root: Path):
    return hub_rows(ref.path, ref.split or "") if ref.where == "hub" else root / ref.path


def sample_rows(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded sample of ``limit`` out of ``n`` rows (all rows when ``limit`` is None)."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.asarray(random.Random(seed).sample(range(n), limit)))


def _load_simple(task: TaskSpec, root: Path) -> TaskData:
    """STS / pair / classification / clustering: read the raw columns, then one label mapping for all splits."""
    cache: dict[Ref, tuple] = {}
    raw: dict[str, tuple] = {}
    for split, roles in task.splits.items():
        ref = roles["data"]
        if ref not in cache:
            source = _source(ref, root)
            cache[ref] = (
                read_pairs(source, task.fields)
                if task.kind in ("sts", "pair")
                else read_labelled(source, task.fields)
            )
        raw[split] = cache[ref]
    labels_of = {split: cols[-1] for split, cols in raw.items()}
    if task.kind == "sts":
        mapping = None
    elif task.label_map is not None:
        mapping = {str(k): int(v) for k, v in task.label_map.items()}
    else:
        for lab in labels_of.values():
            check_class_values(lab.values, lab.lines, lab.field, lab.path)
        mapping = label_mapping(v for lab in labels_of.values() for v in lab.values)
    out: dict[str, SplitData] = {}
    for split, cols in raw.items():
        limit = limit_for(task, split, "rows")
        idx = sample_rows(len(cols[0]), limit, task.seed)
        labels: RawLabels = cols[-1].take(idx)
        y = labels.as_float() if task.kind == "sts" else labels.as_class(mapping)
        if task.kind in ("sts", "pair"):
            out[split] = PairData([cols[0][i] for i in idx], [cols[1][i] for i in idx], y, labels.path)
        else:
            out[split] = LabelledData([cols[0][i] for i in idx], y, labels.path)
    return TaskData(out["val"], out["test"], out.get("train"))  # type: ignore[arg-type]


def limit_for(task: TaskSpec, role: str, what: str) -> int | None:
    """The row cap of one split: ``max_<role>_<what>`` (e.g. ``max_val_rows``) over ``max_<what>``;
    ``max_train`` for the classification train split."""
    if role == "train":
        return task.subsample.get("max_train")
    return task.subsample.get(f"max_{role}_{what}", task.subsample.get(f"max_{what}"))


def _subsample_queries(
    data: RetrievalData | RerankingData, task: TaskSpec, role: str
) -> RetrievalData | RerankingData:
    """Keep the split's query cap and a corpus of their relevant docs plus seeded others up to ``max_corpus``."""
    idx = sample_rows(len(data), limit_for(task, role, "queries"), task.seed)
    if isinstance(data, RetrievalData):
        relevant = [data.relevant[i] for i in idx]
        needed = list(dict.fromkeys(d for docs in relevant for d in docs))
        max_corpus = limit_for(task, role, "corpus")
        needed_set = set(needed)
        others = [d for d in data.corpus.ids if d not in needed_set]
        extra = max(0, (max_corpus or len(data.corpus)) - len(needed))
        keep_set = set(needed) | set(random.Random(task.seed).sample(others, min(extra, len(others))))
        corpus = data.corpus.subset([d for d in data.corpus.ids if d in keep_set], data.corpus.tag + "~sub")
        return RetrievalData(
            [data.qids[i] for i in idx], [data.queries[i] for i in idx], relevant, corpus, data.source
        )
    candidates = [data.candidates[i] for i in idx]
    keep_set = {d for docs in candidates for d in docs}
    corpus = data.corpus.subset([d for d in data.corpus.ids if d in keep_set], data.corpus.tag + "~sub")
    return RerankingData(
        [data.qids[i] for i in idx],
        [data.queries[i] for i in idx],
        candidates,
        [data.relevance[i] for i in idx],
        corpus,
        data.source,
    )


def _same_caps(task: TaskSpec) -> bool:
    """Val and test get the same query/corpus caps (then a val = test task keeps one subsample)."""
    return all(limit_for(task, "val", w) == limit_for(task, "test", w) for w in ("queries", "corpus"))


def _load_search(task: TaskSpec, root: Path) -> TaskData:
    """Retrieval / reranking: corpora loaded once per distinct file, queries checked against theirs."""
    corpora: dict[Ref, Corpus] = {}
    loaded: dict[tuple[Ref, Ref], RetrievalData | RerankingData] = {}
    out: dict[str, RetrievalData | RerankingData] = {}
    for split, roles in task.splits.items():
        cref, qref = roles["corpus"], roles["queries"]
        if cref not in corpora:
            corpora[cref] = read_corpus(_source(cref, root), task.fields, tag=cref.tag)
        key = (qref, cref)
        if key not in loaded:
            reader = read_retrieval if task.kind == "retrieval" else read_reranking
            loaded[key] = reader(_source(qref, root), corpora[cref], task.fields)
        data = loaded[key]
        if task.subsample:
            reuse = split == "test" and task.val_is_test and _same_caps(task)
            data = out["val"] if reuse else _subsample_queries(data, task, split)
        out[split] = data
    return TaskData(out["val"], out["test"])


def load_task_data(task: TaskSpec, data_root: str | Path) -> TaskData:
    """All splits of ``task``; raises ``DataError`` (file, line, field) on any bad input."""
    root = Path(data_root)
    if task.kind in ("retrieval", "reranking"):
        return _load_search(task, root)
    return _load_simple(task, root)
