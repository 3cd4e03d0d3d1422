"""One optimizer step on a DeepSpeed engine: plain, or GradCache (cached contrastive loss).

**Plain**: embed queries and documents with gradients, loss, ``engine.backward``, ``engine.step``.

**GradCache** (Gao et al. 2021, arXiv 2101.06983), so the contrastive batch is independent of memory:

1. embed every mini-batch (chunk) without gradients, recording the torch RNG state before each;
2. compute the loss of the whole batch on those embeddings (leaf tensors) and its gradient ``g`` with respect
   to them — the gathered cross-device batch included;
3. for each chunk: restore its RNG state (same dropout masks, so the same embeddings), embed it
   again with gradients, and backpropagate ``g_chunk`` through it via the surrogate ``<e_chunk, g_chunk>``.

Under DeepSpeed each chunk's backward is **one engine micro-step**: ``engine.backward(surrogate)`` then
``engine.step()``, with the engine's ``gradient_accumulation_steps`` set to the number of chunks (times any
loss-level accumulation). ZeRO-2/3 reduce-scatter gradients in hooks as each backward finishes and ZeRO-3
re-gathers parameters per forward; DeepSpeed supports exactly one backward per micro-step, and its step only
updates at the accumulation boundary, after the last chunk. sentence-transformers' cached losses instead run
every chunk's backward from a hook inside the single backward of the loss, so ZeRO's reduce hooks fire
several times within one micro-step: "Gradient computed twice for this partition" (sentence-transformers
#3173, #3531); tevatron's GradCache fails under ZeRO-3 as well (tevatron #206).
``scale_wrt_gas=False``: the surrogates already carry the exact gradient, not a share of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from embed import EmbeddingModel
from train.data.batch import TextBatch
from train.objective import ObjectiveSpec, as_tensor_ids, contrastive_loss, split_documents
from train.runtime import TorchRngState


@dataclass(frozen=True)
class Chunk:
    """Tokenised texts embedded in one forward pass (``role``: ``query`` or ``document``)."""

    role: str
    features: dict[str, Tensor]

    @property
    def tokens(self) -> int:
        """Real (non-pad) tokens."""
        return int(self.features["attention_mask"].sum())


@dataclass(frozen=True)
class StepConfig:
    """Lengths, GradCache chunking (``mini_batch_size`` texts per forward) and loss-level accumulation."""

    max_query_length: int | None = None
    max_document_length: int | None = None
    grad_cache: bool = False
    mini_batch_size: int | None = None
    accumulation: int = 1


@dataclass
class StepStats:
    """What one micro-batch (loss batch) of a step produced on this rank."""

    loss: float
    tokens: int
    texts: int
    seconds: float


def caches(n: int, k: int, config: StepConfig) -> bool:
    """Whether a batch of ``n`` queries with ``k`` negatives each goes through GradCache: only when its texts
    (``n * (2 + k)``) exceed ``mini_batch_size``. A batch that fits in one pass takes the plain step, which
    gives the same gradients without GradCache's extra no-grad forward pass."""
    return bool(config.grad_cache and config.mini_batch_size and n * (2 + k) > config.mini_batch_size)


def make_chunks(model: EmbeddingModel, batch: TextBatch, config: StepConfig) -> list[Chunk]:
    """Queries then documents (positives, then sample-major negatives), tokenised: one chunk per role, or
    mini-batches of ``mini_batch_size`` texts when the batch goes through GradCache (:func:`caches`)."""
    size = config.mini_batch_size if caches(len(batch), batch.k, config) else None
    chunks = []
    for role, texts, max_length in (
        ("query", batch.queries, config.max_query_length),
        ("document", batch.documents, config.max_document_length),
    ):
        step = size or len(texts)
        for start in range(0, len(texts), step):
            features = model.tokenize(texts[start : start + step], prompt="", max_length=max_length)
            chunks.append(Chunk(role, features))
    return chunks


