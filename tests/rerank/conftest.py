"""Fixtures of the reranker tests: real tokenizers and tiny real models from the bootstrap cache."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def qwen3_tokenizer(qwen3_tokenizer_path):
    """The exact Qwen3 tokenizer."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen3_tokenizer_path)


@pytest.fixture(scope="session")
def qwen3_tiny_lm_path():
    """The tiny random Qwen3ForCausalLM (real Qwen3 tokenizer)."""
    from pathlib import Path

    from embed.bootstrap.registry import resolve_model

    return Path(resolve_model("qwen3-tiny-lm"))


@pytest.fixture(scope="session")
def gemma3_path():
    """gemma-3-270m, when bootstrapped (it is opt-in); skips otherwise."""
    from embed.bootstrap.registry import ModelNotBuiltError, resolve_model

    try:
        return resolve_model("gemma3-270m", build=False)
    except (ModelNotBuiltError, TypeError):
        pytest.skip("gemma3-270m is not bootstrapped")


@pytest.fixture(scope="session")
def qwen3_f64(qwen3_tiny_lm_path):
    """The tiny Qwen3 causal LM in float64 and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(qwen3_tiny_lm_path, dtype=torch.float64).eval()
    return model, AutoTokenizer.from_pretrained(qwen3_tiny_lm_path)
