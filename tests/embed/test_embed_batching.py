"""Token-budget batching in encode: order kept, every text once, budget respected, same vectors as one by one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import embed.model as model_module
from embed.batching import (
    CPU_TOKENS_PER_TEXT,
    TOKENS_PER_TEXT,
    batch_bounds,
    chunk_bounds,
    contiguous_padding,
    length_order,
    plan_batches,
    token_budget,
    trim_columns,
)

JA = ["今日は良い天気です。", "本日は晴天なり。", "株価が急落した。", "猫が窓辺で眠っている。"]
LONG = "東京都は日本の首都であり、人口は約千四百万人である。" * 3
# 40 texts from 1 to ~60 bytes (the tiny tokenizers are byte-level), duplicates and an empty string included
TEXTS = [*JA, LONG, "雨", "ab", "", "a" * 7, *[JA[i % 4][: 1 + i % 9] + "x" * (i % 5) for i in range(31)]]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("budget", [1, 7, 64, 300])
def test_plan_covers_every_index_once_longest_first_within_budget(seed, budget):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 80, size=int(rng.integers(1, 200))).tolist()
    batches = plan_batches(lengths, budget)
    flat = np.concatenate(batches).tolist()
    assert sorted(flat) == list(range(len(lengths)))  # every index exactly once
    seq = [lengths[i] for i in flat]
    assert seq == sorted(lengths, reverse=True)  # longest first
    for a, b in zip(flat, flat[1:]):
        if lengths[a] == lengths[b]:
            assert a < b  # ties keep input order
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert padded <= budget or len(batch) == 1
    for batch in batches[:-1]:  # greedy: the next row would not have fit
        width = max(max(lengths[i] for i in batch), 1)
        assert (len(batch) + 1) * width > budget


def test_bounds_and_budget_edges():
    assert batch_bounds([5, 5, 5, 1], 10) == [(0, 2), (2, 4)]
    assert batch_bounds([100, 3], 10) == [(0, 1), (1, 2)]  # an over-long row goes alone
    assert batch_bounds([0, 0, 0], 2) == [(0, 2), (2, 3)]  # empty rows count as width 1
    assert batch_bounds([], 8) == []
    with pytest.raises(ValueError, match="sorted longest first"):
        batch_bounds([1, 2], 8)
    with pytest.raises(ValueError, match="max_tokens"):
        batch_bounds([1], 0)
    assert token_budget(32, 64) == 32 * 64
    assert token_budget(32, 8192, "cpu") == 32 * CPU_TOKENS_PER_TEXT == 4096
    assert token_budget(32, 8192, torch.device("cuda")) == 32 * TOKENS_PER_TEXT  # no GPU needed to ask
    assert token_budget(32, 256, "cuda") == 32 * 256
    assert length_order([3, 5, 3, 5]).tolist() == [1, 3, 0, 2]


@pytest.mark.parametrize("side", ["left", "right"])
def test_trimmed_slices_equal_padding_each_batch_alone(bert, side):
    tok = bert.tokenizer
    old = tok.padding_side
    tok.padding_side = side
    try:
        texts = sorted(TEXTS, key=lambda t: -len(tok(t)["input_ids"]))
        full = dict(tok(texts, padding=True, return_tensors="pt"))
        lengths = full["attention_mask"].sum(1)
        assert contiguous_padding(full["attention_mask"], lengths, side == "left")
        for s, e in batch_bounds(lengths.numpy(), 50):
            part = trim_columns(full, s, e, int(lengths[s]), side == "left")
            alone = tok(texts[s:e], padding=True, return_tensors="pt")
            for k in alone:
                torch.testing.assert_close(part[k], alone[k], rtol=0, atol=0)
    finally:
        tok.padding_side = old


def test_non_contiguous_mask_is_detected():
    mask = torch.tensor([[1, 1, 0], [1, 0, 1]])
    assert not contiguous_padding(mask, mask.sum(1), left=False)
    assert contiguous_padding(torch.tensor([[0, 1, 1], [0, 0, 1]]), torch.tensor([2, 1]), left=True)


def _one_by_one(model, texts, **kw):
    """The simple path: each text alone through ``forward`` (in eval mode: no dropout)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return np.concatenate([model(model.tokenize([t], **kw)).numpy() for t in texts])
    finally:
        model.train(was_training)


