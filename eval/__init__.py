"""JMTEB evaluation for tsumugi models: ``evaluate(model, suite)`` writes a JMTEB v1-style run folder.

Layout: ``data/`` (JSONL loaders, strict errors), ``tasks`` (the 16 JMTEB v1 datasets and local stand-ins),
``suite`` (``jmteb-v1``, ``local``, ``quick``), ``prefixes`` (presets in ``conf/eval/prefix``), ``cache`` and
``encoding`` (cached, NaN-checked encodes), ``dims`` (Matryoshka), ``run_task`` / ``runner`` (scoring through
``eval.scoring``), ``summary`` / ``results`` (averages and tables), ``leaderboard``, ``mteb_v2`` (JMTEB v2 via
mteb), ``cli`` (``python -m eval``, ``python -m eval.leaderboard``). Imports ``embed`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embed.lazy import lazy_getattr

_LAZY = {
    "evaluate": "eval.runner",
    "Results": "eval.results",
    "get_suite": "eval.suite",
    "Suite": "eval.suite",
    "load_preset": "eval.prefixes",
    "make_leaderboard": "eval.leaderboard",
    "Leaderboard": "eval.leaderboard",
    "DataError": "eval.data.errors",
    "EmbeddingError": "eval.data.errors",
}

__all__ = [
    "DataError",
    "EmbeddingError",
    "Leaderboard",
    "Results",
    "Suite",
    "evaluate",
    "get_suite",
    "load_preset",
    "make_leaderboard",
]

if TYPE_CHECKING:
    from eval.data.errors import DataError, EmbeddingError
    from eval.leaderboard import Leaderboard, make_leaderboard
    from eval.prefixes import load_preset
    from eval.results import Results
    from eval.runner import evaluate
    from eval.suite import Suite, get_suite


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
