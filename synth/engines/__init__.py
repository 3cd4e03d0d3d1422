"""Generation backends: vLLM offline (``vllm``) and OpenAI-compatible servers (``openai``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synth.engines.base import ChatRequest, Completion, Engine, EngineCounters

__all__ = ["ChatRequest", "Completion", "Engine", "EngineCounters", "build_engine"]


def build_engine(cfg: Mapping[str, Any], model: str, chat_template: str | None) -> Engine:
    """The engine named by ``cfg["kind"]`` (``vllm`` | ``openai``), configured from the rest of ``cfg``."""
    cfg = dict(cfg)
    kind = cfg.pop("kind")
    template_kwargs = cfg.pop("chat_template_kwargs", None)
    if kind == "vllm":
        from embed.bootstrap.registry import resolve_model
        from synth.engines.vllm_offline import VLLMEngine

        return VLLMEngine(
            resolve_model(model), chat_template=chat_template, chat_template_kwargs=template_kwargs, **cfg
        )
    if kind == "openai":
        from synth.engines.openai_server import OpenAIServerEngine

        served = cfg.pop("served_model_name", None) or model
        return OpenAIServerEngine(
            model=served, chat_template=chat_template, chat_template_kwargs=template_kwargs, **cfg
        )
    raise ValueError(f"unknown engine kind {kind!r}; use vllm or openai")
