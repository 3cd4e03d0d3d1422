"""Texts -> full-dimension float32 embeddings through the model, deduplicated, cached and checked for NaN."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .cache import CacheKey, EmbeddingCache
from .data.errors import EmbeddingError


@runtime_checkable
class Encoder(Protocol):
    """What eval needs from a model: ``embed.EmbeddingModel`` satisfies it; tests use tiny fakes."""

    def encode(
        self,
        texts: list[str],
        *,
        prompt: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        **kwargs: Any,
    ) -> np.ndarray: ...

    def fingerprint(self) -> str: ...


def check_finite(
    emb: np.ndarray,
    texts: Sequence[str],
    *,
    dataset: str,
    split: str,
    side: str,
    row_labels: Sequence[str] | None = None,
) -> None:
    """Raise ``EmbeddingError`` naming dataset, split, side and the first row (0-based) with a NaN or inf."""
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        where = row_labels[rows[0]] if row_labels is not None else f"row {rows[0]}"
        preview = texts[rows[0]][:60].replace("\n", " ")
        raise EmbeddingError(
            f"non-finite embedding (NaN/inf) for dataset {dataset!r}, split {split!r}, side {side!r}, {where}"
            f" ({len(rows)} bad rows in all); text: {preview!r}"
        )


@dataclass
class TextEncoder:
    """Encode one text side of one split, going through the cache; counts what it sent to the model."""

    model: Encoder
    cache: EmbeddingCache
    batch_size: int = 32
    max_length: int | None = None
    show_progress: bool = False
    fingerprint: str = ""
    texts_encoded: int = 0
    texts_reused: int = 0
    encode_seconds: float = 0.0
    _calls: list[str] = field(default_factory=list, repr=False)
    _seen: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    """Per (dataset/cache group, prefix): every text embedded in this process -> its row, so a task that reads
    texts another task of its group already encoded (JSQuAD reranking's candidates are retrieval's corpus)
    encodes only the new ones."""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = self.model.fingerprint()

    def embed(
        self,
        texts: Sequence[str],
        *,
        dataset: str,
        split: str,
        side: str,
        prefix: str,
        row_labels: Sequence[str] | None = None,
    ) -> np.ndarray:
        """``(len(texts), dim)`` float32 embeddings of ``prefix + text`` for each text.

        ``row_labels`` name each text in a NaN error (default ``row <i>``, 0-based in the given order).
        """
        key = CacheKey(self.fingerprint, dataset, split, side, prefix, self.max_length)
        seen = self._seen.setdefault((dataset, prefix), {})
        cached = self.cache.get(key, texts)
        if cached is not None:
            seen.update(zip(texts, cached, strict=True))
            return cached
        unique = list(dict.fromkeys(texts))
        new = [t for t in unique if t not in seen]
        self.texts_reused += len(unique) - len(new)
        if new or not texts:
            out = self._encode(new, prefix=prefix, where=f"{dataset}/{split}/{side}")
            seen.update(zip(new, out, strict=True))
        emb = np.stack([seen[t] for t in texts]) if texts else out
        check_finite(emb, texts, dataset=dataset, split=split, side=side, row_labels=row_labels)
        self.cache.put(key, texts, emb)
        return emb

    def _encode(self, texts: list[str], *, prefix: str, where: str) -> np.ndarray:
        """The model's float32 embeddings of distinct ``texts`` (shape checked), timed and counted."""
        t0 = time.perf_counter()
        if self.show_progress:
            print(f"    encoding {len(texts)} texts ({where})", file=sys.stderr, flush=True)
        kwargs: dict[str, Any] = {"prompt": prefix, "batch_size": self.batch_size}
        if self.max_length is not None:
            kwargs["max_length"] = self.max_length
        out = np.asarray(self.model.encode(texts, **kwargs), dtype=np.float32)
        self.encode_seconds += time.perf_counter() - t0
        self.texts_encoded += len(texts)
        self._calls.append(where)
        if out.ndim != 2 or out.shape[0] != len(texts):
            raise EmbeddingError(f"model returned shape {out.shape} for {len(texts)} texts ({where})")
        return out
