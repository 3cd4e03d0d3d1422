"""Tiny random models with hand-built tokenizers, written as plain Hugging Face folders (test fixtures)."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def _byte_bpe() -> Tokenizer:
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def qwen_like_tokenizer(append_eos: bool = False):
    """Byte-level BPE with Qwen's specials: pad ``<|endoftext|>`` (256), eos ``<|im_end|>`` (258), left padding."""
    from transformers import PreTrainedTokenizerFast

    tok = _byte_bpe()
    tok.add_special_tokens([AddedToken(t, special=True) for t in QWEN_SPECIALS])
    eot = tok.token_to_id("<|endoftext|>")
    steps = [processors.ByteLevel(trim_offsets=False)]
    if append_eos:
        steps.append(
            processors.TemplateProcessing(single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", eot)])
        )
    tok.post_processor = processors.Sequence(steps)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|endoftext|>", eos_token="<|im_end|>", model_max_length=131072
    )


def bert_like_tokenizer():
    """Byte-level BPE with BERT's specials and template ``[CLS] $A [SEP]``."""
    from transformers import PreTrainedTokenizerFast

    tok = _byte_bpe()
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")])
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=64,
    )


def write_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer random BertModel (hidden 32) with its tokenizer, as a plain HF folder."""
    from transformers import BertConfig, BertModel

    tokenizer = bert_like_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_qwen3(folder: Path, seed: int = 0, append_eos: bool = False, max_positions: int = 128) -> Path:
    """A 2-layer random Qwen3Model (hidden 64, head_dim 32) with a Qwen-like tokenizer, as a plain HF folder."""
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = qwen_like_tokenizer(append_eos=append_eos)
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        tie_word_embeddings=True,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    Qwen3Model(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
