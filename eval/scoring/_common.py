"""Helpers shared by the scorers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .types import Mode

MODES: tuple[Mode, ...] = ("official", "corrected")


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def finish_details(details: dict[str, Any], mode: Mode) -> dict[str, Any]:
    """Label corrected runs (official runs keep JMTEB's exact ``details`` keys)."""
    if mode == "corrected":
        details["mode"] = "corrected"
    return details


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch ops on one intra-op thread, restoring the count afterwards.

    For loops of many tiny ops (one query's 1 x n similarities): below torch's parallel grain size the maths is
    single-threaded anyway, so results are identical, but each op still pays an OpenMP fork/join, which on a busy
    machine (a descheduled worker thread) cost ~1 ms per op: 61 s instead of 3 s for the JSQuAD reranking task.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
