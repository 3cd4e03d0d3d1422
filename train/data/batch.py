"""A batch of formatted texts (queries, positives, K hard negatives each) and the text ids of the loss's
duplicate rule."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from train.losses import text_ids


@dataclass(frozen=True)
class TextBatch:
    """``n`` samples: prompted query, prompted positive and ``K`` prompted hard negatives each."""

    queries: list[str]
    positives: list[str]
    negatives: list[list[str]]  # [n][K]
    datasets: list[str]

    def __post_init__(self) -> None:
        n = len(self.queries)
        if len(self.positives) != n or len(self.negatives) != n or len(self.datasets) != n:
            raise ValueError("queries, positives, negatives and datasets must have one entry per sample")
        if len({len(row) for row in self.negatives}) > 1:
            raise ValueError("every sample needs the same number of hard negatives")

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def k(self) -> int:
        """Hard negatives per sample."""
        return len(self.negatives[0]) if self.negatives else 0

    @property
    def documents(self) -> list[str]:
        """Positives then hard negatives, sample-major: ``[p_0..p_{n-1}, n_00..n_0(K-1), n_10, ...]``."""
        return self.positives + [d for row in self.negatives for d in row]

    def slice(self, rows: slice) -> TextBatch:
        """The samples in ``rows`` (a rank's share of a global batch)."""
        return TextBatch(self.queries[rows], self.positives[rows], self.negatives[rows], self.datasets[rows])

    def ids(self) -> dict[str, torch.Tensor | None]:
        """Text ids (``query_ids [n]``, ``pos_ids [n]``, ``neg_ids [n, K]`` or None) of the formatted texts."""
        n, k = len(self), self.k
        neg = text_ids([d for row in self.negatives for d in row]).view(n, k) if k else None
        return {"query_ids": text_ids(self.queries), "pos_ids": text_ids(self.positives), "neg_ids": neg}
