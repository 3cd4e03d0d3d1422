"""Retrieve-then-rerank: an embedding model ranks, a reranker re-scores the top-k, nDCG before and after.

    python -m eval.rerank reranker=runs/rerank/x/final embedder=me5-small task=jsquad_reranking top_k=10
    python -m eval.rerank reranker=runs/rerank/x/final task=jsquad_reranking top_k=null   # every candidate
    python -m eval.rerank reranker=... task=jsquad_retrieval top_k=100 engine=vllm        # GPU, vLLM scoring

Reranking tasks (JMTEB's reranking schema): the embedder orders each query's candidates exactly as the JMTEB v1
reranking scorer does (``eval.scoring.reranking.rerank``), the reranker re-scores the first ``top_k`` (all of
them with ``top_k: null``: the task scored by the reranker alone) and the rest keep their order; graded nDCG@10,
20, 40 before and after with the scorer's own gain rules (``mode``). Retrieval tasks: dense top-``top_k`` over
the corpus (``eval.scoring.retrieval.retrieve_top_k``), reranked, then nDCG@10, accuracy@k and MRR with
``eval.scoring.metrics``. Ties in reranker scores keep the embedding order. One similarity
(``similarity``, cosine by default) replaces JMTEB's choice on validation: for normalised embedders the three
candidates order documents identically, and only the ``split`` asked for is encoded.

Embeddings go through eval's cache (same keys as ``python -m eval``: the whole split is encoded), so a model
already evaluated is not re-encoded; ``max_queries`` then keeps the seeded queries the task's own subsampling
would keep, with the whole corpus. Results: a dict (and ``out`` JSON, written atomically) with ``before``, ``after``, sizes and timings.
Imports ``embed`` (the reranker) and eval only.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embed.atomic import atomic_file

from .cache import EmbeddingCache
from .data.records import RerankingData, RetrievalData
from .data.task_data import load_task_data, sample_rows
from .encoding import TextEncoder
from .prefixes import load_preset
from .scoring import metrics
from .scoring.reranking import ranked_gains, rerank
from .scoring.retrieval import retrieve_top_k
from .scoring.similarity import MATRIX_SIMILARITIES
from .scoring.types import RerankingSplit
from .suite import get_suite
from .tasks import TaskSpec

DEFAULT_CACHE_DIR = Path("~/.cache/tsumugi/eval-embeddings")
RETRIEVAL_KS = (1, 3, 5, 10)


class PairScorer(Protocol):
    """What a reranker must offer: ``embed.rerank.Reranker`` and ``VllmReranker`` do."""

    def score(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        instruction: str | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
    ) -> np.ndarray: ...


def _log(msg: str) -> None:
    print(f"[rerank] {msg}", file=sys.stderr, flush=True)


def rerank_heads(
    orders: Sequence[Sequence[int]],
    queries: Sequence[str],
    texts: Sequence[Sequence[str]],
    scorer: PairScorer,
    top_k: int | None,
    *,
    instruction: str | None = None,
    batch_size: int = 32,
    show_progress: bool | None = None,
) -> tuple[list[list[int]], int, float]:
    """Re-order the first ``top_k`` of each order by reranker score (all with None), one scoring call for all
    pairs; ties keep the given order. Returns the new orders, the pairs scored and the scoring seconds.

    ``orders[i]`` index into ``texts[i]`` (query i's candidate texts)."""
    heads = [list(o) if top_k is None else list(o[:top_k]) for o in orders]
    pairs = [(queries[i], texts[i][j]) for i, head in enumerate(heads) for j in head]
    t0 = time.perf_counter()
    scores = scorer.score(pairs, instruction=instruction, batch_size=batch_size, show_progress=show_progress)
    seconds = time.perf_counter() - t0
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(pairs),):
        raise ValueError(f"reranker returned shape {scores.shape} for {len(pairs)} pairs")
    if not np.isfinite(scores).all():
        bad = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise ValueError(f"reranker returned a non-finite score for pair {bad}: {pairs[bad][0][:40]!r}")
    out, at = [], 0
    for order, head in zip(orders, heads):
        s = scores[at : at + len(head)]
        at += len(head)
        ranked = [head[p] for p in np.argsort(-s, kind="stable")]
        out.append(ranked + list(order[len(head) :]))
    return out, len(pairs), seconds


