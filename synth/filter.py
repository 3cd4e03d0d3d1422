"""Cosine filter (recipe §8): keep pairs whose query-positive cosine exceeds a threshold, or the top fraction.

The paper keeps cosine > 0.7 with an unnamed scorer; the right threshold depends on the scorer
(multilingual-e5-small scores ~0.82 on unrelated Japanese sentences), hence ``keep_fraction`` (percentile mode,
per task by default) and a logged score histogram.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from synth.embedding import Side, encode
from synth.histogram import histogram, render, score_edges

log = logging.getLogger(__name__)

DEFAULT_SIDES: dict[str, tuple[Side, Side]] = {
    "retrieval": (Side("query"), Side("document")),
    "bitext": (Side("query"), Side("query")),
    "sts": (Side("query"), Side("query")),
    "classification": (Side("query"), Side("query")),
}


def task_family(task: str) -> str:
    """``classification/topic`` -> ``classification``."""
    return task.split("/", 1)[0]


def score_records(
    records: Sequence[Mapping],
    model,
    sides: Mapping[str, tuple[Side, Side]] | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Cosine of each record's query and positive, encoded with its task family's sides."""
    sides = {**DEFAULT_SIDES, **(sides or {})}
    scores = np.zeros(len(records), dtype=np.float32)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        groups[task_family(rec["task"])].append(i)
    for family, idx in groups.items():
        q_side, d_side = sides.get(family, (Side("query"), Side("query")))
        q = encode(model, [records[i]["query"] for i in idx], q_side, batch_size)
        d = encode(model, [_first(records[i]["positive"]) for i in idx], d_side, batch_size)
        scores[idx] = np.sum(q * d, axis=1)
    return scores


def _first(positive) -> str:
    return positive[0] if isinstance(positive, list | tuple) else positive


def select(
    records: Sequence[Mapping],
    scores: np.ndarray,
    threshold: float | None = None,
    keep_fraction: float | None = None,
    per_task: bool = True,
) -> np.ndarray:
    """Boolean keep-mask: ``score > threshold``, or the best ``ceil(keep_fraction * n)`` (per task), or both."""
    if keep_fraction is not None and not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    keep = np.ones(len(records), dtype=bool)
    if threshold is not None:
        keep &= scores > threshold
    if keep_fraction is not None:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, rec in enumerate(records):
            groups[rec["task"] if per_task else ""].append(i)
        top = np.zeros(len(records), dtype=bool)
        for idx in groups.values():
            n_keep = math.ceil(keep_fraction * len(idx))
            order = sorted(idx, key=lambda i: (-float(scores[i]), i))
            top[order[:n_keep]] = True
        keep &= top
    return keep


def filter_report(records: Sequence[Mapping], scores: np.ndarray, keep: np.ndarray, **settings) -> dict:
    """Counts kept per task, score quantiles and a histogram (also logged as text bars)."""
    lo = min(0.0, math.floor(float(scores.min(initial=0.0)) / 0.05) * 0.05)
    hist = histogram(scores, score_edges(0.05, lo, 1.0)) if len(scores) else []
    per_task: dict[str, dict] = {}
    for task in sorted({r["task"] for r in records}):
        idx = [i for i, r in enumerate(records) if r["task"] == task]
        s = scores[idx]
        per_task[task] = {
            "total": len(idx),
            "kept": int(keep[idx].sum()),
            "score_mean": round(float(s.mean()), 4),
            "score_quantiles": {q: round(float(np.quantile(s, q)), 4) for q in (0.1, 0.25, 0.5, 0.75, 0.9)},
        }
    if hist:
        log.info(
            "cosine score histogram (%d pairs, %d kept):\n%s", len(scores), int(keep.sum()), render(hist)
        )
    return {
        "settings": settings,
        "total": len(records),
        "kept": int(keep.sum()),
        "per_task": per_task,
        "histogram": hist,
    }
