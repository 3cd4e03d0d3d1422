"""STS scorer: fidelity against a plain float64 transliteration of JMTEB v1.3.3's STSEvaluator, and its quirk."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval.scoring import PairSplit, score_sts

NAMES = ["cosine_similarity", "manhatten_distance", "euclidean_distance", "dot_score"]


# ------------------------------------------------------------------ oracle (independent, loops, float64)


def _oracle_similarity(a: list[float], b: list[float], name: str, mode: str) -> float:
    if name == "cosine_similarity":
        na = max(math.sqrt(sum(x * x for x in a)), 1e-12)  # torch F.normalize: x / max(||x||, eps)
        nb = max(math.sqrt(sum(x * x for x in b)), 1e-12)
        return sum((x / na) * (y / nb) for x, y in zip(a, b))
    if name == "manhatten_distance":
        return -sum(abs(y - x) for x, y in zip(a, b))
    if name == "euclidean_distance":
        if mode == "official":  # -sum(sqrt((e2 - e1)^2)) per coordinate, i.e. minus the L1 distance
            return -sum(math.sqrt((y - x) ** 2) for x, y in zip(a, b))
        return -math.sqrt(sum((y - x) ** 2 for x, y in zip(a, b)))
    if name == "dot_score":
        return sum(x * y for x, y in zip(a, b))
    raise KeyError(name)


def _oracle_ranks(values: list[float]) -> list[float]:
    # average rank: 1 + (# strictly smaller) + (# equal - 1) / 2
    return [1 + sum(w < v for w in values) + (sum(w == v for w in values) - 1) / 2 for v in values]


def _oracle_pearson(x: list[float], y: list[float]) -> float:
    if len(set(x)) == 1 or len(set(y)) == 1:
        return float("nan")
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def _oracle_scores(split: PairSplit, name: str, mode: str) -> dict[str, float]:
    gold = [float(v) for v in split.labels]
    sims = [
        _oracle_similarity([float(v) for v in a], [float(v) for v in b], name, mode)
        for a, b in zip(split.emb1, split.emb2)
    ]
    p = _oracle_pearson(gold, sims)
    s = _oracle_pearson(_oracle_ranks(gold), _oracle_ranks(sims))
    return {"pearson": 0.0 if math.isnan(p) else p, "spearman": 0.0 if math.isnan(s) else s}


def oracle_sts(val: PairSplit, test: PairSplit, mode: str = "official", pick=None) -> dict:
    """JMTEB's protocol in float64. The first best candidate is kept; ``pick`` may choose another one within 1e-9
    of the best, a tie that float64 cannot decide the way JMTEB's float32 does (e.g. its "euclidean" candidate
    equals Manhattan up to float32 rounding)."""
    val_scores = {name: _oracle_scores(val, name, mode) for name in NAMES}
    top = max(v["spearman"] for v in val_scores.values())
    acceptable = [name for name in NAMES if val_scores[name]["spearman"] >= top - 1e-9]
    best = pick if pick in acceptable else acceptable[0]
    return {"best": best, "val": val_scores, "test": _oracle_scores(test, best, mode)}


def check(result, val, test, mode="official"):
    assert_matches_oracle(
        result, oracle_sts(val, test, mode, pick=result.details["optimal_similarity_metric"])
    )


def assert_matches_oracle(result, expected, tol=1e-6):
    assert result.metric_name == "spearman"
    assert result.details["optimal_similarity_metric"] == expected["best"]
    assert result.metric_value == pytest.approx(expected["test"]["spearman"], abs=tol)
    for name in NAMES:
        for key in ("pearson", "spearman"):
            assert result.details["val_scores"][name][key] == pytest.approx(
                expected["val"][name][key], abs=tol
            )
    assert result.details["test_scores"][expected["best"]] == pytest.approx(expected["test"], abs=tol)


# ------------------------------------------------------------------ fidelity


@pytest.mark.parametrize("mode", ["official", "corrected"])
def test_fixture_matches_oracle(sts_fixture, embed, mode):
    # the JSTS fixture as test; its first half with blended sentence-1 embeddings as validation
    rows = len(sts_fixture.labels)
    val = PairSplit(
        emb1=sts_fixture.emb1[: rows // 2] * 0.5 + sts_fixture.emb2[: rows // 2] * 0.5,
        emb2=sts_fixture.emb2[: rows // 2],
        labels=sts_fixture.labels[: rows // 2],
    )
    result = score_sts(val, sts_fixture, mode=mode)
    check(result, val, sts_fixture, mode)
    assert 0.0 < result.metric_value < 1.0


@pytest.mark.parametrize("seed", range(4))
def test_random_embeddings_match_oracle(seed):
    rng = np.random.default_rng(seed)
    n, d = 40, 16
    e1 = rng.standard_normal((n, d)).astype(np.float32)
    noise = rng.standard_normal((n, d)).astype(np.float32)
    gold = rng.integers(0, 6, n).astype(np.float64)  # ties in gold
    # never exactly collinear: a cosine of exactly 1 would tie in float64 but not in float32
    mix = gold[:, None] / 6
    e2 = (e1 * mix + noise * (1 - mix)).astype(np.float32) * np.float32(rng.uniform(0.5, 3))
    e2[3] = e2[2]  # duplicate pairs -> tied similarities
    e1[3] = e1[2]
    split = PairSplit(e1, e2, gold)
    for mode in ("official", "corrected"):
        check(score_sts(split, split, mode=mode), split, split, mode)


def test_constant_embeddings_give_zero_not_nan():
    # every pair identical -> every similarity constant -> scipy NaN -> JMTEB 0.0; first candidate kept
    e = np.ones((6, 8), dtype=np.float32)
    split = PairSplit(e, e.copy(), np.asarray([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]))
    result = score_sts(split, split)
    assert result.metric_value == 0.0
    assert result.details["optimal_similarity_metric"] == "cosine_similarity"
    assert all(v == {"pearson": 0.0, "spearman": 0.0} for v in result.details["val_scores"].values())
    assert_matches_oracle(result, oracle_sts(split, split))


def test_constant_gold_gives_zero():
    rng = np.random.default_rng(1)
    split = PairSplit(rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), np.full(5, 2.0))
    assert score_sts(split, split).metric_value == 0.0


def test_selection_on_val_report_on_test():
    # validation rewards dot (scale carries the signal), test rewards cosine: test must use dot anyway
    rng = np.random.default_rng(2)
    base = rng.standard_normal((30, 8)).astype(np.float32)
    noise = rng.standard_normal((30, 8)).astype(np.float32)
    gold = np.arange(30, dtype=np.float64)
    val = PairSplit(((base + noise) * (1 + gold[:, None])).astype(np.float32), base, gold)
    mix = (gold[:, None] / 30).astype(np.float32)
    test = PairSplit(base * mix + noise * (1 - mix), base, gold)
    result = score_sts(val, test)
    expected = oracle_sts(val, test)
    assert result.details["optimal_similarity_metric"] == expected["best"] == "dot_score"
    assert list(result.details["test_scores"]) == ["dot_score"]
    assert_matches_oracle(result, expected)


def test_details_layout_is_jmteb_and_json_serialisable(sts_fixture):
    result = score_sts(sts_fixture, sts_fixture)
    assert list(result.details) == ["optimal_similarity_metric", "val_scores", "test_scores"]
    assert list(result.details["val_scores"]) == NAMES
    json.dumps(result.to_json())
    corrected = score_sts(sts_fixture, sts_fixture, mode="corrected")
    assert corrected.details["mode"] == "corrected"


def test_rejects_unknown_mode(sts_fixture):
    with pytest.raises(ValueError):
        score_sts(sts_fixture, sts_fixture, mode="v2")


# ------------------------------------------------------------------ quirk


def test_official_euclidean_is_manhattan_corrected_is_l2():
    # pair A differs by (3, 4): L1 = 7, L2 = 5; pair B by (6, 0): L1 = 6, L2 = 6; pair C by (0, 1): L1 = L2 = 1
    e1 = np.zeros((3, 2), dtype=np.float32)
    e2 = np.asarray([[3, 4], [6, 0], [0, 1]], dtype=np.float32)
    gold = np.asarray([2.0, 1.0, 3.0])  # gold follows -L2 (C > A > B), not -L1 (C > B > A)
    split = PairSplit(e1, e2, gold)
    official = score_sts(split, split)
    corrected = score_sts(split, split, mode="corrected")
    off_val, cor_val = official.details["val_scores"], corrected.details["val_scores"]
    # official: the "euclidean" candidate ranks like Manhattan (rho = 0.5)
    assert off_val["euclidean_distance"] == pytest.approx(off_val["manhatten_distance"], abs=1e-12)
    assert off_val["euclidean_distance"]["spearman"] == pytest.approx(0.5)
    # corrected: true L2 ranks exactly like gold (rho = 1) and wins
    assert cor_val["euclidean_distance"]["spearman"] == pytest.approx(1.0)
    assert corrected.details["optimal_similarity_metric"] == "euclidean_distance"
    assert corrected.metric_value == pytest.approx(1.0)
    assert official.metric_value < corrected.metric_value
    assert "mode" not in official.details