def chunks_per_batch(local_batch: int, k: int, config: StepConfig) -> int:
    """How many chunks (engine micro-steps in GradCache) one local batch makes."""
    if not caches(local_batch, k, config):
        return 2
    size = config.mini_batch_size
    return -(-local_batch // size) + -(-(local_batch * (1 + k)) // size)


def engine_micro_steps(local_batch: int, k: int, config: StepConfig) -> int:
    """DeepSpeed ``gradient_accumulation_steps``: engine micro-steps per optimizer step."""
    per_batch = chunks_per_batch(local_batch, k, config) if caches(local_batch, k, config) else 1
    return per_batch * config.accumulation


def _assemble(
    embeddings: list[Tensor], chunks: list[Chunk], n: int, k: int
) -> tuple[Tensor, Tensor, Tensor | None]:
    q = torch.cat([e for e, c in zip(embeddings, chunks) if c.role == "query"])
    docs = torch.cat([e for e, c in zip(embeddings, chunks) if c.role == "document"])
    d_pos, d_neg = split_documents(docs, n, k)
    return q, d_pos, d_neg


def plain_micro_batch(
    engine, batch: TextBatch, chunks: list[Chunk], spec: ObjectiveSpec, scale: float
) -> float:
    """Embed with gradients, loss, one engine micro-step; returns the local loss."""
    embeddings = [engine(c.features) for c in chunks]
    q, d_pos, d_neg = _assemble(embeddings, chunks, len(batch), batch.k)
    loss = contrastive_loss(q, d_pos, d_neg, as_tensor_ids(batch.ids(), q.device), spec)
    engine.backward(loss * scale, scale_wrt_gas=False)
    engine.step()
    return float(loss.detach())


def cached_micro_batch(
    engine, batch: TextBatch, chunks: list[Chunk], spec: ObjectiveSpec, scale: float
) -> float:
    """GradCache: no-grad embeddings, loss gradients w.r.t. them, then one engine micro-step per chunk."""
    states, cached = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(TorchRngState.capture())
            cached.append(engine(chunk.features).detach())
    leaves = [e.requires_grad_() for e in cached]
    q, d_pos, d_neg = _assemble(leaves, chunks, len(batch), batch.k)
    loss = contrastive_loss(q, d_pos, d_neg, as_tensor_ids(batch.ids(), q.device), spec)
    (
        loss * scale
    ).backward()  # only the leaves (and the all-gather) are in this graph: no DeepSpeed hooks run
    after = TorchRngState.capture()
    for chunk, state, leaf in zip(chunks, states, leaves):
        state.restore()
        embedding = engine(chunk.features)
        grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)  # a role the loss does not use
        engine.backward((embedding * grad).sum(), scale_wrt_gas=False)
        engine.step()
    after.restore()
    return float(loss.detach())


def train_step(
    engine,
    model: EmbeddingModel,
    batches: list[TextBatch],
    config: StepConfig,
    spec: ObjectiveSpec,
) -> list[StepStats]:
    """One optimizer step over ``config.accumulation`` loss batches (each with its own in-batch negatives)."""
    if len(batches) != config.accumulation:
        raise ValueError(f"expected {config.accumulation} batches for one step, got {len(batches)}")
    steps_before = engine.global_steps
    stats = []
    for batch in batches:
        start = time.perf_counter()
        chunks = make_chunks(model, batch, config)
        run: Callable = cached_micro_batch if caches(len(batch), batch.k, config) else plain_micro_batch
        loss = run(engine, batch, chunks, spec, 1.0 / config.accumulation)
        texts = len(batch) * (2 + batch.k)
        stats.append(StepStats(loss, sum(c.tokens for c in chunks), texts, time.perf_counter() - start))
    if engine.global_steps != steps_before + 1:
        raise RuntimeError(
            f"the DeepSpeed engine took {engine.global_steps - steps_before} optimizer steps for one training "
            "step: its gradient_accumulation_steps does not match the micro-steps (see engine_micro_steps)"
        )
    return stats
