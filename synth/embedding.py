"""The shared embedding model for synth (persona retrieval, cosine filter, hard-negative mining), loaded once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)


@lru_cache(maxsize=2)
def load_embedder(name: str, device: str | None = None, max_length: int | None = None):
    """``embed.EmbeddingModel.load(name)`` (short name, folder or hub id), cached per (name, device, max_length)."""
    from embed import EmbeddingModel

    model = EmbeddingModel.load(name, device=device, max_length=max_length)
    log.info("embedding model %s loaded: %r", name, model)
    return model


@dataclass(frozen=True)
class Side:
    """How one side of a pair is encoded: a prompt name of the model (``query``/``document``) or a literal prefix."""

    prompt_name: str | None = None
    prompt: str | None = None

    def kwargs(self, model) -> dict:
        """``encode`` keyword arguments; a prompt name the model lacks falls back to no prompt."""
        if self.prompt is not None:
            return {"prompt": self.prompt}
        if self.prompt_name is not None and self.prompt_name in getattr(model, "prompts", {}):
            return {"prompt_name": self.prompt_name}
        return {"prompt": ""}


QUERY_SIDE = Side("query")
DOCUMENT_SIDE = Side("document")


def encode(model, texts: list[str], side: Side, batch_size: int = 32) -> np.ndarray:
    """L2-normalised float32 embeddings of texts, encoded as ``side``."""
    if not texts:
        return np.zeros((0, model.dim), dtype=np.float32)
    return model.encode(texts, normalize=True, batch_size=batch_size, **side.kwargs(model))
