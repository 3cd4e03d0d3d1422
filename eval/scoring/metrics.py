"""Metric functions used by the JMTEB v1 scorers (plain numpy, float64 arithmetic).

Each function states which JMTEB v1.3.3 (or scikit-learn / scipy) computation it mirrors. The formulas follow the
library ones closely so that ties between candidates are decided the same way; values agree with scikit-learn /
scipy to ~1e-15 (see ``tests/eval/scoring/test_scoring_metrics.py``).

Contents:
- correlation: :func:`rankdata_average`, :func:`pearson`, :func:`spearman`
- classification: :func:`accuracy`, :func:`f1`, :func:`binary_f1`, :func:`macro_f1`
- clustering: :func:`entropy`, :func:`mutual_info`, :func:`homogeneity_completeness_v_measure`, :func:`v_measure`
- thresholds (pair classification): :func:`best_threshold_f1`, :func:`best_threshold_accuracy`,
  :func:`predict_with_threshold`
- ranking: :func:`accuracy_at_k`, :func:`mrr_at_k`, :func:`ndcg_at_k_binary` (v1 retrieval),
  :func:`ndcg_at_k_graded` (v1 reranking)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

# ---------------------------------------------------------------------------------------------------------------
# Correlation (STS)
# ---------------------------------------------------------------------------------------------------------------


def rankdata_average(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """1-based ranks, ties get the average of the ranks they span (``scipy.stats.rankdata(method="average")``).

    Ties are decided on the values as given (a float32 array is ranked in float32, as scipy does).
    """
    x = np.asarray(values)
    n = x.shape[0]
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    ranks = np.empty(n, dtype=np.float64)
    start = 0
    while start < n:
        end = start + 1
        while end < n and sorted_x[end] == sorted_x[start]:
            end += 1
        # positions start..end-1 (0-based) hold ranks start+1..end; their mean is (start+1+end)/2
        ranks[order[start:end]] = (start + 1 + end) / 2.0
        start = end
    return ranks


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Pearson's r in float64 (``scipy.stats.pearsonr``); NaN when either input is constant or shorter than 2."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"pearson needs two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or bool(np.all(a == a[0])) or bool(np.all(b == b[0])):
        return float("nan")
    am = a - a.mean()
    bm = b - b.mean()
    denom = math.sqrt(float(np.dot(am, am))) * math.sqrt(float(np.dot(bm, bm)))
    if denom == 0.0:
        return float("nan")
    r = float(np.dot(am, bm)) / denom
    return max(-1.0, min(1.0, r))


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman's rho = Pearson on average ranks (``scipy.stats.spearmanr``); NaN for constant input."""
    return pearson(rankdata_average(x), rankdata_average(y))


def nan_to_zero(value: float) -> float:
    """JMTEB's STS evaluator reports 0.0 where scipy returns NaN (constant predictions or gold)."""
    return 0.0 if math.isnan(value) else float(value)


# ---------------------------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------------------------


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Fraction of exact matches (``sklearn.metrics.accuracy_score``)."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {t.shape} vs {p.shape}")
    return float(np.mean(t == p)) if t.size else 0.0


