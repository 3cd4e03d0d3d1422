"""Hard-negative mining with the shared embedding model (sentence-transformers / FlagEmbedding style).

For each query: rank the corpus by cosine (the positive's rank is recorded: ``max_positive_rank`` drops pairs
whose positive is not among the query's best corpus matches, a consistency filter), drop the positive (same passage id or same normalised text), keep
ranks ``[range_start, range_end)`` of what remains, drop candidates scoring above ``positive - margin`` (likely
false negatives; ``margin: null`` keeps them), then take the ``num_negatives`` best (``sampling: top``) or a
seeded random sample of them (``sampling: random``, FlagEmbedding's ``range_for_sampling``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synth.embedding import DOCUMENT_SIDE, QUERY_SIDE, Side, encode
from synth.textnorm import normalize_for_dedup


@dataclass(frozen=True)
class MineConfig:
    """Mining settings."""

    num_negatives: int = 7
    range_start: int = 0
    range_end: int = 50
    margin: float | None = 0.05
    sampling: str = "top"
    seed: int = 0
    query_side: Side = QUERY_SIDE
    doc_side: Side = DOCUMENT_SIDE
    batch_size: int = 32
    chunk_size: int = 1024
    max_positive_rank: int | None = None

    def __post_init__(self) -> None:
        if self.sampling not in ("top", "random"):
            raise ValueError(f"sampling must be top or random, got {self.sampling!r}")
        if not 0 <= self.range_start < self.range_end:
            raise ValueError(f"need 0 <= range_start < range_end, got [{self.range_start}, {self.range_end})")
        if self.num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, got {self.num_negatives}")


@dataclass
class MinedQuery:
    """Negatives chosen for one query, with their scores and the positive's score."""

    negatives: list[str]
    negative_ids: list[str]
    negative_scores: list[float]
    positive_score: float
    dropped_by_margin: int
    positive_rank: int = 0

    def consistent(self, max_rank: int | None) -> bool:
        """True when the positive ranks within ``max_rank`` (0 = best; None accepts all)."""
        return max_rank is None or self.positive_rank < max_rank


