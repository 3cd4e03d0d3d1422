"""Stable integer ids of texts for the loss's duplicate rule ("d_j is the same text as d_i+").

Ids are 63-bit BLAKE2b hashes of the UTF-8 text (or of a row of token ids), identical across processes and
ranks (Python's ``hash`` is salted per process, so it cannot be used on a gathered batch). Equality of
embeddings is no substitute: dropout makes identical texts' embeddings differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch


def _hash63(data: bytes) -> int:
    """A non-negative 63-bit BLAKE2b hash of ``data``."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 1


def text_ids(texts: Sequence[str]) -> torch.Tensor:
    """int64 ids of ``texts`` (equal iff the strings are equal, up to a 2^-63 collision chance)."""
    return torch.tensor([_hash63(t.encode("utf-8")) for t in texts], dtype=torch.long)


def token_row_ids(input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """int64 ids of tokenised rows ``[B, L]`` from their attended token ids (padding side does not matter)."""
    rows = input_ids.detach().cpu().long()
    mask = None if attention_mask is None else attention_mask.detach().cpu().bool()
    out = []
    for r in range(rows.shape[0]):
        tokens = rows[r] if mask is None else rows[r][mask[r]]
        out.append(_hash63(tokens.numpy().tobytes()))
    return torch.tensor(out, dtype=torch.long)
