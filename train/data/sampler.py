"""Epoch plans: which records form each global batch, as a pure function of (seed, epoch) — hence resumable.

Mixture weights are per-epoch repeat factors: dataset ``i`` contributes ``weight_i * len_i`` draws per epoch
(``2.0`` = each record twice, ``0.5`` = a different random half each epoch; the fractional part is drawn at
random), so the mixing proportion of ``i`` is ``weight_i * len_i / Σ_j weight_j * len_j``. Draws cycle through
fresh permutations, so no record repeats before all of its dataset's records were drawn.

``batch_by_dataset`` cuts each dataset's draws into batches of its own (same-task batches: no cross-task
in-batch negatives, FlagEmbedding ``same_dataset_within_batch``), then shuffles the batch order.
``no_duplicates`` keeps a text (query or positive) from appearing twice in a batch (sentence-transformers
``NO_DUPLICATES``): a conflicting draw is deferred to the next batch. Incomplete last batches are dropped
(every rank must get the same number of rows).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Draw = tuple[int, int]  # (dataset index, record index)


@dataclass(frozen=True)
class SamplingConfig:
    """How an epoch's global batches are drawn."""

    batch_size: int
    seed: int = 0
    batch_by_dataset: bool = True
    no_duplicates: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


def epoch_rng(seed: int, epoch: int, *stream: int) -> np.random.Generator:
    """A generator determined by the seed, the epoch and a stream id (independent of any global RNG)."""
    return np.random.default_rng([seed, epoch, *stream])


def draw_indices(size: int, weight: float, rng: np.random.Generator) -> np.ndarray:
    """``weight * size`` record indices (fraction drawn at random), cycling through fresh permutations."""
    if weight < 0:
        raise ValueError(f"dataset weight must be >= 0, got {weight}")
    exact = weight * size
    count = int(math.floor(exact)) + int(rng.random() < exact - math.floor(exact))
    if count == 0 or size == 0:
        return np.zeros(0, dtype=np.int64)
    rounds = -(-count // size)
    return np.concatenate([rng.permutation(size) for _ in range(rounds)])[:count]


def cut_batches(
    draws: Sequence[Draw], batch_size: int, keys: Sequence[Sequence[frozenset[str]]] | None = None
) -> list[list[Draw]]:
    """Full batches in draw order; with ``keys`` (texts per record), a draw whose texts are already in the
    batch waits for the next one."""
    if keys is None:
        full = len(draws) // batch_size
        return [list(draws[b * batch_size : (b + 1) * batch_size]) for b in range(full)]
    batches: list[list[Draw]] = []
    pending = deque(draws)
    while True:
        batch: list[Draw] = []
        seen: set[str] = set()
        deferred: list[Draw] = []
        while pending and len(batch) < batch_size:
            draw = pending.popleft()
            texts = keys[draw[0]][draw[1]]
            if seen.isdisjoint(texts):
                batch.append(draw)
                seen.update(texts)
            else:
                deferred.append(draw)
        if len(batch) < batch_size:
            return batches
        batches.append(batch)
        pending.extendleft(reversed(deferred))


def plan_epoch(
    sizes: Sequence[int],
    weights: Sequence[float],
    config: SamplingConfig,
    epoch: int,
    keys: Sequence[Sequence[frozenset[str]]] | None = None,
) -> list[list[Draw]]:
    """The global batches of one epoch (lists of ``(dataset, record)``), identical on every rank."""
    if len(sizes) != len(weights) or not sizes:
        raise ValueError("need one weight per dataset and at least one dataset")
    keys = keys if config.no_duplicates else None
    per_dataset = [
        [(i, int(r)) for r in draw_indices(n, w, epoch_rng(config.seed, epoch, 1, i))]
        for i, (n, w) in enumerate(zip(sizes, weights))
    ]
    order_rng = epoch_rng(config.seed, epoch, 2)
    if config.batch_by_dataset:
        batches = [b for draws in per_dataset for b in cut_batches(draws, config.batch_size, keys)]
        return [batches[i] for i in order_rng.permutation(len(batches))]
    pooled = [d for draws in per_dataset for d in draws]
    pooled = [pooled[i] for i in order_rng.permutation(len(pooled))]
    return cut_batches(pooled, config.batch_size, keys)
