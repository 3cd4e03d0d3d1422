"""Clustering scorer: fidelity against a plain transliteration of JMTEB v1.3.3's ClusteringEvaluator (the four
scikit-learn clusterers are the official calls themselves; V-measure written out in float64 loops), and the
``n_clusters`` quirk."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, Birch, BisectingKMeans, MiniBatchKMeans

from eval.scoring import LabelledSplit, score_clustering

NAMES = ["MiniBatchKMeans", "AgglomerativeClustering", "BisectingKMeans", "Birch"]


def assert_close(got, expected, tol=1e-6, path="details"):
    """Recursive comparison of nested dicts of floats (same keys, values within ``tol``)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), (path, got, expected)
        for key in expected:
            assert_close(got[key], expected[key], tol, f"{path}.{key}")
    else:
        assert got == pytest.approx(expected, abs=tol), path


# ------------------------------------------------------------------ oracle


def _oracle_v_measure(y_true: list[int], y_pred: list[int]) -> dict[str, float]:
    n = len(y_true)
    ct, cp, joint = Counter(y_true), Counter(y_pred), Counter(zip(y_true, y_pred))
    h_true = -sum(c / n * math.log(c / n) for c in ct.values())
    h_pred = -sum(c / n * math.log(c / n) for c in cp.values())
    mi = sum(c / n * math.log(n * c / (ct[t] * cp[p])) for (t, p), c in joint.items())
    h = mi / h_true if h_true else 1.0
    c = mi / h_pred if h_pred else 1.0
    v = 2 * h * c / (h + c) if h + c else 0.0
    return {"v_measure_score": v, "homogeneity_score": h, "completeness_score": c}


def _oracle_model(name: str, n_clusters: int, seed):
    return {
        "MiniBatchKMeans": lambda: MiniBatchKMeans(n_clusters=n_clusters, n_init="auto", random_state=seed),
        "AgglomerativeClustering": lambda: AgglomerativeClustering(n_clusters=n_clusters),
        "BisectingKMeans": lambda: BisectingKMeans(n_clusters=n_clusters, random_state=seed),
        "Birch": lambda: Birch(n_clusters=n_clusters),
    }[name]()


def oracle_clustering(
    val: LabelledSplit, test: LabelledSplit, mode: str = "official", seed=0, pick=None
) -> dict:
    """JMTEB's protocol; ``pick`` resolves rounding-level ties (several perfect clusterings can score 1.0 or
    1 - 1e-16 depending on the label arithmetic): any candidate within 1e-9 of the best is acceptable."""
    n_test = len(set(int(v) for v in test.labels))
    n_val = n_test if mode == "official" else len(set(int(v) for v in val.labels))
    val_scores = {}
    for name in NAMES:
        pred = _oracle_model(name, n_val, seed).fit_predict(val.emb)
        val_scores[name] = _oracle_v_measure([int(v) for v in val.labels], [int(v) for v in pred])
    top = max(v["v_measure_score"] for v in val_scores.values())
    acceptable = [name for name in NAMES if val_scores[name]["v_measure_score"] >= top - 1e-9]
    best = pick if pick in acceptable else acceptable[0]
    pred = _oracle_model(best, n_test, seed).fit_predict(test.emb)
    test_scores = _oracle_v_measure([int(v) for v in test.labels], [int(v) for v in pred])
    return {"best": best, "acceptable": acceptable, "val": val_scores, "test": test_scores}


def check(result, val, test, mode="official", seed=0, tol=1e-6):
    expected = oracle_clustering(val, test, mode, seed, pick=result.details["optimal_clustering_model_name"])
    assert_matches_oracle(result, expected, tol)


def assert_matches_oracle(result, expected, tol=1e-6):
    assert result.metric_name == "v_measure_score"
    assert result.details["optimal_clustering_model_name"] == expected["best"]
    assert result.metric_value == pytest.approx(expected["test"]["v_measure_score"], abs=tol)
    assert list(result.details["val_scores"]) == NAMES
    assert_close(result.details["val_scores"], expected["val"], tol)
    assert_close(result.details["test_scores"], {expected["best"]: expected["test"]}, tol)


# ------------------------------------------------------------------ fidelity


@pytest.mark.parametrize("mode", ["official", "corrected"])
def test_fixture_matches_oracle(clustering_fixture, mode):
    val = LabelledSplit(clustering_fixture.emb[:30], clustering_fixture.labels[:30])
    check(score_clustering(val, clustering_fixture, mode=mode), val, clustering_fixture, mode)


@pytest.mark.parametrize("seed", range(3))
def test_random_embeddings_match_oracle(seed):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((4, 16)) * 3

    def blobs(n):
        labels = rng.integers(0, 4, n)
        return LabelledSplit((centers[labels] + rng.standard_normal((n, 16))).astype(np.float32), labels)

    val, test = blobs(60), blobs(60)
    test.emb[1] = test.emb[0]  # duplicate points
    result = score_clustering(val, test, random_seed=seed)
    check(result, val, test, seed=seed)


def test_seeded_runs_are_deterministic(clustering_fixture):
    a = score_clustering(clustering_fixture, clustering_fixture)
    b = score_clustering(clustering_fixture, clustering_fixture)
    assert a.to_json() == b.to_json()
    json.dumps(a.to_json())
    assert list(a.details) == ["optimal_clustering_model_name", "val_scores", "test_scores"]
    assert list(a.details["val_scores"]["Birch"]) == [
        "v_measure_score",
        "homogeneity_score",
        "completeness_score",
    ]


# ------------------------------------------------------------------ quirk


def test_official_clusters_validation_with_the_test_label_count():
    # validation has 2 well separated groups, test has 4: official clusters validation into 4 clusters (each group
    # split -> homogeneity 1, completeness < 1), corrected into 2 (perfect)
    rng = np.random.default_rng(11)
    centers = np.asarray([[10.0, 0.0], [-10.0, 0.0], [0.0, 10.0], [0.0, -10.0]])
    val_labels = np.repeat([0, 1], 20)
    val = LabelledSplit((centers[val_labels] + rng.standard_normal((40, 2))).astype(np.float32), val_labels)
    test_labels = np.repeat([0, 1, 2, 3], 10)
    test = LabelledSplit(
        (centers[test_labels] + rng.standard_normal((40, 2))).astype(np.float32), test_labels
    )
    official = score_clustering(val, test)
    corrected = score_clustering(val, test, mode="corrected")
    for name in NAMES:
        assert official.details["val_scores"][name]["homogeneity_score"] == pytest.approx(1.0)
        assert official.details["val_scores"][name]["completeness_score"] < 0.9
        assert corrected.details["val_scores"][name]["v_measure_score"] == pytest.approx(1.0)
    assert corrected.details["mode"] == "corrected"
    check(official, val, test, "official")
    check(corrected, val, test, "corrected")
