"""One optimizer step of the reranker on a DeepSpeed engine: each loss batch (``n`` groups of one positive and
``k`` negatives) is one forward over its ``n * (1 + k)`` pairs, the loss, one engine micro-step."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from embed.rerank import Reranker
from train.data.batch import TextBatch
from train.reranker.losses import RerankLossSpec, rerank_loss


@dataclass
class RerankStepStats:
    """What one loss batch of a step produced on this rank."""

    loss: float
    tokens: int
    pairs: int
    correct: int  # groups whose positive scored highest
    groups: int
    seconds: float


def batch_pairs(batch: TextBatch) -> tuple[list[str], list[str]]:
    """Queries and documents of every pair, sample-major: each query with its positive then its negatives."""
    queries, documents = [], []
    for query, positive, negatives in zip(batch.queries, batch.positives, batch.negatives):
        for document in (positive, *negatives):
            queries.append(query)
            documents.append(document)
    return queries, documents


def micro_batch(
    engine, reranker: Reranker, batch: TextBatch, spec: RerankLossSpec, scale: float
) -> RerankStepStats:
    """Forward, loss, ``engine.backward(loss * scale)`` and ``engine.step()`` for one loss batch."""
    start = time.perf_counter()
    queries, documents = batch_pairs(batch)
    features = reranker.features(queries, documents, formatted=True)
    causal = reranker.kind == "causal_lm"
    output = engine(features, full_vocab=causal and spec.loss == "full_vocab")
    ids = reranker.label_ids
    loss, scores = rerank_loss(
        output, len(batch), 1 + batch.k, spec, causal, ids.yes if ids else None, ids.no if ids else None
    )
    engine.backward(loss * scale, scale_wrt_gas=False)
    engine.step()
    with torch.no_grad():
        best = scores.detach()
        correct = int((best[:, 0:1] > best[:, 1:]).all(dim=1).sum()) if batch.k else len(batch)
    return RerankStepStats(
        float(loss.detach()),
        int(features["attention_mask"].sum()),
        len(queries),
        correct,
        len(batch),
        time.perf_counter() - start,
    )


def rerank_step(
    engine, reranker: Reranker, batches: list[TextBatch], spec: RerankLossSpec
) -> list[RerankStepStats]:
    """One optimizer step over ``len(batches)`` loss batches (the engine accumulates their gradients)."""
    steps_before = engine.global_steps
    stats = [micro_batch(engine, reranker, b, spec, 1.0 / len(batches)) for b in batches]
    if engine.global_steps != steps_before + 1:
        raise RuntimeError(
            f"the DeepSpeed engine took {engine.global_steps - steps_before} optimizer steps for one training "
            "step: its gradient_accumulation_steps does not match the loss batches per step"
        )
    return stats
