"""Packed (varlen) forward = padded forward per text (fp32, atol 1e-5): me5-small (real weights), a tiny Qwen3
and a tiny Gemma-3 built from transformers configs (sliding windows shorter than the texts), every pooling;
training gradients packed = padded; GradCache with packing = plain step without."""

from __future__ import annotations

import pytest
import torch
from embed_tiny_models import qwen_like_tokenizer

from embed import EmbeddingModel
from embed.packing import check_packing, pack, packable, plan_rows

TEXTS = [
    "a",
    "short text",
    "a much longer text that goes on and on, so that the padded batch wastes many positions on the others",
    "東京は日本の首都です。",
    "medium length sentence with a few words",
    "x y",
]


def _tiny_decoder(kind: str, attn: str) -> EmbeddingModel:
    from transformers import Gemma3TextConfig, Gemma3TextModel, Qwen3Config, Qwen3Model

    tokenizer = qwen_like_tokenizer()
    torch.manual_seed(0)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        sliding_window=8,  # shorter than the long texts: the packed mask must apply it per text
    )
    if kind == "qwen3":
        config = Qwen3Config(
            num_hidden_layers=3,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
            use_sliding_window=True,
            **common,
        )
        model = Qwen3Model(config)
    else:
        config = Gemma3TextConfig(
            num_hidden_layers=3,
            layer_types=["sliding_attention", "sliding_attention", "full_attention"],
            **common,
        )
        model = Gemma3TextModel(config)
    model.config._attn_implementation = attn
    return EmbeddingModel(model.eval(), tokenizer, packing="false")


def _per_text_close(model: EmbeddingModel, texts=TEXTS, atol: float = 1e-5, row_tokens: int = 0) -> None:
    feats = model.tokenize(texts)
    assert model.packs(feats["attention_mask"]) is False
    with torch.no_grad():
        padded = model(feats, normalize=False)
        model.packing, model.pack_row_tokens = "true", row_tokens
        try:
            packed = model(feats, normalize=False)
            one_by_one = torch.cat([model(model.tokenize([t]), normalize=False) for t in texts])
        finally:
            model.packing, model.pack_row_tokens = "false", 0
    assert packed.shape == padded.shape
    torch.testing.assert_close(packed, padded, atol=atol, rtol=0)
    torch.testing.assert_close(packed, one_by_one, atol=atol, rtol=0)


def test_plan_rows_first_fit_decreasing():
    row, offset = plan_rows([5, 3, 4, 2], 7)
    fills: dict[int, list[tuple[int, int]]] = {}
    for i, (r, o) in enumerate(zip(row, offset)):
        fills.setdefault(r, []).append((o, [5, 3, 4, 2][i]))
    for spans in fills.values():  # no overlap, within the capacity
        spans.sort()
        assert all(a + la <= b for (a, la), (b, _) in zip(spans, spans[1:]))
        assert spans[-1][0] + spans[-1][1] <= 7
    assert max(row) + 1 == 2
    assert plan_rows([9], 4) == ([0], [0])  # a text longer than the row gets a row of its own


def test_pack_left_and_right_padding_give_the_same_rows():
    ids = torch.tensor([[7, 8, 9], [5, 6, 0]])
    right = {"input_ids": ids, "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]])}
    left = {
        "input_ids": torch.tensor([[7, 8, 9], [0, 5, 6]]),
        "attention_mask": torch.tensor([[1, 1, 1], [0, 1, 1]]),
    }
    a, b = pack(right, pad_id=0, row_tokens=8), pack(left, pad_id=0, pos_offset=2, row_tokens=8)
    assert a.inputs["input_ids"].tolist() == [[7, 8, 9, 5, 6]] == b.inputs["input_ids"].tolist()
    assert a.inputs["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert b.inputs["position_ids"].tolist() == [[2, 3, 4, 2, 3]]
    assert a.last.tolist() == [2, 4] and a.first.tolist() == [0, 3]


def test_check_packing():
    assert check_packing(True) == "true" and check_packing("AUTO") == "auto" and check_packing(None) == "auto"
    with pytest.raises(ValueError, match="packing must be one of"):
        check_packing("sometimes")


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_me5_small_packed_equals_padded(real_me5, pooling):
    model = EmbeddingModel.load(real_me5, device="cpu", pooling=pooling, packing="false")
    assert packable(model.model) is None
    _per_text_close(model)
    _per_text_close(model, row_tokens=256)  # one row


@pytest.mark.parametrize("kind", ["qwen3", "gemma3"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_tiny_decoders_packed_equal_padded(kind, attn):
    model = _tiny_decoder(kind, attn)
    assert model.pooling == "lasttoken" and model.tokenizer.padding_side == "left"
    _per_text_close(model)
    _per_text_close(model, row_tokens=512)  # one row
    model.pooling = "mean"
    _per_text_close(model)


def test_auto_packs_only_wasteful_batches_and_true_refuses_an_unknown_model():
    model = _tiny_decoder("qwen3", "sdpa")
    model.packing = "auto"
    assert model.packs(model.tokenize(TEXTS)["attention_mask"])
    assert not model.packs(model.tokenize(["same length", "same length"])["attention_mask"])
    model.model.config._attn_implementation = "flash_attention_2"
    assert not model.packs(model.tokenize(TEXTS)["attention_mask"])
    with pytest.raises(ValueError, match="not exact"):
        model.packing = "true"


def _grads(model: EmbeddingModel, packing: str) -> dict[str, torch.Tensor]:
    model.packing = packing
    model.zero_grad()
    q = model(model.tokenize(TEXTS[:3]))
    d = model(model.tokenize(TEXTS[3:]))
    torch.nn.functional.cross_entropy(q @ d.T / 0.05, torch.arange(3)).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("kind", ["qwen3", "gemma3"])
def test_packed_training_gradients_equal_padded(kind):
    model = _tiny_decoder(kind, "sdpa")
    padded, packed = _grads(model, "false"), _grads(model, "true")
    assert padded.keys() == packed.keys() and len(padded) > 5
    assert max(float(g.abs().max()) for g in padded.values()) > 1e-4
    for name in padded:
        scale = max(1.0, float(padded[name].abs().max()))  # fp32 summation order: 1e-5 of the largest entry
        torch.testing.assert_close(packed[name], padded[name], atol=1e-5 * scale, rtol=1e-4, msg=name)


def test_me5_small_packed_training_gradients_equal_padded(real_me5):
    model = EmbeddingModel.load(real_me5, device="cpu", packing="false").eval()  # eval: no dropout
    padded, packed = _grads(model, "false"), _grads(model, "true")
    for name in padded:
        scale = max(1.0, float(padded[name].abs().max()))  # fp32 summation order: 1e-5 of the largest entry
        torch.testing.assert_close(packed[name], padded[name], atol=1e-5 * scale, rtol=1e-4, msg=name)
