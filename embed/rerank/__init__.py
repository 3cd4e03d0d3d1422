"""Rerankers shared by train/ and eval/: the Qwen3-Reranker template, yes/no token ids, the batched scorer.

``import embed.rerank`` is light; torch-backed names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embed.lazy import lazy_getattr
from embed.rerank.template import DEFAULT_INSTRUCTION, FIELD_SEPS, SYSTEM_PROMPT, RerankTemplate
from embed.rerank.tokens import LabelIds, LabelTokenError, resolve_label_ids

_LAZY = {
    "Reranker": "embed.rerank.scorer",
    "RerankerConfig": "embed.rerank.scorer",
    "KINDS": "embed.rerank.scorer",
    "VllmReranker": "embed.rerank.vllm_scorer",
}

__all__ = [
    "DEFAULT_INSTRUCTION",
    "FIELD_SEPS",
    "KINDS",
    "SYSTEM_PROMPT",
    "LabelIds",
    "LabelTokenError",
    "RerankTemplate",
    "Reranker",
    "RerankerConfig",
    "VllmReranker",
    "resolve_label_ids",
]

if TYPE_CHECKING:
    from embed.rerank.scorer import KINDS, Reranker, RerankerConfig
    from embed.rerank.vllm_scorer import VllmReranker


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
