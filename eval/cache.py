"""On-disk embedding cache: full-dimension float32 ``.npy`` files, written atomically, one per encoded text side.

Key: (model fingerprint, dataset, split, text side, prefix, max length) plus a hash of the texts themselves, so a
subsample or an edited file never reuses stale vectors. Layout:
``<root>/<fingerprint>/<dataset>/<split>/<side>-<digest>.npy`` with a ``.json`` sidecar holding the key.
Matryoshka truncations are never cached: they are slices of the full vectors (see ``eval.dims``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embed.atomic import atomic_file


@dataclass(frozen=True)
class CacheKey:
    """What an embedding depends on besides the texts."""

    model: str
    dataset: str
    split: str
    side: str
    prefix: str
    max_length: int | None


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of the texts in order (length-prefixed, so boundaries count)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@~+-]+", "_", part).strip("_") or "_"


class EmbeddingCache:
    """Get/put full-dimension embeddings; ``root=None`` keeps them in memory for this process only."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root).expanduser() if root else None
        self._memory: dict[tuple[CacheKey, str], np.ndarray] = {}
        self.hits = 0
        self.misses = 0

    def path(self, key: CacheKey, texts: Sequence[str]) -> Path | None:
        """Where ``key`` + ``texts`` live on disk (``None`` for an in-memory cache)."""
        if self.root is None:
            return None
        digest = hashlib.sha256(
            json.dumps([key.prefix, key.max_length, texts_digest(texts)], ensure_ascii=False).encode()
        ).hexdigest()[:20]
        return (
            self.root
            / _safe(key.model)
            / _safe(key.dataset)
            / _safe(key.split)
            / f"{_safe(key.side)}-{digest}.npy"
        )

    def get(self, key: CacheKey, texts: Sequence[str]) -> np.ndarray | None:
        """The cached ``(len(texts), dim)`` float32 array, or ``None``."""
        mem_key = (key, texts_digest(texts))
        if mem_key in self._memory:
            self.hits += 1
            return self._memory[mem_key]
        path = self.path(key, texts)
        if path is not None and path.is_file():
            try:
                emb = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                emb = None  # a truncated or foreign file: recompute and overwrite
            if emb is not None and emb.ndim == 2 and emb.shape[0] == len(texts) and emb.dtype == np.float32:
                self._memory[mem_key] = emb
                self.hits += 1
                return emb
        self.misses += 1
        return None

    def put(self, key: CacheKey, texts: Sequence[str], emb: np.ndarray) -> None:
        """Store ``emb`` (float32) for ``key`` + ``texts``; the file appears atomically."""
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        self._memory[(key, texts_digest(texts))] = emb
        path = self.path(key, texts)
        if path is None:
            return
        with atomic_file(path, "wb") as f:
            np.save(f, emb, allow_pickle=False)
        meta = {
            **asdict(key),
            "rows": int(emb.shape[0]),
            "dim": int(emb.shape[1]),
            "texts_sha256": texts_digest(texts),
        }
        with atomic_file(path.with_suffix(".json"), "w") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1)
