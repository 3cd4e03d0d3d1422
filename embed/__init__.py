"""tsumugi's shared embedding model: load, format inputs, pool, encode, save (used by train, eval and synth).

``import embed`` is light: torch and transformers load on first use of a torch-backed name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embed.formatting import (
    E5_PASSAGE,
    E5_QUERY,
    QWEN3_BITEXT_TASK,
    QWEN3_DEFAULT_TASK,
    QWEN3_STS_TASK,
    apply_prompt,
    format_query,
    qwen3_instruct,
    resolve_prompt,
)
from embed.lazy import lazy_getattr

_LAZY = {
    "EmbeddingModel": "embed.model",
    "resolve_device": "embed.model",
    "resolve_dtype": "embed.model",
    "ModelLoadError": "embed.resolve",
    "resolve_folder": "embed.resolve",
    "POOLING_MODES": "embed.pooling",
    "pool": "embed.pooling",
    "last_token_pool": "embed.pooling",
    "mean_pool": "embed.pooling",
    "first_token_pool": "embed.pooling",
    "l2_normalize": "embed.pooling",
    "truncate_dim": "embed.pooling",
}

__all__ = [
    "E5_PASSAGE",
    "E5_QUERY",
    "POOLING_MODES",
    "QWEN3_BITEXT_TASK",
    "QWEN3_DEFAULT_TASK",
    "QWEN3_STS_TASK",
    "EmbeddingModel",
    "ModelLoadError",
    "apply_prompt",
    "first_token_pool",
    "format_query",
    "l2_normalize",
    "last_token_pool",
    "mean_pool",
    "pool",
    "qwen3_instruct",
    "resolve_device",
    "resolve_dtype",
    "resolve_folder",
    "resolve_prompt",
    "truncate_dim",
]

if TYPE_CHECKING:
    from embed.model import EmbeddingModel, resolve_device, resolve_dtype
    from embed.pooling import (
        POOLING_MODES,
        first_token_pool,
        l2_normalize,
        last_token_pool,
        mean_pool,
        pool,
        truncate_dim,
    )
    from embed.resolve import ModelLoadError, resolve_folder


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
