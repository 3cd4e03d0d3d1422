"""The inputs of one output tensor, read in aligned row chunks: what a merge method sees."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from merge.errors import MergeError
from merge.tensor_file import TensorSpec

DEFAULT_CHUNK_ELEMENTS = 1 << 22  # 16 MiB of float32 per input
_DOT_BLOCK = 256  # float32 partial dot products of this length, summed in float64


def dot(x: torch.Tensor, y: torch.Tensor) -> float:
    """<x, y> of two flat tensors: float32 products over blocks of 256, blocks summed in float64."""
    if x.dtype == torch.float64:
        return float(torch.dot(x, y))
    m = x.numel() - x.numel() % _DOT_BLOCK
    total = (x[:m].view(-1, _DOT_BLOCK) * y[:m].view(-1, _DOT_BLOCK)).sum(1).double().sum().item()
    if m < x.numel():
        total += float(torch.dot(x[m:].double(), y[m:].double()))
    return total


class TensorInputs:
    """Tensor ``name`` of each checkpoint; ``chunks()`` yields aligned row ranges, ``gram()`` dot products.

    A tensor that fits in one chunk is read once and kept for the method's second pass.
    """

    def __init__(self, name: str, sources: Sequence, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS):
        self.name = name
        self.sources = list(sources)
        self.count = len(self.sources)
        specs = [s.spec(name) for s in self.sources]
        self.spec: TensorSpec = specs[0]
        self.numel = self.spec.numel
        wide = any(s.dtype == torch.float64 for s in specs)
        self.compute_dtype = torch.float64 if wide else torch.float32
        self.rows_per_chunk = max(1, chunk_elements // max(self.spec.row_numel, 1))
        self._ranges = [
            (s, min(s + self.rows_per_chunk, self.spec.rows))
            for s in range(0, self.spec.rows, self.rows_per_chunk)
        ] or [(0, 0)]
        self._cached: list[torch.Tensor | None] | None = (
            [None] * self.count if len(self._ranges) == 1 else None
        )

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """Row ranges, in order."""
        return self._ranges

    def _read(self, i: int, start: int, stop: int) -> torch.Tensor:
        if self._cached is not None and self._cached[i] is not None:
            return self._cached[i]
        x = self.sources[i].read(self.name, start, stop).to(self.compute_dtype)
        if self._cached is not None:
            self._cached[i] = x
        return x

    def chunks(self, select: Sequence[int] | None = None) -> Iterator[list[torch.Tensor]]:
        """For each row range, the rows of every (or every selected) input in the compute dtype."""
        idx = list(range(self.count)) if select is None else list(select)
        for start, stop in self._ranges:
            yield [self._read(i, start, stop) for i in idx]

    def flat_chunks(self, size: int) -> Iterator[list[torch.Tensor]]:
        """Aligned flat segments of exactly ``size`` elements (the last shorter) of every input, compute dtype."""
        rn = max(self.spec.row_numel, 1)
        for s in range(0, self.numel, size):
            e = min(s + size, self.numel)
            r0, r1 = s // rn, -(-e // rn)
            if len(self._ranges) == 1:
                r0, r1 = self._ranges[0]
            yield [self._read(i, r0, r1).reshape(-1)[s - r0 * rn : e - r0 * rn] for i in range(self.count)]

    def gram(self, relative_to: int | None = None) -> np.ndarray:
        """Float64 Gram matrix <x_i, x_j>; with ``relative_to=a``, of x_i - x_a over the other inputs."""
        keep = [i for i in range(self.count) if i != relative_to]
        g = np.zeros((len(keep), len(keep)))
        for chunk in self.chunks():
            flat = [c.reshape(-1) for c in chunk]
            if relative_to is not None:
                flat = [flat[i] - flat[relative_to] for i in keep]
            for i in range(len(flat)):
                for j in range(i, len(flat)):
                    g[i, j] += dot(flat[i], flat[j])
        g = np.triu(g) + np.triu(g, 1).T
        if not np.isfinite(g).all():
            raise MergeError(f"tensor {self.name!r} has non-finite values (inf or NaN) in some input")
        return g

    def release(self) -> None:
        """Drop the cached single chunk."""
        if self._cached is not None:
            self._cached = [None] * self.count
