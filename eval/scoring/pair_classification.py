"""Pair classification scorer (JMTEB v1.3.3 ``PairClassificationEvaluator`` with ``ThresholdAccuracyMetric`` and
``ThresholdF1Metric``): binary F1 of a thresholded pair score, threshold and score function tuned on validation."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metrics
from ._common import check_mode, finish_details
from .similarity import pair_classification_scores
from .types import Mode, PairSplit, TaskScore

MAIN_METRIC = "binary_f1"

# JMTEB v1.3.3 (threshold_accuracy.py / threshold_f1.py) tests ``dist_metric in ["cosine_distance",
# "dot_similarities"]`` while the key produced by ``get_similarities`` is "cosine_distances": the cosine similarity
# is therefore sorted ascending and thresholded as a distance (low cosine => predicted positive).
_HIGHER_IS_SIMILAR_OFFICIAL = frozenset({"cosine_distance", "dot_similarities"})
_HIGHER_IS_SIMILAR_CORRECTED = frozenset({"cosine_distances", "dot_similarities"})


def _higher_is_similar(name: str, mode: Mode) -> bool:
    return name in (_HIGHER_IS_SIMILAR_OFFICIAL if mode == "official" else _HIGHER_IS_SIMILAR_CORRECTED)


def _labels(split: PairSplit) -> list[int]:
    labels = [int(x) for x in np.asarray(split.labels).tolist()]
    if len(set(labels)) != 2:
        raise ValueError("Support only binary classification.")
    if set(labels) != {0, 1}:
        raise ValueError(f"pair classification labels must be 0/1, got {sorted(set(labels))}")
    return labels


def _to_float(value: Any) -> float:
    return float(value)


def score_pair_classification(val: PairSplit, test: PairSplit, mode: Mode = "official") -> TaskScore:
    """Tune (score function, threshold) on validation by best binary F1; report binary F1 and accuracy on test.

    Score functions (JMTEB keys and order; the first wins ties): ``cosine_distances`` (actually 1 - paired cosine
    distance, a similarity), ``manhatten_distances``, ``euclidean_distances`` (scikit-learn ``paired_*``),
    ``dot_similarities`` (``torch.bmm``); unnormalised embeddings, the embeddings' dtype (float32 in practice).

    Validation (per score function): rows sorted by score (stable; descending for similarities, ascending for
    distances); for each cut after row i (i = 0..n-2) the first i+1 rows count as positive; the best binary F1 and,
    separately, the best accuracy are kept with the midpoint of rows i, i+1 as their thresholds (see
    :func:`metrics.best_threshold_f1`). The score function with the best validation F1 is chosen; on test its F1
    threshold gives ``binary_f1`` (``f1_score``) and its accuracy threshold gives ``accuracy``: a similarity
    ``>= threshold`` or a distance ``< threshold`` predicts 1.

    Official quirk (v1.3.3 ``src/jmteb/evaluators/pair_classification/threshold_f1.py`` and
    ``threshold_accuracy.py``: ``high_score_more_similar = True if dist_metric in ["cosine_distance",
    "dot_similarities"]`` while the key is ``"cosine_distances"``, ``helper.py``): the cosine similarity is thresholded
    as if it were a distance. ``mode="corrected"`` treats it as a similarity.

    Details: ``optimal_distance_metric``, ``val_scores`` {name: {accuracy, accuracy_threshold, binary_f1,
    binary_f1_threshold}}, ``test_scores`` {best: same keys} (+ ``mode`` for corrected runs).
    """
    check_mode(mode)
    val_labels = _labels(val)
    test_labels = _labels(test)

    val_results: dict[str, dict[str, float]] = {}
    val_thresholds: dict[str, dict[str, Any]] = {}
    for name, scores in pair_classification_scores(val.emb1, val.emb2).items():
        similar = _higher_is_similar(name, mode)
        acc, acc_threshold = metrics.best_threshold_accuracy(scores, val_labels, similar)
        f1, _, _, f1_threshold = metrics.best_threshold_f1(scores, val_labels, similar)
        val_thresholds[name] = {"accuracy_threshold": acc_threshold, "binary_f1_threshold": f1_threshold}
        val_results[name] = {
            "accuracy": acc,
            "accuracy_threshold": _to_float(acc_threshold),
            "binary_f1": f1,
            "binary_f1_threshold": _to_float(f1_threshold),
        }

    best = sorted(val_results.items(), key=lambda item: item[1][MAIN_METRIC], reverse=True)[0][0]
    # thresholds keep their dtype (float32 midpoints in practice) for the test-time comparison
    thresholds = val_thresholds[best]
    scores = pair_classification_scores(test.emb1, test.emb2)[best]
    similar = _higher_is_similar(best, mode)
    y_acc = metrics.predict_with_threshold(scores, thresholds["accuracy_threshold"], similar)
    y_f1 = metrics.predict_with_threshold(scores, thresholds["binary_f1_threshold"], similar)
    test_results = {
        best: {
            "accuracy": metrics.accuracy(test_labels, y_acc),
            "accuracy_threshold": _to_float(thresholds["accuracy_threshold"]),
            "binary_f1": metrics.binary_f1(test_labels, y_f1),
            "binary_f1_threshold": _to_float(thresholds["binary_f1_threshold"]),
        }
    }
    details = finish_details(
        {"optimal_distance_metric": best, "val_scores": val_results, "test_scores": test_results}, mode
    )
    return TaskScore(
        metric_name=MAIN_METRIC,
        metric_value=max(v[MAIN_METRIC] for v in test_results.values()),
        details=details,
    )