def reranking_ndcg(split: RerankingSplit, orders: list[list[int]], ks: Sequence[int], mode: str) -> dict:
    """JMTEB v1 reranking nDCG@k of candidate orders (the reranking scorer's gain rules)."""
    gains = ranked_gains(split, orders, mode)
    ideal = [list(r) for r in split.relevance]
    return {
        f"ndcg@{k}": metrics.ndcg_at_k_graded(gains, ideal, k, skip_zero_idcg=mode == "corrected") for k in ks
    }


def retrieval_metrics(relevant: list[list[str]], retrieved: list[list[str]], mode: str) -> dict:
    """nDCG@10, accuracy@1/3/5/10 and MRR@10 of ranked doc ids (JMTEB v1 retrieval rules)."""
    corrected = mode == "corrected"
    out = {
        f"accuracy@{k}": metrics.accuracy_at_k(relevant, retrieved, k, skip_empty=corrected)
        for k in RETRIEVAL_KS
    }
    out["ndcg@10"] = metrics.ndcg_at_k_binary(
        relevant, retrieved, 10, cap_idcg=corrected, skip_empty=corrected
    )
    out["mrr@10"] = metrics.mrr_at_k(relevant, retrieved, 10, skip_empty=corrected)
    return out


def rerank_reranking(
    data: RerankingData,
    query_emb: np.ndarray,
    doc_emb: np.ndarray,
    doc_ids: list[str],
    scorer: PairScorer | None,
    top_k: int | None,
    *,
    similarity: str = "cosine_similarity",
    ks: Sequence[int] = (10, 20, 40),
    mode: str = "official",
    **score_kwargs: Any,
) -> dict:
    """Before/after nDCG@k of a reranking split (``scorer=None``: the embedding ranking only)."""
    split = RerankingSplit(query_emb, doc_emb, doc_ids, data.candidates, data.relevance)
    before = rerank(split, MATRIX_SIMILARITIES[similarity])
    out: dict[str, Any] = {
        "before": reranking_ndcg(split, before, ks, mode),
        "pairs_scored": 0,
        "rerank_s": 0.0,
    }
    if scorer is None:
        return out
    text = dict(zip(data.corpus.ids, data.corpus.texts))
    texts = [[text[d] for d in cands] for cands in data.candidates]
    after, pairs, seconds = rerank_heads(before, data.queries, texts, scorer, top_k, **score_kwargs)
    out.update(after=reranking_ndcg(split, after, ks, mode), pairs_scored=pairs, rerank_s=round(seconds, 2))
    return out


def rerank_retrieval(
    data: RetrievalData,
    query_emb: np.ndarray,
    doc_emb: np.ndarray,
    doc_ids: list[str],
    scorer: PairScorer | None,
    top_k: int | None,
    *,
    similarity: str = "cosine_similarity",
    mode: str = "official",
    **score_kwargs: Any,
) -> dict:
    """Before/after retrieval metrics: dense top-``top_k`` (at least 10), the head re-scored by ``scorer``."""
    depth = max(10, top_k or 100)
    ranked = retrieve_top_k(query_emb, doc_emb, MATRIX_SIMILARITIES[similarity], depth, mode="corrected")
    relevant = [list(r) for r in data.relevant]
    before_ids = [[doc_ids[i] for i in row] for row in ranked]
    out: dict[str, Any] = {
        "before": retrieval_metrics(relevant, before_ids, mode),
        "pairs_scored": 0,
        "rerank_s": 0.0,
    }
    if scorer is None:
        return out
    text = dict(zip(data.corpus.ids, data.corpus.texts))
    texts = [[text[d] for d in row] for row in before_ids]
    local = [list(range(len(row))) for row in before_ids]
    after, pairs, seconds = rerank_heads(local, data.queries, texts, scorer, top_k, **score_kwargs)
    after_ids = [[row[j] for j in order] for row, order in zip(before_ids, after)]
    out.update(
        after=retrieval_metrics(relevant, after_ids, mode), pairs_scored=pairs, rerank_s=round(seconds, 2)
    )
    return out


