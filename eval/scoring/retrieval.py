"""Retrieval scorer (JMTEB v1.3.3 ``RetrievalEvaluator``): dense top-k retrieval over the corpus, nDCG@10 with
binary relevance, the similarity chosen on validation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from . import metrics
from ._common import check_mode, finish_details
from .similarity import MATRIX_SIMILARITIES, to_tensor
from .types import Mode, RetrievalSplit, TaskScore

DEFAULT_DOC_CHUNK_SIZE = 1_000_000


def retrieve_top_k(
    query_emb,
    doc_emb,
    sim: Callable[[Tensor, Tensor], Tensor],
    max_top_k: int,
    doc_chunk_size: int = DEFAULT_DOC_CHUNK_SIZE,
    mode: Mode = "official",
) -> list[list[int]]:
    """Indices of the top documents per query, with JMTEB's ops and tie-breaking.

    Queries and documents become float32 tensors; per corpus chunk the similarity matrix is computed and
    ``torch.topk(k=min(max_top_k, chunk size))`` taken; the chunks' candidates are concatenated and ordered with
    ``torch.argsort(-scores)``. Exact ties are broken by torch (``topk`` / unstable ``argsort``), as in JMTEB.

    Official quirk (v1.3.3 ``src/jmteb/evaluators/retrieval/evaluator.py``, ``_compute_metrics``: ``top_k =
    min(self.max_top_k, top_k_indices.shape[0])``): the final list length is capped by the number of *queries*
    (``shape[0]``), so with fewer queries than ``max_top_k`` every query gets only that many documents.
    ``mode="corrected"`` keeps ``max_top_k`` documents.
    """
    q = to_tensor(query_emb).float()
    index_chunks: list[Tensor] = []
    score_chunks: list[Tensor] = []
    n_docs = len(doc_emb)
    for offset in range(0, n_docs, doc_chunk_size):
        d = to_tensor(doc_emb[offset : offset + doc_chunk_size]).float()
        similarity = sim(q, d)
        k = min(max_top_k, similarity.shape[1])
        top_scores, top_indices = torch.topk(similarity, k=k, dim=1)
        index_chunks.append(top_indices + offset)
        score_chunks.append(top_scores)
    indices = torch.cat(index_chunks, dim=1)
    scores = torch.cat(score_chunks, dim=1)
    top_k = min(max_top_k, indices.shape[0]) if mode == "official" else max_top_k
    order = torch.argsort(-scores, dim=1)[:, :top_k]
    return torch.take_along_dim(indices, order, dim=1).tolist()


def _evaluate(
    split: RetrievalSplit,
    sim: Callable[[Tensor, Tensor], Tensor],
    accuracy_at_k: Sequence[int],
    ndcg_at_k: Sequence[int],
    doc_chunk_size: int,
    mode: Mode,
) -> dict[str, float]:
    max_top_k = max([*accuracy_at_k, *ndcg_at_k])
    ranked = retrieve_top_k(split.query_emb, split.doc_emb, sim, max_top_k, doc_chunk_size, mode)
    retrieved_ids = [[split.doc_ids[i] for i in row] for row in ranked]
    relevant = [list(r) for r in split.relevant]
    corrected = mode == "corrected"
    results: dict[str, float] = {}
    for k in accuracy_at_k:
        results[f"accuracy@{k}"] = metrics.accuracy_at_k(relevant, retrieved_ids, k, skip_empty=corrected)
    for k in ndcg_at_k:
        results[f"ndcg@{k}"] = metrics.ndcg_at_k_binary(
            relevant, retrieved_ids, k, cap_idcg=corrected, skip_empty=corrected
        )
    results[f"mrr@{max_top_k}"] = metrics.mrr_at_k(relevant, retrieved_ids, max_top_k, skip_empty=corrected)
    return results


def score_retrieval(
    val: RetrievalSplit,
    test: RetrievalSplit,
    mode: Mode = "official",
    k_values: Sequence[int] = (1, 3, 5, 10),
    *,
    ndcg_at_k: Sequence[int] = (10,),
    doc_chunk_size: int = DEFAULT_DOC_CHUNK_SIZE,
) -> TaskScore:
    """Pick the similarity with the best validation ``ndcg@10``, report it on test.

    Candidates (in order; the first wins ties): ``cosine_similarity``, ``dot_score``, ``euclidean_distance``
    (100 / (cdist + 1e-4)), on unnormalised float32 embeddings. ``k_values`` are JMTEB's ``accuracy_at_k``;
    ``ndcg_at_k`` its ``ndcg_at_k`` (main metric ``ndcg@<first>``); ``mrr@<max k>`` is also reported.
    ``doc_chunk_size`` is JMTEB's (1,000,000 by default, 10,000 for Mr.TyDi); it only matters for exact ties.

    Official quirks (v1.3.3 ``src/jmteb/evaluators/retrieval/evaluator.py``):
    - ``ndcg_at_k``: ``idcg = sum(1 / log2(rank + 1) for rank in 1..len(query_rel_docs))`` -- the ideal DCG is not
      capped at k (a query with more than k relevant docs can never reach 1). Corrected: capped at
      min(#relevant, k).
    - ``accuracy_at_k`` / ``mrr_at_k`` / ``ndcg_at_k``: queries without relevant docs are "skipped" (warning) but
      still counted in the denominator ``len(relevant_docs)``. Corrected: left out of the mean.
    - ``_compute_metrics``: ``top_k = min(self.max_top_k, top_k_indices.shape[0])`` caps the ranked list at the number
      of queries (see :func:`retrieve_top_k`). Corrected: ``max_top_k``.

    Details: ``optimal_distance_metric``, ``val_scores`` {name: {accuracy@k..., ndcg@k..., mrr@K}}, ``test_scores``
    {best: ...} (+ ``mode`` for corrected runs).
    """
    check_mode(mode)
    accuracy_ks = list(k_values) or [1, 3, 5, 10]
    ndcg_ks = list(ndcg_at_k) or [10]
    main_metric = f"ndcg@{ndcg_ks[0]}"

    val_results = {
        name: _evaluate(val, sim, accuracy_ks, ndcg_ks, doc_chunk_size, mode)
        for name, sim in MATRIX_SIMILARITIES.items()
    }
    best = sorted(val_results.items(), key=lambda item: item[1][main_metric], reverse=True)[0][0]
    test_results = {
        best: _evaluate(test, MATRIX_SIMILARITIES[best], accuracy_ks, ndcg_ks, doc_chunk_size, mode)
    }
    details = finish_details(
        {"optimal_distance_metric": best, "val_scores": val_results, "test_scores": test_results}, mode
    )
    return TaskScore(metric_name=main_metric, metric_value=test_results[best][main_metric], details=details)