def _spy_batches(model, monkeypatch):
    seen: list[dict[str, torch.Tensor]] = []
    original = model._embed

    def spy(features, params):
        seen.append({k: v.clone() for k, v in features.items()})
        return original(features, params)

    monkeypatch.setattr(model, "_embed", spy)
    return seen


@pytest.mark.parametrize("which", ["bert", "qwen"])  # right padding (encoder) and left padding (decoder)
@pytest.mark.parametrize("batch_size", [1, 2, 32])
def test_encode_matches_one_by_one_and_respects_budget(which, batch_size, request, monkeypatch):
    model = request.getfixturevalue(which)
    expected = _one_by_one(model, TEXTS, prompt="q: ")
    seen = _spy_batches(model, monkeypatch)
    got = model.encode(TEXTS, prompt="q: ", batch_size=batch_size)
    np.testing.assert_allclose(got, expected, atol=1e-5)  # input order, same vectors as the simple path
    budget = token_budget(batch_size, model.max_length, model.device)
    assert sum(b["attention_mask"].shape[0] for b in seen) == len(TEXTS)  # every text encoded once
    widths = [b["attention_mask"].shape[1] for b in seen]
    assert widths == sorted(widths, reverse=True)  # longest batches first
    for b in seen:
        rows, width = b["attention_mask"].shape
        assert rows * width <= budget or rows == 1
        assert b["attention_mask"].sum(1).max() == width  # padded only to the batch's own longest text
    if batch_size == 1:
        assert len(seen) < len(TEXTS)  # short texts were grouped although batch_size is 1


@pytest.mark.parametrize("which", ["bert", "qwen"])
@pytest.mark.parametrize(
    "prefetch", [False, True]
)  # True: the accelerator path, next chunk tokenised on a thread
def test_chunked_tokenisation_and_fallback_give_the_same_vectors(which, prefetch, request, monkeypatch):
    model = request.getfixturevalue(which)
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    texts = [TEXTS[i] for i in perm]
    reference = _one_by_one(model, texts)
    monkeypatch.setattr(model_module, "chunk_bounds", lambda n: chunk_bounds(n, first=2, largest=5))
    monkeypatch.setattr(model_module, "_prefetch_tokens", lambda device: prefetch)
    calls: list[int] = []
    original = model._tokenize
    monkeypatch.setattr(model, "_tokenize", lambda t, m: calls.append(len(t)) or original(t, m))
    np.testing.assert_allclose(model.encode(texts, batch_size=2), reference, atol=1e-5)
    assert calls == [e - s for s, e in chunk_bounds(len(texts), first=2, largest=5)]  # 2, 4, 5, 5, ...
    monkeypatch.setattr(model_module, "contiguous_padding", lambda *a: False)  # full-width fallback
    np.testing.assert_allclose(model.encode(texts, batch_size=2, dim=8), _renorm(reference[:, :8]), atol=1e-5)


def test_tokenisation_errors_surface_from_the_prefetch_thread(bert, monkeypatch):
    monkeypatch.setattr(model_module, "_prefetch_tokens", lambda device: True)

    def boom(texts, max_length):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(bert, "_tokenize", boom)
    with pytest.raises(RuntimeError, match="tokenizer exploded"):
        bert.encode(TEXTS)


def test_chunk_bounds():
    assert chunk_bounds(0) == []
    assert chunk_bounds(3, first=2, largest=5) == [(0, 2), (2, 3)]
    assert chunk_bounds(20, first=2, largest=5) == [(0, 2), (2, 6), (6, 11), (11, 16), (16, 20)]
    assert chunk_bounds(10_000) == [(0, 512), (512, 1536), (1536, 3584), (3584, 7680), (7680, 10_000)]
    with pytest.raises(ValueError, match="first <= largest"):
        chunk_bounds(5, first=4, largest=2)


def _renorm(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # a zero row (pad-only) stays zero


def test_real_me5_small_batching_matches_one_by_one(me5_model):
    texts = [LONG * 12, *JA, "雨", LONG]  # one text over 512 tokens (truncated), short and medium ones
    got = me5_model.encode(texts, prompt_name="query", batch_size=2)
    np.testing.assert_allclose(got, _one_by_one(me5_model, texts, prompt_name="query"), atol=1e-5)
