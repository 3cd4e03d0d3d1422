"""Fixtures for embed/ tests: tiny random models built in code, and the bootstrapped real ones when available."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from embed_tiny_models import write_tiny_bert, write_tiny_qwen3


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """Plain HF folder: random 2-layer BertModel + byte-level tokenizer with [CLS] $A [SEP]."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert") / "model")


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory) -> Path:
    """Plain HF folder: random Qwen3Model + Qwen-like tokenizer that does NOT append <|endoftext|>."""
    return write_tiny_qwen3(tmp_path_factory.mktemp("tiny_qwen3") / "model")


@pytest.fixture(scope="session")
def tiny_qwen3_eos_dir(tmp_path_factory) -> Path:
    """Like tiny_qwen3_dir, but the tokenizer appends <|endoftext|> through a template post-processor."""
    return write_tiny_qwen3(tmp_path_factory.mktemp("tiny_qwen3_eos") / "model", append_eos=True)


@pytest.fixture(scope="session")
def bert(tiny_bert_dir):
    """The tiny BERT loaded as an EmbeddingModel (do not mutate; load your own copy for that)."""
    from embed import EmbeddingModel

    return EmbeddingModel.load(tiny_bert_dir, device="cpu")


@pytest.fixture(scope="session")
def qwen(tiny_qwen3_dir):
    """The tiny Qwen3 loaded as an EmbeddingModel (do not mutate; load your own copy for that)."""
    from embed import EmbeddingModel

    return EmbeddingModel.load(tiny_qwen3_dir, device="cpu")


def _need_bootstrap() -> None:
    if importlib.util.find_spec("embed.bootstrap.registry") is None:
        pytest.skip("embed.bootstrap.registry is not available yet")


@pytest.fixture(scope="session")
def real_me5(request) -> Path:
    """The bootstrapped multilingual-e5-small folder (skips while embed.bootstrap is missing)."""
    _need_bootstrap()
    return request.getfixturevalue("me5_small_path")


@pytest.fixture(scope="session")
def real_qwen3_tiny(request) -> Path:
    """The bootstrapped tiny random Qwen3 with the real Qwen3 tokenizer (skips while embed.bootstrap is missing)."""
    _need_bootstrap()
    return request.getfixturevalue("qwen3_tiny_path")


@pytest.fixture(scope="session")
def real_qwen3_tokenizer(request) -> Path:
    """The exact Qwen3 tokenizer folder (skips while embed.bootstrap is missing)."""
    _need_bootstrap()
    return request.getfixturevalue("qwen3_tokenizer_path")


@pytest.fixture(scope="session")
def me5_model(real_me5):
    """The real multilingual-e5-small loaded once as an EmbeddingModel (do not mutate)."""
    from embed import EmbeddingModel

    return EmbeddingModel.load(real_me5, device="cpu")
