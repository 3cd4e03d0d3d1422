"""Fixtures for merge tests: synthetic checkpoints built in code, and perturbed copies of the bootstrap models."""

from __future__ import annotations

import sys
from pathlib import Path

# Make the repository's ``merge`` package win over ``tests/merge`` (tests/ is on sys.path).
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import pytest  # noqa: E402
from merge_fixtures import perturb_model, tiny_tensors, write_checkpoint  # noqa: E402


@pytest.fixture
def tiny_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two synthetic checkpoints of the same shape."""
    return (
        write_checkpoint(tmp_path / "a", tiny_tensors(1)),
        write_checkpoint(tmp_path / "b", tiny_tensors(2)),
    )


@pytest.fixture(scope="session")
def qwen3_pair(tmp_path_factory, qwen3_tiny_path: Path) -> tuple[Path, Path]:
    """Two perturbed copies (10% noise) of the bootstrapped qwen3-tiny sentence-transformers folder."""
    root = tmp_path_factory.mktemp("qwen3pair")
    return (
        perturb_model(qwen3_tiny_path, root / "a", 1, 0.1),
        perturb_model(qwen3_tiny_path, root / "b", 2, 0.1),
    )


@pytest.fixture(scope="session")
def me5_pair(tmp_path_factory, me5_small_path: Path) -> tuple[Path, Path]:
    """Two perturbed copies (2% noise) of the bootstrapped me5-small sentence-transformers folder."""
    root = tmp_path_factory.mktemp("me5pair")
    return (
        perturb_model(me5_small_path, root / "a", 1, 0.02),
        perturb_model(me5_small_path, root / "b", 2, 0.02),
    )