def top_candidates(
    q_emb: np.ndarray, c_emb: np.ndarray, k: int, chunk_size: int = 1024, above: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(indices, scores) of the k best corpus rows per query, best first, in query chunks; with ``above`` (one
    threshold per query) also how many corpus rows score strictly above it."""
    k = min(k, c_emb.shape[0])
    idx_out = np.zeros((q_emb.shape[0], k), dtype=np.int64)
    sc_out = np.zeros((q_emb.shape[0], k), dtype=np.float32)
    counts = np.zeros(q_emb.shape[0], dtype=np.int64) if above is not None else None
    for start in range(0, q_emb.shape[0], chunk_size):
        s = q_emb[start : start + chunk_size] @ c_emb.T
        if k < s.shape[1]:
            part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(s.shape[1]), (s.shape[0], 1))
        part_scores = np.take_along_axis(s, part, axis=1)
        order = np.lexsort((part, -part_scores), axis=1)
        idx_out[start : start + len(s)] = np.take_along_axis(part, order, axis=1)
        sc_out[start : start + len(s)] = np.take_along_axis(part_scores, order, axis=1)
        if counts is not None:
            counts[start : start + len(s)] = (s > above[start : start + len(s), None] + 1e-6).sum(axis=1)
    return idx_out, sc_out, counts


def choose_negatives(
    cand_idx: Sequence[int],
    cand_scores: Sequence[float],
    corpus_ids: Sequence[str],
    corpus_keys: Sequence[str],
    positive_id: str | None,
    positive_key: str,
    positive_score: float,
    cfg: MineConfig,
    rng: random.Random,
) -> tuple[list[int], list[float], int]:
    """Pick negatives from ranked candidates: skip positive and duplicates, rank range, margin, then sample."""
    ranked, seen = [], {positive_key}
    for j, s in zip(cand_idx, cand_scores, strict=True):
        if corpus_ids[j] == positive_id or corpus_keys[j] in seen:
            continue
        seen.add(corpus_keys[j])
        ranked.append((int(j), float(s)))
    window = ranked[cfg.range_start : cfg.range_end]
    dropped = 0
    if cfg.margin is not None:
        limit = positive_score - cfg.margin
        kept = [(j, s) for j, s in window if s <= limit]
        dropped = len(window) - len(kept)
        window = kept
    if cfg.sampling == "random" and len(window) > cfg.num_negatives:
        window = sorted(rng.sample(window, cfg.num_negatives), key=lambda x: -x[1])
    window = window[: cfg.num_negatives]
    return [j for j, _ in window], [round(s, 4) for _, s in window], dropped


def mine_hard_negatives(
    queries: Sequence[str],
    positives: Sequence[str],
    positive_ids: Sequence[str | None],
    corpus_ids: Sequence[str],
    corpus_texts: Sequence[str],
    model,
    cfg: MineConfig = MineConfig(),
    corpus_embeddings: np.ndarray | None = None,
) -> list[MinedQuery]:
    """Mine negatives for every query from the corpus (see the module docstring for the rules).

    ``corpus_embeddings`` (encoded with ``cfg.doc_side``) skips re-encoding the corpus.
    """
    if not (len(queries) == len(positives) == len(positive_ids)):
        raise ValueError("queries, positives and positive_ids must have the same length")
    if not queries:
        return []
    q_emb = encode(model, list(queries), cfg.query_side, cfg.batch_size)
    c_emb = corpus_embeddings if corpus_embeddings is not None else encode_corpus(corpus_texts, model, cfg)
    if c_emb.shape[0] != len(corpus_texts):
        raise ValueError(f"{c_emb.shape[0]} corpus embeddings for {len(corpus_texts)} corpus texts")
    p_emb = encode(model, list(positives), cfg.doc_side, cfg.batch_size)
    pos_scores = np.sum(q_emb * p_emb, axis=1)
    extra = 1 + cfg.range_end  # room for the positive and its duplicates
    idx, scores, above = top_candidates(q_emb, c_emb, cfg.range_end + extra, cfg.chunk_size, pos_scores)
    keys = [normalize_for_dedup(t) for t in corpus_texts]
    out = []
    for i in range(len(queries)):
        rng = random.Random(f"{cfg.seed}:{i}:{queries[i]}")
        chosen, chosen_scores, dropped = choose_negatives(
            idx[i],
            scores[i],
            corpus_ids,
            keys,
            positive_ids[i],
            normalize_for_dedup(positives[i]),
            float(pos_scores[i]),
            cfg,
            rng,
        )
        out.append(
            MinedQuery(
                negatives=[corpus_texts[j] for j in chosen],
                negative_ids=[corpus_ids[j] for j in chosen],
                negative_scores=chosen_scores,
                positive_score=round(float(pos_scores[i]), 4),
                dropped_by_margin=dropped,
                positive_rank=int(above[i]),
            )
        )
    return out


def encode_corpus(corpus_texts: Sequence[str], model, cfg: MineConfig = MineConfig()) -> np.ndarray:
    """Corpus embeddings as the miner uses them (document side)."""
    return encode(model, list(corpus_texts), cfg.doc_side, cfg.batch_size)


def mining_report(mined: Sequence[MinedQuery], cfg: MineConfig) -> dict:
    """How many negatives queries got, how many candidates the margin removed, score summaries."""
    counts = [len(m.negatives) for m in mined]
    neg_scores = [s for m in mined for s in m.negative_scores]
    ranks = [m.positive_rank for m in mined]
    edges = [0, 1, 3, 10, 30, 100, 300, 1000]
    rank_hist = {
        f"{lo}-{hi - 1}": sum(lo <= r < hi for r in ranks) for lo, hi in zip(edges, edges[1:], strict=False)
    }
    rank_hist[f">={edges[-1]}"] = sum(r >= edges[-1] for r in ranks)
    return {
        "queries": len(mined),
        "positive_rank": rank_hist,
        "consistent": sum(m.consistent(cfg.max_positive_rank) for m in mined),
        "settings": {k: v for k, v in cfg.__dict__.items() if not isinstance(v, Side)},
        "negatives_per_query": {str(n): counts.count(n) for n in sorted(set(counts))},
        "full": sum(c == cfg.num_negatives for c in counts),
        "dropped_by_margin": sum(m.dropped_by_margin for m in mined),
        "positive_score_mean": round(float(np.mean([m.positive_score for m in mined])), 4) if mined else None,
        "negative_score_mean": round(float(np.mean(neg_scores)), 4) if neg_scores else None,
    }
