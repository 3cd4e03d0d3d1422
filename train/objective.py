"""The training objective on a rank's embeddings: gather the global batch (cross-device negatives, gradients
flowing back to their owner), then Eq. 1 — or Matryoshka over Eq. 1 — averaged over this rank's queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from train.distributed import gather_no_grad, gather_with_grad, is_distributed, local_rows
from train.losses import QWEN3, InfoNCEConfig, improved_infonce_loss, matryoshka_loss


@dataclass(frozen=True)
class ObjectiveSpec:
    """The loss switches, optional MRL dims/weights, and whether in-batch negatives span all ranks."""

    infonce: InfoNCEConfig = field(default_factory=lambda: QWEN3)
    mrl_dims: Sequence[int | str] | None = None
    mrl_weights: Sequence[float] | None = None
    mrl_mask_from: Literal["full", "per_dim"] = "full"
    gather: bool = True


def contrastive_loss(
    q: Tensor,
    d_pos: Tensor,
    d_neg: Tensor | None,
    ids: dict[str, Tensor | None],
    spec: ObjectiveSpec,
) -> Tensor:
    """Loss of this rank's rows ``q [n, D]``, ``d_pos [n, D]``, ``d_neg [n, K, D]`` against the global batch."""
    query_ids, pos_ids, neg_ids = ids["query_ids"], ids["pos_ids"], ids["neg_ids"]
    if d_neg is not None and d_neg.shape[1] == 0:
        d_neg, neg_ids = None, None
    rows = None
    if spec.gather and is_distributed():
        rows = local_rows(q.shape[0])
        q, d_pos = gather_with_grad(q), gather_with_grad(d_pos)
        d_neg = gather_with_grad(d_neg) if d_neg is not None else None
        device = q.device
        query_ids, pos_ids = gather_no_grad(query_ids.to(device)), gather_no_grad(pos_ids.to(device))
        neg_ids = gather_no_grad(neg_ids.to(device)) if neg_ids is not None else None
    kwargs = {"pos_ids": pos_ids, "neg_ids": neg_ids, "query_ids": query_ids, "local_rows": rows}
    if spec.mrl_dims:
        return matryoshka_loss(
            q,
            d_pos,
            d_neg,
            dims=spec.mrl_dims,
            weights=spec.mrl_weights,
            mrl_mask_from=spec.mrl_mask_from,
            config=spec.infonce,
            **kwargs,
        )
    return improved_infonce_loss(q, d_pos, d_neg, config=spec.infonce, **kwargs)


def split_documents(docs: Tensor, n: int, k: int) -> tuple[Tensor, Tensor | None]:
    """``[n + n*K, D]`` document embeddings (positives first, sample-major negatives) -> ``d_pos``, ``d_neg``."""
    d_pos = docs[:n]
    return d_pos, (docs[n:].reshape(n, k, docs.shape[-1]) if k else None)


def as_tensor_ids(ids: dict[str, Tensor | None], device: torch.device) -> dict[str, Tensor | None]:
    """Text ids moved to ``device``."""
    return {k: (v.to(device) if v is not None else None) for k, v in ids.items()}
