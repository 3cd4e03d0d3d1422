"""Training losses: the Qwen3-Embedding improved InfoNCE (Eq. 1) and Matryoshka wrapping."""

from train.losses.improved_infonce import (
    MNRL,
    MS_SWIFT,
    PRESETS,
    QWEN3,
    QWEN3_V1,
    InfoNCEConfig,
    InfoNCEMasks,
    improved_infonce_loss,
    infonce_masks,
    infonce_preset,
)
from train.losses.matryoshka import matryoshka_loss, truncate_normalise
from train.losses.text_ids import text_ids, token_row_ids

__all__ = [
    "MNRL",
    "MS_SWIFT",
    "PRESETS",
    "QWEN3",
    "QWEN3_V1",
    "InfoNCEConfig",
    "InfoNCEMasks",
    "improved_infonce_loss",
    "infonce_masks",
    "infonce_preset",
    "matryoshka_loss",
    "text_ids",
    "token_row_ids",
    "truncate_normalise",
]
