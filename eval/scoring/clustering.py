"""Clustering scorer (JMTEB v1.3.3 ``ClusteringEvaluator``): four scikit-learn clusterers, chosen on validation by
V-measure, reported on test."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import ClusterMixin
from sklearn.cluster import AgglomerativeClustering, Birch, BisectingKMeans, MiniBatchKMeans

from . import metrics
from ._common import check_mode, finish_details
from .types import LabelledSplit, Mode, TaskScore

MAIN_METRIC = "v_measure_score"
DEFAULT_SEED = 0


def clusterers(n_clusters: int, random_seed: int | None) -> dict[str, Callable[[], ClusterMixin]]:
    """JMTEB's clusterers, in order (the first wins ties), each built fresh per fit."""
    return {
        "MiniBatchKMeans": lambda: MiniBatchKMeans(
            n_clusters=n_clusters, n_init="auto", random_state=random_seed
        ),
        "AgglomerativeClustering": lambda: AgglomerativeClustering(n_clusters=n_clusters),
        "BisectingKMeans": lambda: BisectingKMeans(n_clusters=n_clusters, random_state=random_seed),
        "Birch": lambda: Birch(n_clusters=n_clusters),
    }


def _evaluate(emb: np.ndarray, labels: list, model: ClusterMixin) -> dict[str, float]:
    pred = model.fit_predict(emb)
    h, c, v = metrics.homogeneity_completeness_v_measure(np.asarray(labels), pred)
    return {"v_measure_score": v, "homogeneity_score": h, "completeness_score": c}


def score_clustering(
    val: LabelledSplit,
    test: LabelledSplit,
    mode: Mode = "official",
    *,
    random_seed: int | None = DEFAULT_SEED,
) -> TaskScore:
    """Cluster validation with each clusterer, keep the best V-measure, re-fit it on test and report V-measure.

    Clusterers: ``MiniBatchKMeans(n_init="auto")``, ``AgglomerativeClustering()`` (ward), ``BisectingKMeans()``,
    ``Birch()``, all with ``n_clusters`` = number of distinct labels, fit on the unnormalised embeddings.

    Seeds: JMTEB's ``random_seed`` defaults to None and no v1 task config sets it, so the published MiniBatchKMeans /
    BisectingKMeans results are unseeded (they vary from run to run; Agglomerative and Birch are deterministic). We
    default to ``random_seed=0`` for reproducible runs; pass ``None`` to mimic the unseeded original.

    Official quirk (v1.3.3 ``src/jmteb/evaluators/clustering/evaluator.py``, ``n_clusters = len(set(test_labels))``):
    the number of clusters comes from the *test* labels and is also used to cluster validation. ``mode="corrected"``
    uses each split's own number of labels.

    Details: ``optimal_clustering_model_name``, ``val_scores`` {name: {v_measure_score, homogeneity_score,
    completeness_score}}, ``test_scores`` {best: ...} (+ ``mode`` for corrected runs).
    """
    check_mode(mode)
    val_labels = np.asarray(val.labels).tolist()
    test_labels = np.asarray(test.labels).tolist()
    n_test = len(set(test_labels))
    n_val = n_test if mode == "official" else len(set(val_labels))

    val_models = clusterers(n_val, random_seed)
    val_results = {
        name: _evaluate(np.asarray(val.emb), val_labels, make()) for name, make in val_models.items()
    }
    best = sorted(val_results.items(), key=lambda item: item[1][MAIN_METRIC], reverse=True)[0][0]
    test_results = {
        best: _evaluate(np.asarray(test.emb), test_labels, clusterers(n_test, random_seed)[best]())
    }
    details = finish_details(
        {"optimal_clustering_model_name": best, "val_scores": val_results, "test_scores": test_results}, mode
    )
    return TaskScore(metric_name=MAIN_METRIC, metric_value=test_results[best][MAIN_METRIC], details=details)
