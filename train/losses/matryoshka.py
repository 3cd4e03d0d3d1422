"""Matryoshka Representation Learning (MRL) around the improved InfoNCE loss.

Formula::

    L_MRL = Σ_m w_m · L( norm(q[:, :k_m]), norm(d+[:, :k_m]), norm(d-[..., :k_m]) )

for nested prefix sizes ``k_m`` (``dims``) with weights ``w_m``; ``norm`` is L2 normalisation, as in the
Qwen3-Embedding repo's custom-dimension example (take the first k dims, normalise again). Default weights are
uniform ``1/len(dims)`` (FlagEmbedding averages; sentence-transformers ``MatryoshkaLoss`` sums — pass
``weights=[1.0] * len(dims)`` for that), so ``dims=[full]`` is exactly the wrapped loss.

``mrl_mask_from``: ``full`` computes the false-negative masks of Eq. 1 once, from full-dimension scores, and
applies them at every size (a candidate is a false negative or not whatever the truncation); ``per_dim``
recomputes them from each truncated size's own scores.

References: Kusupati et al., *Matryoshka Representation Learning*, arXiv 2205.13147; docs/recipe.md §4;
sentence-transformers ``MatryoshkaLoss``; FlagEmbedding ``use_mrl``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from train.losses.improved_infonce import QWEN3, InfoNCEConfig, improved_infonce_loss, infonce_masks

MRL_MASK_FROM = ("full", "per_dim")


def resolve_dims(dims: Sequence[int | str | None], full_dim: int) -> list[int]:
    """Prefix sizes as ints: ``None`` / ``"full"`` mean the full dimension; each must lie in 1..full_dim."""
    out = []
    for dim in dims:
        k = full_dim if dim is None or dim == "full" else int(dim)
        if not 1 <= k <= full_dim:
            raise ValueError(f"MRL dim {dim!r} is outside 1..{full_dim}")
        out.append(k)
    if not out:
        raise ValueError("MRL needs at least one dim")
    return out


def truncate_normalise(x: Tensor | None, dim: int) -> Tensor | None:
    """The first ``dim`` features of the last axis, L2-normalised again."""
    return None if x is None else F.normalize(x[..., :dim], p=2, dim=-1)


def matryoshka_loss(
    q: Tensor,
    d_pos: Tensor,
    d_neg: Tensor | None = None,
    pos_ids: Tensor | None = None,
    neg_ids: Tensor | None = None,
    query_ids: Tensor | None = None,
    *,
    dims: Sequence[int | str | None],
    weights: Sequence[float] | None = None,
    mrl_mask_from: Literal["full", "per_dim"] = "full",
    config: InfoNCEConfig = QWEN3,
    local_rows: slice | None = None,
    loss_fn: Callable[..., Tensor] = improved_infonce_loss,
    mask_fn: Callable[..., object] = infonce_masks,
) -> Tensor:
    """Weighted sum over ``dims`` of ``loss_fn`` on truncated, re-normalised embeddings (masks per ``mrl_mask_from``)."""
    if mrl_mask_from not in MRL_MASK_FROM:
        raise ValueError(f"mrl_mask_from must be one of {', '.join(MRL_MASK_FROM)}, got {mrl_mask_from!r}")
    ks = resolve_dims(dims, q.shape[-1])
    if weights is None:
        weights = [1.0 / len(ks)] * len(ks)
    if len(weights) != len(ks):
        raise ValueError(f"{len(weights)} MRL weights for {len(ks)} dims")
    ids = {"pos_ids": pos_ids, "neg_ids": neg_ids, "query_ids": query_ids}
    extra = {}
    if mrl_mask_from == "full":
        # decided once on full-dimension scores (inputs are already L2-normalised)
        extra["masks"] = mask_fn(q, d_pos, d_neg, **ids, config=config, local_rows=local_rows)
    total = None
    for k, w in zip(ks, weights):
        loss_k = loss_fn(
            truncate_normalise(q, k),
            truncate_normalise(d_pos, k),
            truncate_normalise(d_neg, k),
            **ids,
            config=config,
            local_rows=local_rows,
            **extra,
        )
        total = w * loss_k if total is None else total + w * loss_k
    return total
