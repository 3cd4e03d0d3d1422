"""The EOS that last-token pooling reads: appended once, kept by truncation, at position -1 (left padding)."""

from __future__ import annotations

import pytest
import torch
from embed_tiny_models import qwen_like_tokenizer

from embed import EmbeddingModel
from embed.tokenization import add_eos_postprocessor, appends_token, default_eos_token, tokenize_texts

TEXTS = ["今日は良い天気です。", "a", "株価が急落した。" * 20]


def test_default_eos_is_pad_for_qwen_and_eos_otherwise():
    tok = qwen_like_tokenizer()
    assert default_eos_token(tok, "qwen3") == "<|endoftext|>"
    assert default_eos_token(tok, "qwen2") == "<|endoftext|>"
    assert default_eos_token(tok, "gemma3_text") == "<|im_end|>"


def test_probe_detects_whether_the_tokenizer_appends():
    eot = 256
    assert not appends_token(qwen_like_tokenizer(), eot)
    assert appends_token(qwen_like_tokenizer(append_eos=True), eot)


@pytest.mark.parametrize("side", ["left", "right"])
def test_manual_append_ends_every_row_with_eos_and_truncation_keeps_it(side):
    tok = qwen_like_tokenizer()
    tok.padding_side = side
    feats = tokenize_texts(tok, TEXTS, max_length=16, append_id=256)
    ids, mask = feats["input_ids"], feats["attention_mask"]
    assert ids.shape[1] == 16  # the long text was truncated to max_length, EOS included
    last = mask.shape[1] - 1 - mask.flip(1).argmax(1) if side == "left" else mask.sum(1) - 1
    assert ids[torch.arange(3), last].tolist() == [256, 256, 256]
    assert (ids == 256).logical_and(mask.bool()).sum(1).tolist() == [1, 1, 1]  # exactly one EOS per row
    if side == "left":
        assert ids[:, -1].tolist() == [256, 256, 256]


def test_native_append_is_not_doubled(tiny_qwen3_eos_dir):
    model = EmbeddingModel.load(tiny_qwen3_eos_dir, max_length=16)
    assert not model.appends_eos
    feats = model.tokenize(TEXTS)
    assert feats["input_ids"][:, -1].tolist() == [256] * 3
    assert feats["input_ids"].shape[1] == 16
    assert (feats["input_ids"] == 256).logical_and(feats["attention_mask"].bool()).sum(1).tolist() == [
        1,
        1,
        1,
    ]


def test_decoder_tokenize_puts_pad_eos_at_position_minus_one(qwen):
    assert (
        qwen.eos_token == "<|endoftext|>" and qwen.eos_token_id == 256
    )  # not tokenizer.eos_token <|im_end|>
    assert qwen.appends_eos and qwen.tokenizer.padding_side == "left"
    feats = qwen.tokenize(TEXTS, prompt="Instruct: t\nQuery:", max_length=12)
    assert feats["input_ids"][:, -1].tolist() == [256, 256, 256]
    assert feats["attention_mask"][:, -1].tolist() == [1, 1, 1]


def test_eos_token_is_configurable(tiny_qwen3_dir):
    model = EmbeddingModel.load(tiny_qwen3_dir, eos_token="<|im_end|>")
    assert model.eos_token_id == 258
    assert model.tokenize(["abc"])["input_ids"][0, -1].item() == 258
    with pytest.raises(ValueError, match="not in the tokenizer's vocabulary"):
        EmbeddingModel.load(tiny_qwen3_dir, eos_token="<nope>")


def test_postprocessor_written_into_saved_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    qwen_like_tokenizer().save_pretrained(tmp_path)
    assert add_eos_postprocessor(tmp_path / "tokenizer.json", "<|endoftext|>", 256)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert appends_token(reloaded, 256)
    assert reloaded("今日は", truncation=True, max_length=3)["input_ids"][-1] == 256
    assert not add_eos_postprocessor(tmp_path / "missing.json", "<|endoftext|>", 256)


def test_real_qwen3_tokenizer_eos_at_minus_one(tmp_path, real_qwen3_tokenizer, real_qwen3_tiny):
    from transformers import AutoTokenizer, Qwen3Config, Qwen3Model

    raw = AutoTokenizer.from_pretrained(real_qwen3_tokenizer)
    assert raw.pad_token_id == 151643 and raw.eos_token_id == 151645
    # The npm tokenizer does not append <|endoftext|> (recipe.md §1): a plain folder with it gets ours.
    config = Qwen3Config(
        vocab_size=len(raw), hidden_size=32, intermediate_size=32, num_hidden_layers=1, num_attention_heads=1,
        num_key_value_heads=1, head_dim=32, max_position_embeddings=64, pad_token_id=raw.pad_token_id,
    )  # fmt: skip
    Qwen3Model(config).save_pretrained(tmp_path)
    raw.save_pretrained(tmp_path)
    plain = EmbeddingModel.load(tmp_path, max_length=8)
    assert plain.appends_eos and plain.eos_token_id == 151643
    assert plain.tokenize(TEXTS)["input_ids"][:, -1].tolist() == [151643] * 3
    # The bootstrapped qwen3-tiny tokenizer appends it itself.
    model = EmbeddingModel.load(real_qwen3_tiny, max_length=8)
    assert model.eos_token_id == 151643
    feats = model.tokenize(TEXTS, prompt="Instruct: Retrieve semantically similar text\nQuery:")
    assert feats["input_ids"][:, -1].tolist() == [151643] * 3
    assert feats["input_ids"].shape[1] == 8
    assert 151645 not in feats["input_ids"].tolist()[0]