def subset_queries(data: RerankingData | RetrievalData, keep: Sequence[int]) -> RerankingData | RetrievalData:
    """The queries ``keep`` of a split; the corpus is kept whole (retrieval searches all of it)."""
    pick = lambda xs: [xs[i] for i in keep]  # noqa: E731
    if isinstance(data, RerankingData):
        return RerankingData(
            pick(data.qids),
            pick(data.queries),
            pick(data.candidates),
            pick(data.relevance),
            data.corpus,
            data.source,
        )
    return RetrievalData(pick(data.qids), pick(data.queries), pick(data.relevant), data.corpus, data.source)


def encode_split(
    task: TaskSpec,
    data: RetrievalData | RerankingData,
    role: str,
    enc: TextEncoder,
    prefixes: Mapping[str, str],
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Query and document embeddings of one split, under the cache keys ``python -m eval`` uses."""
    group = task.cache_group or task.name
    name = "test" if task.val_is_test else role
    corpus = data.corpus
    if isinstance(data, RerankingData):  # only candidates are ever scored
        needed = {d for docs in data.candidates for d in docs}
        if len(needed) < len(corpus):
            corpus = corpus.subset([d for d in corpus.ids if d in needed], corpus.tag + "~candidates")
    shared = task.splits["val"]["corpus"] == task.splits["test"]["corpus"]
    q = enc.embed(data.queries, dataset=group, split=name, side="query", prefix=prefixes["query_prefix"])
    d = enc.embed(
        corpus.texts,
        dataset=group,
        split="corpus" if shared else name,
        side="doc",
        prefix=prefixes["doc_prefix"],
    )
    return q, d, corpus.ids


def load_scorer(
    reranker: str | Path | PairScorer | None, engine: str = "hf", **kwargs: Any
) -> PairScorer | None:
    """A reranker from a folder / short name / hub id (``engine``: hf | vllm), or the object given."""
    if reranker is None or not isinstance(reranker, str | Path):
        return reranker
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if engine == "vllm":
        from embed.rerank.vllm_scorer import VllmReranker

        return VllmReranker(reranker, **kwargs)
    if engine != "hf":
        raise ValueError(f"engine must be 'hf' or 'vllm', got {engine!r}")
    from embed.rerank import Reranker

    return Reranker.load(reranker, **kwargs)


def evaluate_reranker(
    reranker: str | Path | PairScorer | None,
    embedder: Any = "me5-small",
    task: str | TaskSpec = "jsquad_reranking",
    *,
    suite: str = "local",
    split: str = "test",
    top_k: int | None = 100,
    max_queries: int | None = None,
    similarity: str = "cosine_similarity",
    prefixes: str | Mapping[str, Any] = "model",
    instruction: str | None = None,
    mode: str = "official",
    batch_size: int = 32,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    data_root: str | Path | None = None,
    out: str | Path | None = None,
    engine: str = "hf",
    reranker_kwargs: Mapping[str, Any] | None = None,
    show_progress: bool | None = None,
) -> dict:
    """Score ``task``'s ``split`` with the embedder alone and after reranking its top ``top_k``; see the module
    docstring. ``embedder``: a name/path (``embed.EmbeddingModel``) or an object with ``encode``."""
    if similarity not in MATRIX_SIMILARITIES:
        raise ValueError(f"similarity must be one of {sorted(MATRIX_SIMILARITIES)}, got {similarity!r}")
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or null (every candidate), got {top_k}")
    started = time.perf_counter()
    s = get_suite(suite, data_root)
    spec = s.task(task) if isinstance(task, str) else task
    if spec.kind not in ("reranking", "retrieval"):
        raise ValueError(f"task {spec.name!r} is {spec.category}: rerank needs a Reranking or Retrieval task")
    data = getattr(load_task_data(spec, s.data_root), split)
    if isinstance(embedder, str | Path):
        from .runner import load_model

        embedder = load_model(str(embedder))
    enc = TextEncoder(embedder, EmbeddingCache(cache_dir), batch_size=batch_size)
    prefix = load_preset(prefixes).resolve(
        spec.name, spec.category, spec.kind, getattr(embedder, "prompts", {})
    )
    _log(f"{spec.label} {split}: {len(data)} queries, {len(data.corpus)} documents; encoding ...")
    t0 = time.perf_counter()
    q, d, ids = encode_split(spec, data, split, enc, prefix)  # the whole split: shares python -m eval's cache
    encode_s = time.perf_counter() - t0
    if max_queries and max_queries < len(data):
        keep = sample_rows(len(data), int(max_queries), spec.seed)  # the queries with_subsample would keep
        data, q = subset_queries(data, keep), q[keep]
    scorer = load_scorer(reranker, engine, **dict(reranker_kwargs or {}))
    kw = dict(
        similarity=similarity,
        mode=mode,
        instruction=instruction,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    if spec.kind == "reranking":
        scores = rerank_reranking(data, q, d, ids, scorer, top_k, ks=spec.k_values, **kw)
    else:
        scores = rerank_retrieval(data, q, d, ids, scorer, top_k, **kw)
    result = {
        "task": spec.name,
        "label": spec.label,
        "split": split,
        "queries": len(data),
        "documents": len(data.corpus),
        "top_k": top_k,
        "similarity": similarity,
        "mode": mode,
        "prefixes": prefix,
        "embedder": str(getattr(embedder, "source", None) or type(embedder).__name__),
        "reranker": str(reranker) if isinstance(reranker, str | Path) else type(scorer).__name__,
        "instruction": instruction,
        **scores,
        "encode_s": round(encode_s, 2),
        "elapsed_s": round(time.perf_counter() - started, 2),
    }
    line = f"nDCG@10 embeddings {100 * scores['before']['ndcg@10']:.2f}"
    if "after" in scores:
        line += f" -> reranked {100 * scores['after']['ndcg@10']:.2f} ({scores['pairs_scored']} pairs)"
    _log(line)
    if out:
        with atomic_file(Path(out), "w") as f:
            json.dump(result, f, ensure_ascii=False, indent=2)
            f.write("\n")
    return result


def main() -> None:
    """``python -m eval.rerank reranker=... embedder=... task=... top_k=...`` (conf/rerank/eval.yaml)."""
    import hydra
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[1] / "conf" / "rerank"

    def run(cfg) -> None:
        c = OmegaConf.to_container(cfg, resolve=True)
        evaluate_reranker(
            c["reranker"],
            c["embedder"],
            c["task"],
            suite=c["suite"],
            split=c["split"],
            top_k=c["top_k"],
            max_queries=c.get("max_queries"),
            similarity=c["similarity"],
            prefixes=c["prefix"],
            instruction=c.get("instruction"),
            mode=c["mode"],
            batch_size=c["batch_size"],
            cache_dir=c.get("cache_dir"),
            data_root=c.get("data_root"),
            out=c.get("out"),
            engine=c["engine"],
            reranker_kwargs=c.get("reranker_kwargs"),
        )

    hydra.main(version_base="1.3", config_path=str(conf), config_name="eval")(run)()


if __name__ == "__main__":
    main()
