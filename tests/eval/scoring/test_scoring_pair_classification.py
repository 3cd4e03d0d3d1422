"""Pair classification scorer: fidelity against a plain float64 transliteration of JMTEB v1.3.3
(PairClassificationEvaluator + ThresholdAccuracyMetric + ThresholdF1Metric), and the cosine-direction quirk."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval.scoring import PairSplit, score_pair_classification

NAMES = ["cosine_distances", "manhatten_distances", "euclidean_distances", "dot_similarities"]
KEYS = ["accuracy", "accuracy_threshold", "binary_f1", "binary_f1_threshold"]


# ------------------------------------------------------------------ oracle (independent, loops, float64)


def _unit(v: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v] if norm > 0 else [0.0 for _ in v]  # sklearn normalize leaves zero rows


def _oracle_score(a: list[float], b: list[float], name: str) -> float:
    if name == "cosine_distances":  # 1 - 0.5 * || a/|a| - b/|b| ||^2, the cosine similarity
        ua, ub = _unit(a), _unit(b)
        return 1 - 0.5 * sum((x - y) ** 2 for x, y in zip(ua, ub))
    if name == "manhatten_distances":
        return sum(abs(x - y) for x, y in zip(a, b))
    if name == "euclidean_distances":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    return sum(x * y for x, y in zip(a, b))


def _oracle_similar(name: str, mode: str) -> bool:
    if mode == "official":
        return name in ["cosine_distance", "dot_similarities"]  # JMTEB's check; the key is "cosine_distances"
    return name in ["cosine_distances", "dot_similarities"]


def _oracle_walk(scores: list[float], labels: list[int], similar: bool):
    rows = sorted(zip(scores, labels), key=lambda r: r[0], reverse=similar)
    n_pos = sum(labels)
    best_f1, f1_thr, best_acc, acc_thr = 0.0, -1.0, 0.0, -1.0
    pos, neg_left = 0, labels.count(0)
    for i in range(len(rows) - 1):
        if rows[i][1] == 1:
            pos += 1
        else:
            neg_left -= 1
        if pos > 0:
            precision, recall = pos / (i + 1), pos / n_pos
            f1 = 2 / (1 / precision + 1 / recall)
            if f1 > best_f1:
                best_f1, f1_thr = f1, (rows[i][0] + rows[i + 1][0]) / 2
        acc = (pos + neg_left) / len(labels)
        if acc > best_acc:
            best_acc, acc_thr = acc, (rows[i][0] + rows[i + 1][0]) / 2
    return best_acc, acc_thr, best_f1, f1_thr


def _oracle_apply(scores, labels, threshold, similar):
    pred = [(0 if s < threshold else 1) if similar else (1 if s < threshold else 0) for s in scores]
    tp = sum(1 for p, t in zip(pred, labels) if p == t == 1)
    f1 = 2 * tp / (sum(pred) + sum(labels)) if sum(pred) + sum(labels) else 0.0
    acc = sum(1 for p, t in zip(pred, labels) if p == t) / len(labels)
    return acc, f1


def oracle_pair(val: PairSplit, test: PairSplit, mode: str = "official", pick=None) -> dict:
    """JMTEB's protocol in float64; ``pick`` may choose any candidate within 1e-9 of the best validation F1."""

    def scores(split, name):
        return [
            _oracle_score([float(x) for x in a], [float(x) for x in b], name)
            for a, b in zip(split.emb1, split.emb2)
        ]

    vl, tl = [int(x) for x in val.labels], [int(x) for x in test.labels]
    val_scores = {}
    for name in NAMES:
        acc, acc_thr, f1, f1_thr = _oracle_walk(scores(val, name), vl, _oracle_similar(name, mode))
        val_scores[name] = {
            "accuracy": acc,
            "accuracy_threshold": acc_thr,
            "binary_f1": f1,
            "binary_f1_threshold": f1_thr,
        }
    top = max(v["binary_f1"] for v in val_scores.values())
    acceptable = [name for name in NAMES if val_scores[name]["binary_f1"] >= top - 1e-9]
    best = pick if pick in acceptable else acceptable[0]
    similar = _oracle_similar(best, mode)
    s = scores(test, best)
    acc, _ = _oracle_apply(s, tl, val_scores[best]["accuracy_threshold"], similar)
    _, f1 = _oracle_apply(s, tl, val_scores[best]["binary_f1_threshold"], similar)
    return {"best": best, "val": val_scores, "test": {"accuracy": acc, "binary_f1": f1}}


def assert_matches_oracle(result, expected, tol=1e-6):
    assert result.metric_name == "binary_f1"
    assert result.details["optimal_distance_metric"] == expected["best"]
    assert result.metric_value == pytest.approx(expected["test"]["binary_f1"], abs=tol)
    for name in NAMES:
        got = result.details["val_scores"][name]
        assert list(got) == KEYS
        for key in KEYS:
            # thresholds are float32 midpoints in JMTEB: compare them at float32 resolution
            tolerance = tol * max(1.0, abs(expected["val"][name][key])) if key.endswith("threshold") else tol
            assert got[key] == pytest.approx(expected["val"][name][key], abs=tolerance), (name, key)
    test_scores = result.details["test_scores"][expected["best"]]
    assert test_scores["accuracy"] == pytest.approx(expected["test"]["accuracy"], abs=tol)
    assert test_scores["binary_f1"] == pytest.approx(expected["test"]["binary_f1"], abs=tol)


# ------------------------------------------------------------------ fidelity


