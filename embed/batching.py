"""Token-budget batching for ``EmbeddingModel.encode``: sort by token count, cut batches by padded tokens.

``encode`` tokenises texts in chunks (512, 1,024, 2,048, then 4,096 texts per fast-tokenizer call; on an
accelerator the next chunk is tokenised on a worker thread while the model runs), orders each chunk by token
count (longest first, ties in input order), and cuts consecutive runs whose padded size ``rows x longest`` stays
within a token budget: short texts go in big batches, long texts in small ones, and every batch is padded only
to its own longest text.

The budget is ``batch_size x min(max_length, T)`` padded tokens, T = 512 on accelerators and 128 on CPU, so no
batch is ever larger than a ``batch_size``-text batch of maximum-length texts could be (the old worst case).
On CPU a bigger budget does not pay: me5-small's MLP activation at 16,384 tokens is 100 MB, above glibc's mmap
threshold (32 MB at most), so every such tensor is a fresh mapping that is page-faulted in again (~30x the minor
page faults of 4,096 tokens, measured; slower on passages, no faster on a mixed set). At 4,096 tokens the
activations are reused from the heap. bench/encode_speed.py measures the whole scheme against
sentence-transformers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

TOKENS_PER_TEXT = 512  # budget = batch_size x min(max_length, TOKENS_PER_TEXT) padded tokens per batch
CPU_TOKENS_PER_TEXT = 128  # the same on CPU, where activations should stay under the mmap threshold
TOKENIZE_CHUNK = 4096  # texts tokenised (and padded) together at most; bounds the padded id tensors' memory
# chunks grow 512, 1024, 2048, 4096: an accelerator starts early while the rest is tokenised
FIRST_CHUNK = 512


def token_budget(batch_size: int, max_length: int, device: torch.device | str = "cpu") -> int:
    """Padded tokens per batch for ``encode``: ``batch_size`` texts of ``min(max_length, 128 on CPU else 512)``."""
    if batch_size < 1 or max_length < 1:
        raise ValueError(f"batch_size and max_length must be >= 1, got {batch_size} and {max_length}")
    per_text = CPU_TOKENS_PER_TEXT if torch.device(device).type == "cpu" else TOKENS_PER_TEXT
    return batch_size * min(max_length, per_text)


def chunk_bounds(n: int, first: int = FIRST_CHUNK, largest: int = TOKENIZE_CHUNK) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` chunks covering ``range(n)``, sized ``first``, doubling up to ``largest``."""
    if first < 1 or largest < first:
        raise ValueError(f"need 1 <= first <= largest, got {first} and {largest}")
    bounds, start, size = [], 0, first
    while start < n:
        bounds.append((start, min(n, start + size)))
        start, size = start + size, min(2 * size, largest)
    return bounds


def length_order(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """Indices sorting ``lengths`` longest first; equal lengths keep their input order (stable)."""
    arr = np.asarray(lengths, dtype=np.int64)
    return np.argsort(-arr, kind="stable")


def batch_bounds(sorted_lengths: Sequence[int] | np.ndarray, max_tokens: int) -> list[tuple[int, int]]:
    """``(start, end)`` runs over lengths sorted longest first, each with ``rows x first length <= max_tokens``.

    The first (longest) row of a run sets its padded width, so a run holds ``max_tokens // width`` rows; a row
    longer than ``max_tokens`` gets a run of its own. Every index is in exactly one run, in order.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    lengths = np.asarray(sorted_lengths, dtype=np.int64)
    if lengths.size > 1 and (np.diff(lengths) > 0).any():
        raise ValueError("lengths must be sorted longest first")
    bounds = []
    start, n = 0, len(lengths)
    while start < n:
        rows = max(1, max_tokens // max(int(lengths[start]), 1))
        end = min(n, start + rows)
        bounds.append((start, end))
        start = end
    return bounds


def plan_batches(lengths: Sequence[int] | np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """Batches of indices into ``lengths``: longest first, each within ``max_tokens`` padded tokens."""
    order = length_order(lengths)
    sorted_lengths = np.asarray(lengths, dtype=np.int64)[order]
    return [order[s:e] for s, e in batch_bounds(sorted_lengths, max_tokens)]


def contiguous_padding(mask: torch.Tensor, lengths: torch.Tensor, left: bool) -> bool:
    """True when every row's attended tokens are one block at the padded end's opposite side (HF tokenizers)."""
    width = mask.shape[1]
    positions = torch.arange(width, device=mask.device)
    if left:
        expected = positions.unsqueeze(0) >= (width - lengths).unsqueeze(1)
    else:
        expected = positions.unsqueeze(0) < lengths.unsqueeze(1)
    return bool(torch.equal(mask.bool(), expected))


def trim_columns(
    features: Mapping[str, torch.Tensor], start: int, end: int, width: int, left: bool
) -> dict[str, torch.Tensor]:
    """Rows ``start:end`` of padded features, cut to ``width`` columns on the padded side (views, no copy)."""
    full = next(iter(features.values())).shape[1]
    width = min(max(width, 1), full)
    cols = slice(full - width, full) if left else slice(0, width)
    return {k: v[start:end, cols] for k, v in features.items()}
