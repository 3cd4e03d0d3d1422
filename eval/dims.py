"""Matryoshka truncation of cached full-dimension embeddings.

Rule: keep the first ``dim`` coordinates, then L2-renormalise **only if the model normalises its output**.
- A normalising model (e.g. a final ``Normalize`` module, as me5 and Qwen3-Embedding have) defines its embedding as a
  unit vector and is meant to be compared by cosine; a truncated prefix of a unit vector is not unit length, so
  without renormalising the dot / Euclidean candidates of JMTEB's evaluators would score a different geometry than
  the model's. Renormalising the truncation of the stored (already unit) vector equals truncating then normalising
  the raw vector, i.e. exactly what the model would output at that width (Qwen3-Embedding's MRL usage).
- A model that does not normalise is evaluated raw, as JMTEB does (``normalize_embeddings=False``); renormalising
  there would silently change its dot-product and distance scores, so the prefix is kept as it is.
"""

from __future__ import annotations

import numpy as np


def truncate(emb: np.ndarray, dim: int | None, *, renormalize: bool) -> np.ndarray:
    """The first ``dim`` coordinates (all when ``dim`` is None or the full width), renormalised if asked.

    The arithmetic is ``embed.pooling.truncate_dim`` (the one place that defines Matryoshka truncation), the same
    rule ``EmbeddingModel.encode(dim=...)`` applies.
    """
    if dim is None or dim == emb.shape[1]:
        return emb
    import torch

    from embed.pooling import truncate_dim

    out = truncate_dim(
        torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32)), int(dim), normalize=renormalize
    )
    return np.ascontiguousarray(out.numpy(), dtype=np.float32)


def model_normalizes(model: object, sample: np.ndarray | None = None) -> bool:
    """Whether ``model`` outputs unit vectors: its ``normalize`` flag when it has one, else the sample's norms."""
    flag = getattr(model, "normalize", None)
    if isinstance(flag, bool):
        return flag
    if sample is None or len(sample) == 0:
        return False
    return bool(np.allclose(np.linalg.norm(sample, axis=1), 1.0, atol=1e-3))
