"""Reranker losses: pointwise (each pair labelled yes/no) and listwise (softmax over 1 positive + n negatives).

Pairs come sample-major: ``[q_0 p_0, q_0 n_01 .. q_0 n_0k, q_1 p_1, ...]``, so a group is a row of a
``[n, 1 + k]`` view with the positive at column 0.

- causal LM, ``two_way``: cross-entropy over the ``[no, yes]`` logits of the last position (recipe.md §5:
  -log p(l | P(q, d)) with p the 2-way softmax; equals BCE on ``yes - no``, ms-swift's pointwise loss).
- causal LM, ``full_vocab``: cross-entropy over the whole vocabulary with target ``yes`` or ``no``.
- cross-encoder: BCE with logits on the single logit.
- listwise: cross-entropy over a group's relevance logits / temperature (positive = class 0); the relevance logit
  is ``yes - no`` (two_way), ``log p_vocab(yes)`` (full_vocab) or the cross-encoder's logit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

OBJECTIVES = ("pointwise", "listwise")
LOSSES = ("two_way", "full_vocab")


@dataclass(frozen=True)
class RerankLossSpec:
    """Objective, answer-token loss (causal LM) and listwise temperature."""

    objective: str = "pointwise"
    loss: str = "two_way"
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"reranker.objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"reranker.loss must be one of {LOSSES}, got {self.loss!r}")
        if not self.temperature > 0:
            raise ValueError(f"reranker.temperature must be > 0, got {self.temperature}")


def group_labels(n: int, group: int, device: torch.device | None = None) -> Tensor:
    """``[n * group]`` pair labels: 1 for each group's first pair (the positive), 0 for its negatives."""
    labels = torch.zeros(n, group, device=device)
    labels[:, 0] = 1.0
    return labels.reshape(-1)


def relevance(output: Tensor, causal: bool, loss: str, yes_id: int | None = None) -> Tensor:
    """``[N]`` relevance logits from the model output (see the module docstring)."""
    output = output.float()
    if not causal:
        return output
    if loss == "two_way":
        return output[:, 1] - output[:, 0]
    return torch.log_softmax(output, dim=-1)[:, yes_id]


def pointwise_loss(
    output: Tensor,
    labels: Tensor,
    causal: bool,
    loss: str,
    yes_id: int | None = None,
    no_id: int | None = None,
) -> Tensor:
    """Mean yes/no loss over pairs (``labels`` 1 = relevant)."""
    output = output.float()
    if not causal:
        return F.binary_cross_entropy_with_logits(output, labels.float())
    if loss == "two_way":
        return F.cross_entropy(output, labels.long())
    targets = torch.where(labels.bool(), torch.tensor(yes_id), torch.tensor(no_id)).to(output.device)
    return F.cross_entropy(output, targets)


def listwise_loss(scores: Tensor, temperature: float = 1.0) -> Tensor:
    """Mean cross-entropy of each ``[n, group]`` row with the positive in column 0."""
    targets = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    return F.cross_entropy(scores.float() / temperature, targets)


def rerank_loss(
    output: Tensor,
    n: int,
    group: int,
    spec: RerankLossSpec,
    causal: bool,
    yes_id: int | None = None,
    no_id: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The loss of ``n`` groups of ``group`` pairs, and the ``[n, group]`` relevance logits (for metrics)."""
    scores = relevance(output, causal, spec.loss, yes_id).view(n, group)
    if spec.objective == "listwise":
        return listwise_loss(scores, spec.temperature), scores
    labels = group_labels(n, group, output.device)
    return pointwise_loss(output, labels, causal, spec.loss, yes_id, no_id), scores
