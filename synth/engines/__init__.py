"""Generation backends: vLLM offline (``vllm``) and OpenAI-compatible servers (``openai``)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

from synth.engines.base import ChatRequest, Completion, Engine, EngineCounters

__all__ = ["ChatRequest", "Completion", "Engine", "EngineCounters", "build_engine"]

log = logging.getLogger(__name__)


def _accepted(cls, kwargs: dict, kind: str) -> dict:
    """Keep the keyword arguments ``cls`` takes; warn about the rest (e.g. a preset's vLLM keys on a server)."""
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(k for k in kwargs if k not in params)
    if unknown:
        log.warning("engine %s ignores settings %s", kind, unknown)
    return {k: v for k, v in kwargs.items() if k in params}


def build_engine(cfg: Mapping[str, Any], model: str, chat_template: str | None) -> Engine:
    """The engine named by ``cfg["kind"]`` (``vllm`` | ``openai``), configured from the rest of ``cfg``."""
    cfg = dict(cfg)
    kind = cfg.pop("kind")
    template_kwargs = cfg.pop("chat_template_kwargs", None)
    if kind == "vllm":
        from embed.bootstrap.registry import resolve_model
        from synth.engines.vllm_offline import VLLMEngine

        return VLLMEngine(
            resolve_model(model),
            chat_template=chat_template,
            chat_template_kwargs=template_kwargs,
            **_accepted(VLLMEngine, cfg, kind),
        )
    if kind == "openai":
        from synth.engines.openai_server import OpenAIServerEngine

        served = cfg.pop("served_model_name", None) or model
        return OpenAIServerEngine(
            model=served,
            chat_template=chat_template,
            chat_template_kwargs=template_kwargs,
            **_accepted(OpenAIServerEngine, cfg, kind),
        )
    raise ValueError(f"unknown engine kind {kind!r}; use vllm or openai")
