"""Yes/no answer ids come from the tokenizer: Qwen3 and Gemma 3 values, clear errors otherwise."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from embed.rerank import LabelTokenError, resolve_label_ids
from embed.rerank.features import adds_bos

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from _train_helpers import write_tiny_bert  # noqa: E402


def test_qwen3_ids(qwen3_tokenizer) -> None:
    ids = resolve_label_ids(qwen3_tokenizer)
    assert (ids.yes, ids.no) == (9693, 2152)
    assert ids.pair == [2152, 9693]
    assert not adds_bos(qwen3_tokenizer)


def test_gemma3_ids(gemma3_path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gemma3_path)
    ids = resolve_label_ids(tok)
    assert (ids.yes, ids.no) == (4443, 1904)
    assert adds_bos(tok)  # the reranker prefix starts with <bos>


def test_tokenizer_without_the_tokens_is_rejected(tmp_path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(write_tiny_bert(tmp_path / "bert"))  # byte-level, no "yes" token
    with pytest.raises(LabelTokenError, match=r"has no token 'yes' in its vocabulary"):
        resolve_label_ids(tok)
    with pytest.raises(LabelTokenError, match=r"has no token 'oui'"):
        resolve_label_ids(tok, yes="oui")


def test_ambiguous_sentencepiece_token_is_rejected(me5_small_path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(me5_small_path)  # "yes" exists, but the word encodes as "▁yes"
    with pytest.raises(
        LabelTokenError, match=r"maps the token 'yes' to id \d+ but encodes the text 'yes' as \[\d+\]"
    ):
        resolve_label_ids(tok)
