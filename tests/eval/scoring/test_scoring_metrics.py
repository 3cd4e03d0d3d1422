"""Unit tests of ``eval.scoring.metrics``: hand-computed tiny cases and agreement with scikit-learn / scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import pearsonr, rankdata, spearmanr
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    homogeneity_completeness_v_measure,
    mutual_info_score,
    ndcg_score,
    v_measure_score,
)

from eval.scoring import metrics as m

# --------------------------------------------------------------------------- correlation


def test_rankdata_average_by_hand():
    # sorted: 10 -> rank 1; the two 20s share ranks 2 and 3 -> 2.5 each; 30 -> rank 4
    assert m.rankdata_average([20, 10, 30, 20]).tolist() == [2.5, 1.0, 4.0, 2.5]


def test_pearson_by_hand():
    # x - mean = [-1, 0, 1]; y - mean(13/3) = [-7/3, -1/3, 8/3]; sum xy = 7/3 + 8/3 = 5;
    # sum x^2 = 2; sum y^2 = (49 + 1 + 64) / 9 = 114/9  ->  r = 5 / sqrt(2 * 114 / 9) = 15 / sqrt(228)
    assert m.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(15 / math.sqrt(228), abs=1e-15)


def test_spearman_by_hand():
    # ranks equal the values; d = [0, 1, 1, 0]; rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    assert m.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8, abs=1e-15)
    # a tie: x ranks [1, 2.5, 2.5, 4], y ranks [1, 2, 3, 4] -> Pearson of the ranks
    assert m.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(spearmanr([1, 2, 2, 3], [1, 2, 3, 4])[0])


def test_constant_input_is_nan_then_zero():
    assert math.isnan(m.pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(m.spearman([0.1, 0.2, 0.3], [0.7, 0.7, 0.7]))
    # 0.1 repeated: its float mean is not exactly 0.1, the constancy check must still give NaN
    assert math.isnan(m.pearson([0.1] * 7, list(range(7))))
    assert m.nan_to_zero(float("nan")) == 0.0
    assert m.nan_to_zero(0.25) == 0.25


@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, 40).astype(np.float64)  # many ties, like STS gold scores
    y = rng.standard_normal(40).astype(np.float32)
    y[:5] = y[5]  # tied predictions
    assert m.rankdata_average(y).tolist() == rankdata(y).tolist()
    assert m.pearson(x, y) == pytest.approx(pearsonr(x, y)[0], abs=1e-12)
    assert m.spearman(x, y) == pytest.approx(spearmanr(x, y)[0], abs=1e-12)


# --------------------------------------------------------------------------- classification


def test_f1_by_hand():
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0]
    # class 0: tp 1, 2 true, 2 predicted -> 2/4; class 1: tp 2, 2 true, 3 predicted -> 4/5; class 2: 0
    assert m.macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8 + 0.0) / 3, abs=1e-15)
    assert m.f1(y_true, y_pred, "weighted") == pytest.approx((0.5 * 2 + 0.8 * 2) / 5, abs=1e-15)
    assert m.f1(y_true, y_pred, "micro") == pytest.approx(3 / 5, abs=1e-15)
    assert m.binary_f1([0, 1, 1, 0], [1, 1, 0, 0]) == pytest.approx(
        0.5, abs=1e-15
    )  # tp 1, 2 true, 2 predicted
    assert m.accuracy(y_true, y_pred) == pytest.approx(0.6, abs=1e-15)


def test_macro_f1_counts_labels_only_predicted():
    # label 3 never occurs in y_true but is predicted once: it enters the macro mean with F1 0 (sklearn)
    y_true, y_pred = [0, 0, 1, 1], [0, 3, 1, 1]
    assert m.macro_f1(y_true, y_pred) == pytest.approx(f1_score(y_true, y_pred, average="macro"), abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 4, 60)
    y_pred = np.where(rng.random(60) < 0.6, y_true, rng.integers(0, 5, 60))
    for avg in ("macro", "micro", "weighted"):
        assert m.f1(y_true, y_pred, avg) == pytest.approx(f1_score(y_true, y_pred, average=avg), abs=1e-12)
    yb, pb = y_true % 2, y_pred % 2
    assert m.binary_f1(yb, pb) == pytest.approx(f1_score(yb, pb), abs=1e-12)
    assert m.accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-15)


def test_f1_rejects_unknown_average():
    with pytest.raises(ValueError):
        m.f1([0, 1], [0, 1], average="samples")


# --------------------------------------------------------------------------- clustering


def test_v_measure_by_hand():
    # true [0,0,1,1], pred [0,0,0,1]: H(true) = ln 2; H(pred) = -(3/4 ln 3/4 + 1/4 ln 1/4);
    # MI = 1/2 ln(4*2/(2*3)) + 1/4 ln(4*1/(2*3)) + 1/4 ln(4*1/(2*1))
    h_true = math.log(2)
    h_pred = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    mi = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    h, c = mi / h_true, mi / h_pred
    got = m.homogeneity_completeness_v_measure([0, 0, 1, 1], [0, 0, 0, 1])
    assert got == pytest.approx((h, c, 2 * h * c / (h + c)), abs=1e-15)
    assert m.mutual_info([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(mi, abs=1e-15)
    assert m.entropy([0, 0, 0, 1]) == pytest.approx(h_pred, abs=1e-15)


def test_v_measure_edge_cases():
    assert m.v_measure([0, 0, 1, 1], [5, 5, 7, 7]) == pytest.approx(1.0)  # a relabelling is perfect
    assert m.homogeneity_completeness_v_measure([0, 0, 1, 1], [0, 0, 0, 0]) == (0.0, 1.0, 0.0)
    assert m.homogeneity_completeness_v_measure([0, 0, 0], [0, 1, 2]) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_clustering_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 5, 80)
    p = np.where(rng.random(80) < 0.5, t, rng.integers(0, 7, 80))
    ours = m.homogeneity_completeness_v_measure(t, p)
    assert ours == pytest.approx(homogeneity_completeness_v_measure(t, p), abs=1e-12)
    assert m.v_measure(t, p) == pytest.approx(v_measure_score(t, p), abs=1e-12)
    assert m.mutual_info(t, p) == pytest.approx(mutual_info_score(t, p), abs=1e-12)


def test_v_measure_is_bit_identical_to_sklearn():
    # candidates are chosen by strict comparison, so two perfect clusterings that score 1.0 vs 1 - 1e-16 must be
    # decided exactly as scikit-learn's arithmetic decides them
    rng = np.random.default_rng(0)
    for _ in range(150):
        n = int(rng.integers(2, 60))
        t = rng.integers(0, int(rng.integers(1, 6)), n)
        p = (
            rng.permutation(10)[t]
            if rng.random() < 0.5
            else np.where(rng.random(n) < 0.7, t, rng.integers(0, 7, n))
        )
        assert m.homogeneity_completeness_v_measure(t, p) == homogeneity_completeness_v_measure(t, p)


def test_f1_is_bit_identical_to_sklearn():
    rng = np.random.default_rng(1)
    for _ in range(80):
        n = int(rng.integers(2, 60))
        t = rng.integers(0, 4, n)
        p = np.where(rng.random(n) < 0.6, t, rng.integers(0, 4, n))
        assert m.macro_f1(t, p) == f1_score(t, p, average="macro", zero_division=0.0)
        assert m.binary_f1(t % 2, p % 2) == f1_score(t % 2, p % 2, zero_division=0.0)


# --------------------------------------------------------------------------- thresholds


def test_best_threshold_f1_similarity_by_hand():
    scores = np.asarray([0.9, 0.8, 0.7, 0.6, 0.5], dtype=np.float32)
    labels = [1, 0, 1, 1, 0]
    # descending walk: i=0 P=1 R=1/3 F1=.5 (thr .85); i=1 .4; i=2 P=R=2/3 F1=2/3 (thr .65);
    # i=3 P=3/4 R=1 F1=6/7 (thr .55); the last row (i=4) is never a cut
    f1, p, r, thr = m.best_threshold_f1(scores, labels, high_score_more_similar=True)
    assert (f1, p, r) == pytest.approx((6 / 7, 0.75, 1.0), abs=1e-15)
    assert thr == (np.float32(0.6) + np.float32(0.5)) / 2 and isinstance(thr, np.float32)
    # accuracy walk: .6 (thr .85), .4, .6 (not strictly better), .8 (thr .55)
    acc, thr_acc = m.best_threshold_accuracy(scores, labels, high_score_more_similar=True)
    assert acc == pytest.approx(0.8, abs=1e-15) and thr_acc == pytest.approx(0.55, abs=1e-7)


def test_best_threshold_f1_distance_by_hand():
    scores = np.asarray([0.9, 0.8, 0.7, 0.6, 0.5], dtype=np.float32)
    labels = [1, 0, 1, 1, 0]
    # ascending rows: .5(0) .6(1) .7(1) .8(0) .9(1); i=0 F1 0; i=1 P=1/2 R=1/3 -> .4; i=2 P=R=2/3 -> 2/3 (thr .75);
    # i=3 P=1/2 R=2/3 -> 4/7 (worse)
    f1, p, r, thr = m.best_threshold_f1(scores, labels, high_score_more_similar=False)
    assert (f1, p, r) == pytest.approx((2 / 3, 2 / 3, 2 / 3), abs=1e-15)
    assert thr == pytest.approx(0.75, abs=1e-7)
    assert m.predict_with_threshold(scores, thr, False).tolist() == [0, 0, 1, 1, 1]
    assert m.predict_with_threshold(scores, thr, True).tolist() == [1, 1, 0, 0, 0]


def test_threshold_on_a_tie_is_the_tied_value():
    # rows (0.5, 1), (0.5, 0): the only cut counts one positive (F1 1.0), but the threshold is 0.5 itself,
    # and the test-time rule (similarity >= 0.5 -> 1) labels both rows positive (F1 2/3): JMTEB behaviour
    scores = np.asarray([0.5, 0.5], dtype=np.float32)
    f1, _, _, thr = m.best_threshold_f1(scores, [1, 0], high_score_more_similar=True)
    assert f1 == 1.0 and thr == np.float32(0.5)
    assert m.binary_f1([1, 0], m.predict_with_threshold(scores, thr, True)) == pytest.approx(2 / 3)


def test_threshold_no_positive_cut_gives_minus_one():
    f1, _, _, thr = m.best_threshold_f1(np.asarray([0.1, 0.2, 0.3]), [0, 0, 1], high_score_more_similar=False)
    assert f1 == 0.0 and thr == -1


# --------------------------------------------------------------------------- ranking

RELEVANT = [["a"], ["b", "c"], []]
RETRIEVED = [["x", "a", "y"], ["b", "z", "c"], ["a", "b"]]


def test_accuracy_mrr_by_hand():
    # q1 hit at rank 2, q2 at rank 1, q3 has no relevant doc (0, but counted by JMTEB)
    assert m.accuracy_at_k(RELEVANT, RETRIEVED, 2) == pytest.approx(2 / 3)
    assert m.accuracy_at_k(RELEVANT, RETRIEVED, 2, skip_empty=True) == pytest.approx(1.0)
    assert m.accuracy_at_k(RELEVANT, RETRIEVED, 1) == pytest.approx(1 / 3)
    assert m.mrr_at_k(RELEVANT, RETRIEVED, 3) == pytest.approx((1 / 2 + 1) / 3)
    assert m.mrr_at_k(RELEVANT, RETRIEVED, 3, skip_empty=True) == pytest.approx((1 / 2 + 1) / 2)


def test_ndcg_binary_by_hand():
    lg3 = math.log2(3)
    # k=2: q1 DCG 1/log2 3, IDCG 1; q2 DCG 1 (c is at rank 3), IDCG 1 + 1/log2 3 (2 relevant); q3 counts 0
    assert m.ndcg_at_k_binary(RELEVANT, RETRIEVED, 2) == pytest.approx((1 / lg3 + 1 / (1 + 1 / lg3)) / 3)
    # k=1: JMTEB's IDCG still sums over both relevant docs of q2 (uncapped); capped IDCG is 1
    assert m.ndcg_at_k_binary(RELEVANT, RETRIEVED, 1) == pytest.approx((0 + 1 / (1 + 1 / lg3)) / 3)
    assert m.ndcg_at_k_binary(RELEVANT, RETRIEVED, 1, cap_idcg=True) == pytest.approx(1 / 3)
    assert m.ndcg_at_k_binary(RELEVANT, RETRIEVED, 1, cap_idcg=True, skip_empty=True) == pytest.approx(1 / 2)


def test_ndcg_graded_by_hand():
    assert m.ndcg_at_k_graded([[3, 2, 0]], [[3, 2, 0]], 10) == pytest.approx(1.0)
    # k=2, predicted gains [0, 2, 3]: DCG = 2/log2 3; IDCG = 3 + 2/log2 3
    lg3 = math.log2(3)
    assert m.ndcg_at_k_graded([[0, 2, 3]], [[3, 2, 0]], 2) == pytest.approx((2 / lg3) / (3 + 2 / lg3))
    # all-zero gains: JMTEB divides 0 by 0 -> NaN for the mean; skip_zero_idcg drops the query
    assert math.isnan(m.ndcg_at_k_graded([[0, 0], [1, 0]], [[0, 0], [1, 0]], 2))
    assert m.ndcg_at_k_graded([[0, 0], [1, 0]], [[0, 0], [1, 0]], 2, skip_zero_idcg=True) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_ndcg_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, k = 30, 10
    scores = rng.standard_normal(n)  # distinct: no tie handling involved
    order = list(np.argsort(-scores))
    graded = rng.integers(0, 4, n)
    ranked_gains = [graded[j] for j in order]
    expected = ndcg_score(graded[None, :], scores[None, :], k=k)
    assert m.ndcg_at_k_graded([ranked_gains], [list(graded)], k) == pytest.approx(expected, abs=1e-12)
    binary = (rng.random(n) < 0.3).astype(int)
    binary[0] = 1
    docs = [f"d{j}" for j in range(n)]
    relevant = [[docs[j] for j in range(n) if binary[j]]]
    retrieved = [[docs[j] for j in order]]
    expected_bin = ndcg_score(binary[None, :], scores[None, :], k=k)
    assert m.ndcg_at_k_binary(relevant, retrieved, k, cap_idcg=True) == pytest.approx(expected_bin, abs=1e-12)
    if len(relevant[0]) > k:  # uncapped IDCG is larger, so JMTEB's value is lower
        assert m.ndcg_at_k_binary(relevant, retrieved, k) < expected_bin
