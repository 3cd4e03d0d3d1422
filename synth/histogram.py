"""Fixed-bin histograms as plain data (for JSON reports) and as text bars (for logs and Markdown)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[dict]:
    """Counts per bin ``[lo, hi)`` (the last bin closed); values outside the edges go to the end bins."""
    v = np.clip(np.asarray(values, dtype=np.float64), edges[0], edges[-1])
    counts, _ = np.histogram(v, bins=np.asarray(edges, dtype=np.float64))
    return [{"lo": float(edges[i]), "hi": float(edges[i + 1]), "count": int(c)} for i, c in enumerate(counts)]


def score_edges(step: float = 0.05, lo: float = 0.0, hi: float = 1.0) -> list[float]:
    """Bin edges from ``lo`` to ``hi`` by ``step`` (cosine scores)."""
    n = int(round((hi - lo) / step))
    return [round(lo + i * step, 6) for i in range(n + 1)]


def length_edges(max_len: int, bins: int = 12) -> list[float]:
    """Bin edges for text lengths: ``bins`` equal bins from 0 to a round number >= ``max_len``."""
    width = max(1, int(np.ceil(max(max_len, 1) / bins)))
    return [float(i * width) for i in range(bins + 1)]


def render(hist: list[dict], width: int = 40, fmt: str = "{:.2f}") -> str:
    """Text bars, one line per bin: ``[lo, hi)  count  ####``."""
    top = max((b["count"] for b in hist), default=0) or 1
    lines = []
    for b in hist:
        bar = "#" * int(round(width * b["count"] / top))
        lines.append(f"[{fmt.format(b['lo'])}, {fmt.format(b['hi'])}) {b['count']:>7} {bar}")
    return "\n".join(lines)
