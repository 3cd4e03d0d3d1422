"""Progress messages for the bootstrap: one line each, to stderr."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    """Print one progress line to stderr (flushed, so it shows up while a long build runs)."""
    print(f"[bootstrap] {message}", file=sys.stderr, flush=True)
