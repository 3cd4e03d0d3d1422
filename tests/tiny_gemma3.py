"""A tiny random Gemma-3 text model with a Gemma-like tokenizer (``<bos>`` first, ``<eos>`` not appended, left
padding), written as a plain Hugging Face folder: the decoder path of gemma-3-270m in seconds (tests only)."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

GEMMA_SPECIALS = ("<pad>", "<eos>", "<bos>")


def gemma_like_tokenizer():
    """Byte-level BPE with Gemma's specials: ``<bos>`` prepended by the tokenizer, ``<eos>`` left to the model."""
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True) for t in GEMMA_SPECIALS])
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", bos)]),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        padding_side="left",
        model_max_length=131072,
    )


def write_tiny_gemma3(folder: Path, seed: int = 0, sliding_window: int = 8) -> Path:
    """A 2-layer random Gemma3TextModel (hidden 64, one sliding-window layer of ``sliding_window`` tokens, one
    full-attention layer, Gemma's sqrt(hidden) embedding scale and RMSNorms) with :func:`gemma_like_tokenizer`."""
    from transformers import Gemma3TextConfig, Gemma3TextModel

    tokenizer = gemma_like_tokenizer()
    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    model = Gemma3TextModel(config)
    with torch.no_grad():  # random init leaves RMSNorm weights at 0 (Gemma scales by 1 + w): make them matter
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(0.0, 0.3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
