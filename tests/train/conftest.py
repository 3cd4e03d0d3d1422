"""Fixtures of the trainer tests: an in-process gloo world of one for DeepSpeed engines, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _train_helpers import REPO, remove_new_shm, shm_files, write_tiny_bert


@pytest.fixture(scope="session")
def gloo_world_of_one():
    """A single-rank gloo process group (what deepspeed.initialize needs), torn down at the end."""
    pytest.importorskip("deepspeed")
    import torch.distributed as dist

    from train.runtime import free_port

    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".cache" / "torch_extensions"))
    added_local_rank = "LOCAL_RANK" not in os.environ
    os.environ.setdefault("LOCAL_RANK", "0")
    before = shm_files()
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    yield
    if created:
        dist.destroy_process_group()
    if added_local_rank:
        os.environ.pop("LOCAL_RANK", None)
    remove_new_shm(before)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny random BERT without dropout."""
    return write_tiny_bert(tmp_path_factory.mktemp("train_bert") / "model", dropout=0.0)


@pytest.fixture(scope="session")
def tiny_bert_dropout(tmp_path_factory) -> Path:
    """A tiny random BERT with dropout 0.1 (hidden and attention)."""
    return write_tiny_bert(tmp_path_factory.mktemp("train_bert_dropout") / "model", dropout=0.1)