def _per_class_f1(
    y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-label F1 = 2 tp / (n_true + n_pred) (0 where both are 0), and the per-label support."""
    f1s = np.zeros(len(labels), dtype=np.float64)
    support = np.zeros(len(labels), dtype=np.int64)
    for i, label in enumerate(labels):
        tp = int(np.sum((y_true == label) & (y_pred == label)))
        n_true = int(np.sum(y_true == label))
        n_pred = int(np.sum(y_pred == label))
        support[i] = n_true
        denom = n_true + n_pred
        f1s[i] = 2.0 * tp / denom if denom > 0 else 0.0
    return f1s, support


def f1(y_true: Sequence, y_pred: Sequence, average: str = "macro", pos_label: Hashable = 1) -> float:
    """F1 with scikit-learn's ``f1_score`` semantics for ``binary``, ``micro``, ``macro`` and ``weighted``.

    Labels are the sorted union of ``y_true`` and ``y_pred``; a label with no true and no predicted sample scores 0
    (``zero_division`` default). ``binary`` scores ``pos_label`` only.
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {t.shape} vs {p.shape}")
    if average == "binary":
        f1s, _ = _per_class_f1(t, p, np.asarray([pos_label]))
        return float(f1s[0])
    labels = np.unique(np.concatenate([t, p]))
    if average == "micro":
        # single-label multiclass: micro P = micro R = accuracy over the labels considered (all of them here)
        tp = int(np.sum(t == p))
        denom = 2 * t.size
        return 2.0 * tp / denom if denom else 0.0
    f1s, support = _per_class_f1(t, p, labels)
    if average == "macro":
        return float(np.mean(f1s)) if f1s.size else 0.0
    if average == "weighted":
        total = int(support.sum())
        return float(np.sum(f1s * support) / total) if total else 0.0
    raise ValueError(f"unsupported average {average!r} (binary, micro, macro, weighted)")


def binary_f1(y_true: Sequence, y_pred: Sequence) -> float:
    """F1 of the positive class 1 (``sklearn.metrics.f1_score`` default)."""
    return f1(y_true, y_pred, average="binary", pos_label=1)


def macro_f1(y_true: Sequence, y_pred: Sequence) -> float:
    """Unweighted mean of per-label F1 (``f1_score(average="macro")``)."""
    return f1(y_true, y_pred, average="macro")


# ---------------------------------------------------------------------------------------------------------------
# Clustering
# ---------------------------------------------------------------------------------------------------------------


def entropy(labels: Sequence | np.ndarray) -> float:
    """Shannon entropy (nats) of a labelling; 0 for a single cluster, 1.0 for an empty one.

    Same arithmetic as scikit-learn's ``entropy`` (numpy logs, same order) so that exact ties between clusterers,
    e.g. several perfect clusterings, are decided as in JMTEB.
    """
    arr = np.asarray(labels)
    if arr.size == 0:
        return 1.0
    _, counts = np.unique(arr, return_counts=True)
    if counts.size == 1:
        return 0.0
    pi = counts.astype(np.float64)
    pi_sum = np.sum(pi)
    return float(-np.sum((pi / pi_sum) * (np.log(pi) - np.log(pi_sum))))


def mutual_info(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> float:
    """Mutual information (nats) from the contingency table, sum_ij n_ij/N log(N n_ij / (a_i b_j)), with
    scikit-learn's ``mutual_info_score`` arithmetic (non-zero cells in row-major order, |term| < eps -> 0)."""
    t = np.asarray(labels_true)
    p = np.asarray(labels_pred)
    _, ti = np.unique(t, return_inverse=True)
    _, pi_ = np.unique(p, return_inverse=True)
    n_t = int(ti.max()) + 1 if ti.size else 0
    n_p = int(pi_.max()) + 1 if pi_.size else 0
    if n_t <= 1 or n_p <= 1:
        return 0.0
    table = np.zeros((n_t, n_p), dtype=np.int64)
    np.add.at(table, (ti.ravel(), pi_.ravel()), 1)
    total = table.sum()
    row = table.sum(axis=1)
    col = table.sum(axis=0)
    nzr, nzc = np.nonzero(table)
    nz = table[nzr, nzc]
    share = nz / total
    log_outer = -np.log(row[nzr] * col[nzc]) + np.log(row.sum()) + np.log(col.sum())
    terms = share * (np.log(nz) - np.log(total)) + share * log_outer
    terms = np.where(np.abs(terms) < np.finfo(terms.dtype).eps, 0.0, terms)
    return float(np.clip(terms.sum(), 0.0, None))


def homogeneity_completeness_v_measure(
    labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray, beta: float = 1.0
) -> tuple[float, float, float]:
    """(homogeneity, completeness, V-measure) as ``sklearn.metrics.homogeneity_completeness_v_measure``.

    homogeneity = MI / H(true) (1.0 when H(true) = 0), completeness = MI / H(pred) (1.0 when H(pred) = 0),
    V = (1 + beta) h c / (beta h + c) (0 when h + c = 0).
    """
    t = np.asarray(labels_true)
    p = np.asarray(labels_pred)
    if t.shape != p.shape:
        raise ValueError(f"labels differ in shape: {t.shape} vs {p.shape}")
    if t.size == 0:
        return 1.0, 1.0, 1.0
    h_true = entropy(t)
    h_pred = entropy(p)
    mi = mutual_info(t, p)
    homogeneity = mi / h_true if h_true else 1.0
    completeness = mi / h_pred if h_pred else 1.0
    if homogeneity + completeness == 0.0:
        v = 0.0
    else:
        v = (1 + beta) * homogeneity * completeness / (beta * homogeneity + completeness)
    return float(homogeneity), float(completeness), float(v)


def v_measure(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> float:
    """V-measure (beta = 1): harmonic mean of homogeneity and completeness."""
    return homogeneity_completeness_v_measure(labels_true, labels_pred)[2]


# ---------------------------------------------------------------------------------------------------------------
# Best-threshold binary metrics (pair classification)
# ---------------------------------------------------------------------------------------------------------------


def _sorted_rows(scores: np.ndarray, labels: Sequence[int], high_score_more_similar: bool) -> list[tuple]:
    """Rows (score, label) in the order JMTEB walks them: Python's stable sort, descending for similarities.

    The scores stay numpy scalars of the input dtype so midpoints are rounded like JMTEB's.
    """
    return sorted(zip(list(scores), list(labels)), key=lambda row: row[0], reverse=high_score_more_similar)


def best_threshold_f1(
    scores: np.ndarray, labels: Sequence[int], high_score_more_similar: bool
) -> tuple[float, float, float, float]:
    """Best binary F1 over cut points of the sorted scores, as JMTEB's ``ThresholdF1Metric`` (v1.3.3).

    Walks rows i = 0 .. n-2 (the cut "all rows predicted positive" is never tried), treating the first i+1 rows as
    predicted positive; F1 = 2 / (1/P + 1/R) (0 while no positive is found); a later cut must be strictly better.
    The threshold is the midpoint of rows i and i+1 in the score dtype (a tie across the cut gives a threshold equal
    to the tied value, which the thresholded prediction then classifies differently from the count used here).

    Returns (f1, precision, recall, threshold); threshold is -1 when no cut has F1 > 0.
    """
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    rows = _sorted_rows(scores, labels, high_score_more_similar)
    best_precision = best_recall = best_f1 = 0.0
    best_threshold = -1
    positive_so_far = 0
    total_num_positive = sum(int(label) for label in labels)
    for i in range(len(rows) - 1):
        if rows[i][1] == 1:
            positive_so_far += 1
        precision = positive_so_far / (i + 1)
        recall = positive_so_far / total_num_positive
        f1_value = 2 / (1 / precision + 1 / recall) if positive_so_far > 0 else 0
        if f1_value > best_f1:
            best_f1 = f1_value
            best_precision = precision
            best_recall = recall
            best_threshold = (rows[i][0] + rows[i + 1][0]) / 2
    return float(best_f1), float(best_precision), float(best_recall), best_threshold


def best_threshold_accuracy(
    scores: np.ndarray, labels: Sequence[int], high_score_more_similar: bool
) -> tuple[float, float]:
    """Best accuracy over cut points, as JMTEB's ``ThresholdAccuracyMetric`` (v1.3.3): same walk as
    :func:`best_threshold_f1`, accuracy = (positives above the cut + negatives below it) / n, strict improvement.

    Returns (accuracy, threshold); threshold is -1 when no cut has accuracy > 0.
    """
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    rows = _sorted_rows(scores, labels, high_score_more_similar)
    max_acc = 0.0
    best_threshold = -1
    positive_so_far = 0
    remaining_negatives = int(np.sum(np.asarray(labels) == 0))
    n = len(labels)
    for i in range(len(rows) - 1):
        if rows[i][1] == 1:
            positive_so_far += 1
        else:
            remaining_negatives -= 1
        acc = (positive_so_far + remaining_negatives) / n
        if acc > max_acc:
            max_acc = acc
            best_threshold = (rows[i][0] + rows[i + 1][0]) / 2
    return float(max_acc), best_threshold


def predict_with_threshold(scores: np.ndarray, threshold: float, high_score_more_similar: bool) -> np.ndarray:
    """JMTEB's test-time rule: similarity >= threshold -> 1; distance < threshold -> 1 (strict)."""
    s = np.asarray(scores)
    if high_score_more_similar:
        return np.where(s < threshold, 0, 1)
    return np.where(s < threshold, 1, 0)


# ---------------------------------------------------------------------------------------------------------------
# Ranking (retrieval / reranking)
# ---------------------------------------------------------------------------------------------------------------


def _mean(total: float, n_all: int, n_valid: int, skip_empty: bool) -> float:
    denom = n_valid if skip_empty else n_all
    return total / denom if denom else 0.0


def accuracy_at_k(
    relevant: Sequence[Sequence[Hashable]],
    retrieved: Sequence[Sequence[Hashable]],
    k: int,
    skip_empty: bool = False,
) -> float:
    """Fraction of queries with a relevant doc among their first k retrieved (JMTEB ``accuracy_at_k``).

    Queries with no relevant doc score 0 but stay in the denominator (JMTEB), unless ``skip_empty``.
    """
    hits = 0
    n_valid = 0
    for rel, ret in zip(relevant, retrieved, strict=True):
        if len(rel) == 0:
            continue
        n_valid += 1
        rel_set = set(rel)
        if any(doc in rel_set for doc in list(ret)[:k]):
            hits += 1
    return _mean(hits, len(relevant), n_valid, skip_empty)


def mrr_at_k(
    relevant: Sequence[Sequence[Hashable]],
    retrieved: Sequence[Sequence[Hashable]],
    k: int,
    skip_empty: bool = False,
) -> float:
    """Mean reciprocal rank of the first relevant doc within the first k (JMTEB ``mrr_at_k``); same denominator
    rule as :func:`accuracy_at_k`."""
    total = 0.0
    n_valid = 0
    for rel, ret in zip(relevant, retrieved, strict=True):
        if len(rel) == 0:
            continue
        n_valid += 1
        rel_set = set(rel)
        for rank, doc in enumerate(list(ret)[:k], start=1):
            if doc in rel_set:
                total += 1.0 / rank
                break
    return _mean(total, len(relevant), n_valid, skip_empty)


def ndcg_at_k_binary(
    relevant: Sequence[Sequence[Hashable]],
    retrieved: Sequence[Sequence[Hashable]],
    k: int,
    cap_idcg: bool = False,
    skip_empty: bool = False,
) -> float:
    """nDCG@k with binary relevance (JMTEB v1 retrieval ``ndcg_at_k``).

    DCG = sum over the first k retrieved of 1/log2(rank+1) for relevant docs. JMTEB's IDCG sums 1/log2(r+1) over
    r = 1..len(relevant) (all relevant ids, duplicates included, not capped at k); ``cap_idcg`` uses
    r = 1..min(#distinct relevant, k) instead (standard nDCG). Denominator rule as in :func:`accuracy_at_k`.
    """
    total = 0.0
    n_valid = 0
    for rel, ret in zip(relevant, retrieved, strict=True):
        if len(rel) == 0:
            continue
        n_valid += 1
        rel_set = set(rel)
        dcg = 0.0
        for rank, doc in enumerate(list(ret)[:k], start=1):
            if doc in rel_set:
                dcg += 1.0 / math.log2(rank + 1)
        n_ideal = min(len(rel_set), k) if cap_idcg else len(rel)
        idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, n_ideal + 1))
        total += dcg / idcg
    return _mean(total, len(relevant), n_valid, skip_empty)


def ndcg_at_k_graded(
    ranked_gains: Sequence[Sequence[float]],
    all_gains: Sequence[Sequence[float]],
    k: int,
    skip_zero_idcg: bool = False,
) -> float:
    """nDCG@k with graded gains (JMTEB v1 reranking ``ndcg_at_k``), linear gain rel/log2(rank+1).

    ``ranked_gains[q]`` are the gains of query q's candidates in predicted order, ``all_gains[q]`` all its gains
    (IDCG = DCG of the k largest, i.e. capped at k). A query whose IDCG is 0 gives NaN (0/0) and so makes the mean
    NaN, as in JMTEB; ``skip_zero_idcg`` leaves such queries out of the mean instead.
    """
    total = 0.0
    n_valid = 0
    for ranked, gains in zip(ranked_gains, all_gains, strict=True):
        dcg = 0.0
        for rank, gain in enumerate(list(ranked)[:k], start=1):
            dcg += float(gain) / math.log2(rank + 1)
        ideal = sorted((float(g) for g in gains), reverse=True)[:k]
        idcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal, start=1))
        if idcg == 0.0:
            if skip_zero_idcg:
                continue
            total += float("nan")
            n_valid += 1
            continue
        total += dcg / idcg
        n_valid += 1
    denom = n_valid if skip_zero_idcg else len(all_gains)
    return total / denom if denom else 0.0
