"""Matryoshka wrapping: the weighted sum of per-dimension losses, with masks from full or per-dim scores."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _infonce_reference import make_batch, reference_loss

from train.losses import MS_SWIFT, QWEN3, improved_infonce_loss, matryoshka_loss

DIMS, WEIGHTS = [4, 8, 16], [1.0, 0.5, 0.25]
EMB, IDS = ("q", "d_pos", "d_neg"), ("pos_ids", "neg_ids", "query_ids")


def _by_hand(b: dict, cfg, mask_from: str) -> torch.Tensor:
    """Σ_m w_m · reference(truncate + renormalise to k_m), masks from the full vectors or the truncated ones."""
    full = tuple(b[key] for key in EMB)
    total = 0.0
    for k, w in zip(DIMS, WEIGHTS):
        cut = tuple(F.normalize(x[..., :k], dim=-1) for x in full)
        total = total + w * reference_loss(
            *cut, *(b[key] for key in IDS), cfg, mask_embeddings=full if mask_from == "full" else None
        )
    return total


@pytest.mark.parametrize("cfg", [QWEN3, MS_SWIFT], ids=["qwen3", "ms_swift"])
@pytest.mark.parametrize("mask_from", ["full", "per_dim"])
def test_mrl_is_the_weighted_sum_of_per_dim_losses(mask_from: str, cfg) -> None:
    b = make_batch()
    leaves = {key: b[key].clone().requires_grad_() for key in EMB}
    ours = matryoshka_loss(
        *leaves.values(),
        *(b[key] for key in IDS),
        dims=DIMS,
        weights=WEIGHTS,
        mrl_mask_from=mask_from,
        config=cfg,
    )
    ours.backward()
    ref_leaves = {key: b[key].clone().requires_grad_() for key in EMB}
    ref = _by_hand({**b, **ref_leaves}, cfg, mask_from)
    ref.backward()
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=0)
    for key in EMB:
        torch.testing.assert_close(leaves[key].grad, ref_leaves[key].grad, atol=1e-10, rtol=0)


def test_mask_source_matters_on_this_batch() -> None:
    b = make_batch()
    full, per_dim = (_by_hand(b, QWEN3, mode).item() for mode in ("full", "per_dim"))
    assert abs(full - per_dim) > 1e-6


def test_default_weights_average_and_full_dim_is_the_plain_loss() -> None:
    b = make_batch()
    args = [b[key] for key in (*EMB, *IDS)]
    plain = improved_infonce_loss(*args)
    torch.testing.assert_close(matryoshka_loss(*args, dims=["full"]), plain, atol=1e-12, rtol=0)
    torch.testing.assert_close(matryoshka_loss(*args, dims=[None, 16]), plain, atol=1e-12, rtol=0)
    summed = matryoshka_loss(*args, dims=[8, 16], weights=[1.0, 1.0], mrl_mask_from="per_dim")
    torch.testing.assert_close(matryoshka_loss(*args, dims=[8, 16], mrl_mask_from="per_dim"), summed / 2)


def test_local_rows_and_errors() -> None:
    b = make_batch()
    args = [b[key] for key in (*EMB, *IDS)]
    part = matryoshka_loss(*args, dims=DIMS, local_rows=slice(2, 6))
    full_rows = [improved_infonce_loss(*args, local_rows=slice(i, i + 1)) for i in range(2, 6)]
    assert part.shape == () and torch.isfinite(part)
    assert part.item() != pytest.approx(torch.stack(full_rows).mean().item())  # truncation matters
    for dims in ([0], [17], []):
        with pytest.raises(ValueError):
            matryoshka_loss(*args, dims=dims)
    with pytest.raises(ValueError):
        matryoshka_loss(*args, dims=[4, 8], weights=[1.0])
    with pytest.raises(ValueError):
        matryoshka_loss(*args, dims=[4], mrl_mask_from="first")
