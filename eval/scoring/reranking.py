"""Reranking scorer (JMTEB v1.3.3 ``RerankingEvaluator``): each query ranks its own candidates, graded nDCG@k,
the similarity chosen on validation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from . import metrics
from ._common import check_mode, finish_details, single_threaded
from .similarity import MATRIX_SIMILARITIES, to_tensor
from .types import Mode, RerankingSplit, TaskScore


def rerank(split: RerankingSplit, sim: Callable[[Tensor, Tensor], Tensor]) -> list[list[int]]:
    """Candidate positions per query in predicted order, with JMTEB's ops.

    Per query: the query row as a 1 x d tensor, its candidates' rows stacked as float32 (JMTEB builds them with
    ``torch.Tensor(...)``), the 1 x n similarity, ``torch.argsort(descending=True)`` (exact ties broken by torch).
    A doc id repeated in the corpus maps to its last row, as JMTEB's ``{item.id: i}`` dict does.
    """
    doc_index = {doc_id: i for i, doc_id in enumerate(split.doc_ids)}
    doc_emb = np.asarray(split.doc_emb)
    orders: list[list[int]] = []
    with single_threaded():
        for i, candidates in enumerate(split.candidates):
            # JMTEB keeps the query's dtype and casts docs to float32 (a float64 query would then fail in
            # torch.mm); casting the query too is identical for float32 inputs.
            query = to_tensor(np.asarray(split.query_emb[i])).float()
            rows = doc_emb[[doc_index[doc_id] for doc_id in candidates]]
            docs = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
            similarity = sim(query, docs)
            orders.append(torch.argsort(similarity, dim=1, descending=True)[0].tolist())
    return orders


def ranked_gains(split: RerankingSplit, orders: list[list[int]], mode: Mode) -> list[list[float]]:
    """Gains in predicted order.

    Official quirk (v1.3.3 ``src/jmteb/evaluators/reranking/evaluator.py``, ``ndcg_at_k``: ``relevance_scores[
    retrieved_docs.index(doc_id)]``): the gain of a ranked doc is looked up by id, so a doc id listed twice among a
    query's candidates takes the first occurrence's relevance at both positions. Corrected: each position keeps its
    own relevance.
    """
    out = []
    for candidates, relevance, order in zip(split.candidates, split.relevance, orders, strict=True):
        if mode == "official":
            out.append([relevance[candidates.index(candidates[j])] for j in order])
        else:
            out.append([relevance[j] for j in order])
    return out


def _evaluate(split: RerankingSplit, sim: Callable[[Tensor, Tensor], Tensor], ks: Sequence[int], mode: Mode):
    orders = rerank(split, sim)
    gains = ranked_gains(split, orders, mode)
    all_gains = [list(r) for r in split.relevance]
    return {
        f"ndcg@{k}": metrics.ndcg_at_k_graded(gains, all_gains, k, skip_zero_idcg=mode == "corrected")
        for k in ks
    }


def score_reranking(
    val: RerankingSplit,
    test: RerankingSplit,
    mode: Mode = "official",
    k_values: Sequence[int] = (10, 20, 40),
) -> TaskScore:
    """Pick the similarity with the best validation ``ndcg@10``, report it on test.

    Candidates (in order; the first wins ties): ``cosine_similarity``, ``dot_score``, ``euclidean_distance``
    (100 / (cdist + 1e-4)), unnormalised. nDCG@k uses the graded ``relevance_scores`` as linear gains and an ideal
    DCG over the k largest gains (capped at k). ``k_values`` are JMTEB's ``ndcg_at_k`` (main metric the first).

    Official quirks: duplicate candidate ids take the first occurrence's relevance (see :func:`ranked_gains`); a
    query whose relevance scores are all 0 makes nDCG 0/0 = NaN and the whole mean NaN
    (``total_ndcg_scores += dcg / idcg``). Corrected: per-position relevance, such queries left out of the mean.

    Details: ``optimal_distance_metric``, ``val_scores`` {name: {ndcg@k...}}, ``test_scores`` {best: ...}
    (+ ``mode`` for corrected runs).
    """
    check_mode(mode)
    ks = list(k_values) or [10, 20, 40]
    main_metric = f"ndcg@{ks[0]}"
    val_results = {name: _evaluate(val, sim, ks, mode) for name, sim in MATRIX_SIMILARITIES.items()}
    best = sorted(val_results.items(), key=lambda item: item[1][main_metric], reverse=True)[0][0]
    test_results = {best: _evaluate(test, MATRIX_SIMILARITIES[best], ks, mode)}
    details = finish_details(
        {"optimal_distance_metric": best, "val_scores": val_results, "test_scores": test_results}, mode
    )
    return TaskScore(metric_name=main_metric, metric_value=test_results[best][main_metric], details=details)
