"""Pooling, normalisation and Matryoshka truncation against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from embed.pooling import first_token_pool, l2_normalize, last_token_pool, mean_pool, pool, truncate_dim

# Two rows, 4 positions, hidden 2. Row 0 has 3 real tokens, row 1 has 2.
TOKENS = [[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[7.0, 8.0], [9.0, 10.0]]]


def _batch(side: str):
    hidden = torch.full((2, 4, 2), float("nan"))  # padding holds NaN: it must never leak into the result
    mask = torch.zeros(2, 4, dtype=torch.long)
    for i, row in enumerate(TOKENS):
        n = len(row)
        span = slice(4 - n, 4) if side == "left" else slice(0, n)
        hidden[i, span] = torch.tensor(row)
        mask[i, span] = 1
    return hidden, mask


@pytest.mark.parametrize("side", ["left", "right"])
def test_last_token_pool_reads_last_attended_position(side):
    hidden, mask = _batch(side)
    assert torch.equal(last_token_pool(hidden, mask), torch.tensor([[5.0, 6.0], [9.0, 10.0]]))


@pytest.mark.parametrize("side", ["left", "right"])
def test_mean_pool_averages_attended_positions(side):
    hidden, mask = _batch(side)
    assert torch.allclose(mean_pool(hidden, mask), torch.tensor([[3.0, 4.0], [8.0, 9.0]]))


@pytest.mark.parametrize("side", ["left", "right"])
def test_cls_pool_reads_first_attended_position(side):
    hidden, mask = _batch(side)
    assert torch.equal(first_token_pool(hidden, mask), torch.tensor([[1.0, 2.0], [7.0, 8.0]]))


def test_mean_pool_bf16_accumulates_in_fp32():
    hidden = torch.full((1, 300, 1), 1.0 + 2**-7, dtype=torch.bfloat16)
    out = mean_pool(hidden, torch.ones(1, 300, dtype=torch.long))
    assert out.dtype == torch.bfloat16
    assert out.item() == pytest.approx(1.0 + 2**-7)


def test_pool_dispatch_and_unknown_mode():
    hidden, mask = _batch("right")
    assert torch.equal(pool(hidden, mask, "lasttoken"), last_token_pool(hidden, mask))
    with pytest.raises(ValueError, match="unknown pooling mode 'max'"):
        pool(hidden, mask, "max")


def test_l2_normalize_and_matryoshka():
    emb = torch.tensor([[3.0, 4.0, 12.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(l2_normalize(emb)[0], torch.tensor([3 / 13, 4 / 13, 12 / 13]))
    assert torch.equal(l2_normalize(emb)[1], torch.zeros(3))
    # First k dims, then renormalise: [3, 4] -> [0.6, 0.8].
    assert torch.allclose(truncate_dim(emb[:1], 2), torch.tensor([[0.6, 0.8]]))
    assert torch.allclose(truncate_dim(l2_normalize(emb[:1]), 2), torch.tensor([[0.6, 0.8]]))
    assert torch.equal(truncate_dim(emb[:1], 2, normalize=False), torch.tensor([[3.0, 4.0]]))
    assert truncate_dim(emb, None) is emb
    assert math.isclose(truncate_dim(emb[:1], 1).item(), 1.0)
    for bad in (0, 4, 2.0):
        with pytest.raises(ValueError, match="dim must be"):
            truncate_dim(emb, bad)
