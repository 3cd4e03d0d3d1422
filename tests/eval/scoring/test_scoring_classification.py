"""Classification scorer: fidelity against a plain transliteration of JMTEB v1.3.3's ClassificationEvaluator
(kNN written out in float64 loops; LogisticRegression() is the official scikit-learn call itself), and the
``average`` parsing quirk."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from eval.scoring import LabelledSplit, score_classification


def assert_close(got, expected, tol=1e-6, path="details"):
    """Recursive comparison of nested dicts of floats (same keys, values within ``tol``)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), (path, got, expected)
        for key in expected:
            assert_close(got[key], expected[key], tol, f"{path}.{key}")
    else:
        assert got == pytest.approx(expected, abs=tol), path


# ------------------------------------------------------------------ oracle


def _oracle_knn_predict(train: LabelledSplit, x: np.ndarray, k: int = 2) -> list[int]:
    def cosine_distance(a, b):
        dot = sum(float(p) * float(q) for p, q in zip(a, b))
        na = math.sqrt(sum(float(p) ** 2 for p in a))
        nb = math.sqrt(sum(float(q) ** 2 for q in b))
        return 1.0 - dot / (na * nb)

    labels = [int(v) for v in train.labels]
    preds = []
    for row in x:
        dists = sorted((cosine_distance(row, t), j) for j, t in enumerate(train.emb))
        votes: dict[int, int] = {}
        for _, j in dists[:k]:
            votes[labels[j]] = votes.get(labels[j], 0) + 1
        top = max(votes.values())
        preds.append(min(label for label, count in votes.items() if count == top))  # tie -> smallest label
    return preds


def _oracle_logreg_predict(train: LabelledSplit, x: np.ndarray) -> list[int]:
    clf = LogisticRegression()  # JMTEB's LogRegClassifier: scikit-learn defaults
    clf.fit(train.emb, [int(v) for v in train.labels])
    return [int(v) for v in clf.predict(x)]


def _oracle_metrics(y_true: list[int], y_pred: list[int]) -> dict[str, float]:
    labels = sorted(set(y_true) | set(y_pred))
    f1s = []
    for c in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == p == c)
        denom = y_true.count(c) + y_pred.count(c)
        f1s.append(2 * tp / denom if denom else 0.0)
    return {
        "accuracy": sum(1 for t, p in zip(y_true, y_pred) if t == p) / len(y_true),
        "macro_f1": sum(f1s) / len(f1s),
    }


def oracle_classification(train, val, test) -> dict:
    predictors = {"knn_cosine_k_2": _oracle_knn_predict, "logreg": _oracle_logreg_predict}
    yv, yt = [int(v) for v in val.labels], [int(v) for v in test.labels]
    val_scores = {name: _oracle_metrics(yv, predict(train, val.emb)) for name, predict in predictors.items()}
    best = "knn_cosine_k_2"
    if val_scores["logreg"]["macro_f1"] > val_scores[best]["macro_f1"]:
        best = "logreg"
    return {"best": best, "val": val_scores, "test": _oracle_metrics(yt, predictors[best](train, test.emb))}


def assert_matches_oracle(result, expected, tol=1e-6):
    assert result.metric_name == "macro_f1"
    assert result.details["optimal_classifier_name"] == expected["best"]
    assert result.metric_value == pytest.approx(expected["test"]["macro_f1"], abs=tol)
    assert_close(result.details["val_scores"], expected["val"], tol)
    assert_close(result.details["test_scores"], {expected["best"]: expected["test"]}, tol)


# ------------------------------------------------------------------ fidelity


def test_fixture_matches_oracle(classification_fixture):
    train, val = classification_fixture
    test = LabelledSplit(train.emb[:20], train.labels[:20])  # a second split so val != test
    for mode in ("official", "corrected"):
        result = score_classification(train, val, test, mode=mode)
        assert_matches_oracle(result, oracle_classification(train, val, test))
    assert_matches_oracle(score_classification(train, val, val), oracle_classification(train, val, val))


def _blobs(rng, n, centers, scale=1.2):
    labels = rng.integers(0, len(centers), n)
    emb = (centers[labels] + scale * rng.standard_normal((n, centers.shape[1]))).astype(np.float32)
    return LabelledSplit(emb, labels)


@pytest.mark.parametrize("seed", range(4))
def test_random_embeddings_match_oracle(seed):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((4, 16)) * 1.5
    # noisy blobs: both classifiers make mistakes, differently
    train, val, test = (
        _blobs(rng, 80, centers, 2.5),
        _blobs(rng, 40, centers, 2.5),
        _blobs(rng, 40, centers, 2.5),
    )
    # planted duplicates: a training point repeated with its label, and a test point equal to a training point
    train.emb[1], train.labels[1] = train.emb[0], train.labels[0]
    test.emb[0] = train.emb[5]
    result = score_classification(train, val, test)
    assert_matches_oracle(result, oracle_classification(train, val, test))


def test_knn_wins_ties_on_validation():
    # two well separated classes: both classifiers are perfect on validation, kNN (first) is kept
    rng = np.random.default_rng(3)
    centers = np.asarray([[8.0] * 8, [-8.0] * 8])
    train, val = _blobs(rng, 40, centers, 0.5), _blobs(rng, 20, centers, 0.5)
    result = score_classification(train, val, val)
    assert result.details["val_scores"]["knn_cosine_k_2"]["macro_f1"] == 1.0
    assert result.details["val_scores"]["logreg"]["macro_f1"] == 1.0
    assert result.details["optimal_classifier_name"] == "knn_cosine_k_2"


def test_details_layout_is_jmteb_and_json_serialisable(classification_fixture):
    train, val = classification_fixture
    result = score_classification(train, val, val)
    assert list(result.details) == ["optimal_classifier_name", "val_scores", "test_scores"]
    assert list(result.details["val_scores"]) == ["knn_cosine_k_2", "logreg"]
    assert list(result.details["val_scores"]["logreg"]) == ["accuracy", "macro_f1"]
    json.dumps(result.to_json())
    assert score_classification(train, val, val, mode="corrected").details["mode"] == "corrected"


# ------------------------------------------------------------------ quirk


def test_official_average_is_always_macro():
    rng = np.random.default_rng(5)
    centers = rng.standard_normal((3, 8)) * 2
    train, val = _blobs(rng, 60, centers), _blobs(rng, 30, centers)
    official = score_classification(train, val, val, average="micro, weighted")
    corrected = score_classification(train, val, val, mode="corrected", average="micro, weighted")
    # official parses the string character by character: no average name found -> macro only
    assert official.metric_name == "macro_f1"
    assert list(official.details["val_scores"]["logreg"]) == ["accuracy", "macro_f1"]
    # corrected splits on commas: micro is the main metric, weighted is also reported
    assert corrected.metric_name == "micro_f1"
    assert list(corrected.details["val_scores"]["logreg"]) == ["accuracy", "micro_f1", "weighted_f1"]
    best = corrected.details["optimal_classifier_name"]
    test_scores = corrected.details["test_scores"][best]
    assert test_scores["micro_f1"] == pytest.approx(
        test_scores["accuracy"]
    )  # single-label: micro F1 = accuracy
    # with the default "macro" both modes agree
    plain = score_classification(train, val, val, mode="corrected")
    assert plain.metric_value == score_classification(train, val, val).metric_value