@pytest.mark.parametrize("mode", ["official", "corrected"])
def test_fixture_matches_oracle(pair_fixture, mode):
    n = len(pair_fixture.labels)
    val = PairSplit(pair_fixture.emb1[: n // 2], pair_fixture.emb2[: n // 2], pair_fixture.labels[: n // 2])
    test = PairSplit(pair_fixture.emb1[n // 2 :], pair_fixture.emb2[n // 2 :], pair_fixture.labels[n // 2 :])
    assert_matches_oracle(score_pair_classification(val, test, mode=mode), oracle_pair(val, test, mode))
    assert_matches_oracle(
        score_pair_classification(pair_fixture, pair_fixture, mode=mode),
        oracle_pair(pair_fixture, pair_fixture, mode),
    )


def _random_split(rng, n=60, d=16):
    labels = rng.integers(0, 2, n)
    e1 = rng.standard_normal((n, d)).astype(np.float32)
    noise = rng.standard_normal((n, d)).astype(np.float32)
    e2 = np.where(labels[:, None] == 1, e1 + 0.8 * noise, noise).astype(np.float32)
    e2 *= rng.uniform(0.5, 2.0, (n, 1)).astype(np.float32)
    # planted ties: duplicated pairs with opposite labels, and a pair duplicated with the same label
    e1[1], e2[1], labels[0], labels[1] = e1[0], e2[0], 1, 0
    e1[5], e2[5], labels[4], labels[5] = e1[4], e2[4], 0, 0
    return PairSplit(e1, e2, labels)


@pytest.mark.parametrize("seed", range(4))
def test_random_embeddings_with_ties_match_oracle(seed):
    rng = np.random.default_rng(seed)
    val, test = _random_split(rng), _random_split(rng)
    for mode in ("official", "corrected"):
        assert_matches_oracle(score_pair_classification(val, test, mode=mode), oracle_pair(val, test, mode))


def test_tie_at_the_cut_is_classified_by_the_threshold_rule():
    # identical sentences: cosine is exactly 1 and the distances exactly 0 for every row, dot is [1, 1, .01, .01].
    # Every score function reaches validation F1 1.0 at the first cut (the walk counts only row 0, the positive),
    # so the first one, cosine, is kept with threshold 1.0 -- the tied value itself. On test the rule
    # "distance < 1.0 -> positive" (official) predicts nothing (F1 0); "similarity >= 1.0" (corrected) predicts
    # all four rows positive (F1 2 * 1 / (4 + 1) = 0.4).
    e = np.asarray([[1, 0], [1, 0], [0.1, 0], [0.1, 0]], dtype=np.float32)
    split = PairSplit(e, e.copy(), np.asarray([1, 0, 0, 0]))
    for mode, expected in (("official", 0.0), ("corrected", 0.4)):
        result = score_pair_classification(split, split, mode=mode)
        assert all(v["binary_f1"] == 1.0 for v in result.details["val_scores"].values())
        assert result.details["optimal_distance_metric"] == "cosine_distances"
        assert result.details["val_scores"]["cosine_distances"]["binary_f1_threshold"] == 1.0
        assert result.metric_value == pytest.approx(expected, abs=1e-12)
        assert_matches_oracle(result, oracle_pair(split, split, mode))


def test_details_layout_is_jmteb_and_json_serialisable(pair_fixture):
    result = score_pair_classification(pair_fixture, pair_fixture)
    assert list(result.details) == ["optimal_distance_metric", "val_scores", "test_scores"]
    assert list(result.details["val_scores"]) == NAMES
    assert list(result.details["test_scores"][result.details["optimal_distance_metric"]]) == KEYS
    json.dumps(result.to_json())
    assert (
        score_pair_classification(pair_fixture, pair_fixture, mode="corrected").details["mode"] == "corrected"
    )


def test_rejects_non_binary_labels(pair_fixture):
    bad = PairSplit(pair_fixture.emb1[:3], pair_fixture.emb2[:3], np.asarray([0, 1, 2]))
    with pytest.raises(ValueError):
        score_pair_classification(bad, bad)


# ------------------------------------------------------------------ quirk


def test_official_thresholds_cosine_as_a_distance():
    # positives: sentence 2 is sentence 1 slightly perturbed (cosine ~ 1); negatives: unrelated (cosine ~ 0);
    # lengths vary wildly so the distance and dot scores carry little signal
    rng = np.random.default_rng(7)
    n, d = 80, 16
    labels = np.asarray([1, 0] * (n // 2))
    e1 = rng.standard_normal((n, d)).astype(np.float32)
    e2 = np.where(labels[:, None] == 1, e1 + 0.05 * rng.standard_normal((n, d)), rng.standard_normal((n, d)))
    e2 = (e2 * rng.uniform(0.1, 10.0, (n, 1))).astype(np.float32)
    e1 = (e1 * rng.uniform(0.1, 10.0, (n, 1))).astype(np.float32)
    split = PairSplit(e1, e2, labels)
    official = score_pair_classification(split, split)
    corrected = score_pair_classification(split, split, mode="corrected")
    # corrected: high cosine -> positive separates the classes perfectly
    assert corrected.details["val_scores"]["cosine_distances"]["binary_f1"] == pytest.approx(1.0)
    assert corrected.details["optimal_distance_metric"] == "cosine_distances"
    assert corrected.metric_value == pytest.approx(1.0)
    # official: ascending cosine puts the 40 negatives first, so the best cut is the last one tried (i = 78:
    # 39 positives among 79 predicted): F1 = 2 / (79/39 + 40/39) = 78/119
    cos_official = official.details["val_scores"]["cosine_distances"]
    assert cos_official["binary_f1"] == pytest.approx(78 / 119, abs=1e-12)
    assert official.metric_value < corrected.metric_value
    assert_matches_oracle(official, oracle_pair(split, split, "official"))
    assert_matches_oracle(corrected, oracle_pair(split, split, "corrected"))
