"""STS scorer (JMTEB v1.3.3 ``STSEvaluator``): Spearman of pairwise similarities against gold scores."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from . import metrics
from ._common import check_mode, finish_details
from .similarity import (
    pairwise_cosine,
    pairwise_dot,
    pairwise_neg_euclidean,
    pairwise_neg_euclidean_official,
    pairwise_neg_manhattan,
    to_tensor,
)
from .types import Mode, PairSplit, TaskScore

MAIN_METRIC = "spearman"


def _candidates(mode: Mode) -> dict[str, Callable[[Tensor, Tensor], Tensor]]:
    return {
        "cosine_similarity": pairwise_cosine,
        "manhatten_distance": pairwise_neg_manhattan,
        "euclidean_distance": pairwise_neg_euclidean_official
        if mode == "official"
        else pairwise_neg_euclidean,
        "dot_score": pairwise_dot,
    }


def _evaluate(split: PairSplit, sim: Callable[[Tensor, Tensor], Tensor]) -> dict[str, float]:
    scores = sim(to_tensor(split.emb1), to_tensor(split.emb2))
    if scores.dtype in (torch.bfloat16, torch.float16):
        scores = scores.float()
    predicted = scores.numpy()
    gold = [float(x) for x in split.labels]
    return {
        "pearson": metrics.nan_to_zero(metrics.pearson(gold, predicted)),
        "spearman": metrics.nan_to_zero(metrics.spearman(gold, predicted)),
    }


def score_sts(val: PairSplit, test: PairSplit, mode: Mode = "official") -> TaskScore:
    """Pick the similarity with the best validation Spearman, report it on test.

    Candidates (in order; the first wins ties): ``cosine_similarity``, ``manhatten_distance`` (-L1),
    ``euclidean_distance``, ``dot_score``, computed in torch in the embeddings' dtype, unnormalised. Pearson and
    Spearman (scipy semantics, average ranks) are reported; NaN (constant input) becomes 0.0.

    Official quirk (v1.3.3 ``src/jmteb/evaluators/sts/evaluator.py``, ``PairwiseSimilarities.
    negative_euclidean_distance``: ``-torch.sqrt(torch.square(e2 - e1)).sum(dim=1)``): the "euclidean_distance"
    candidate is minus the Manhattan distance (square root per coordinate before the sum), so it duplicates the
    Manhattan candidate up to float32 rounding. ``mode="corrected"`` uses -sqrt(sum (e2 - e1)^2).

    Details: ``optimal_similarity_metric``, ``val_scores`` {name: {pearson, spearman}}, ``test_scores`` {best: ...}
    (+ ``mode`` for corrected runs).
    """
    check_mode(mode)
    candidates = _candidates(mode)
    val_results = {name: _evaluate(val, sim) for name, sim in candidates.items()}
    # Python's sort is stable: among equal validation scores the earlier candidate wins, as in JMTEB.
    best = sorted(val_results.items(), key=lambda item: item[1][MAIN_METRIC], reverse=True)[0][0]
    test_results = {best: _evaluate(test, candidates[best])}
    details = finish_details(
        {"optimal_similarity_metric": best, "val_scores": val_results, "test_scores": test_results}, mode
    )
    return TaskScore(metric_name=MAIN_METRIC, metric_value=test_results[best][MAIN_METRIC], details=details)
