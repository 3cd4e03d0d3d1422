"""Helpers shared by the scorers."""

from __future__ import annotations

from typing import Any

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
