"""Guarded access to the ``sbintuitions/JMTEB`` dataset on the Hugging Face hub (unreachable here: skipped)."""

from __future__ import annotations

import os
import socket
from functools import lru_cache

from .errors import DataError
from .loaders import Rows

HUB_REPO = "sbintuitions/JMTEB"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@lru_cache(maxsize=1)
def hub_unreachable_reason() -> str | None:
    """Why the hub cannot be used (``None`` when it answers); decided once per process."""
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}:
            return f"hub unreachable ({var} is set)"
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=3):
            pass
    except OSError as e:
        return f"hub unreachable ({type(e).__name__})"
    return None


def hub_reachable() -> bool:
    """Whether ``sbintuitions/JMTEB`` can be downloaded in this process."""
    return hub_unreachable_reason() is None


def hub_rows(config: str, split: str) -> tuple[str, Rows]:
    """``(label, rows)`` of one config/split of ``sbintuitions/JMTEB`` via ``datasets.load_dataset``."""
    label = f"hf://{HUB_REPO}/{config}[{split}]"
    reason = hub_unreachable_reason()
    if reason is not None:
        raise DataError(label, f"skipped: {reason}")
    import datasets

    try:
        ds = datasets.load_dataset(HUB_REPO, name=config, split=split)
    except Exception as e:  # noqa: BLE001 - any hub/loader failure becomes one clear error
        raise DataError(label, f"could not load from the hub: {type(e).__name__}: {e}") from e
    return label, [(i + 1, dict(row)) for i, row in enumerate(ds)]
