"""Read tensors from a safetensors file in row ranges with ``pread`` (no mmap), so resident memory is the chunk.

``safe_open`` memory-maps the file: every page it touches counts in the process's resident set until the map is
closed, so merging two 2 GB checkpoints with it shows 4 GB of RSS. We parse the header (8-byte little-endian length +
JSON) ourselves and ``preadv`` the bytes of the rows we need straight into a torch buffer.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from merge.errors import MergeError

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "U16": torch.uint16,
    "U32": torch.uint32,
    "U64": torch.uint64,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorSpec:
    """Dtype and shape of a tensor (what a header says)."""

    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def rows(self) -> int:
        """Length of the leading axis (1 for a scalar)."""
        return self.shape[0] if self.shape else 1

    @property
    def row_numel(self) -> int:
        """Elements per leading-axis row."""
        return self.numel // self.rows if self.rows else 0

    @property
    def nbytes(self) -> int:
        """Bytes in memory."""
        return self.numel * self.dtype.itemsize


def read_header(path: str | Path) -> tuple[dict[str, dict], dict[str, str], int]:
    """(tensor entries, ``__metadata__``, offset of the data section) of a safetensors file."""
    path = Path(path)
    with path.open("rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise MergeError(f"{path} is not a safetensors file (shorter than 8 bytes)")
        (n,) = struct.unpack("<Q", raw)
        if n > _MAX_HEADER:
            raise MergeError(f"{path} is not a safetensors file (header length {n})")
        try:
            header = json.loads(f.read(n))
        except ValueError as err:
            raise MergeError(f"{path} has an unreadable safetensors header: {err}") from None
    meta = header.pop("__metadata__", None) or {}
    return header, meta, 8 + n


class TensorFile:
    """One safetensors file: specs of its tensors and ``read(name, start_row, stop_row)``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        header, self.metadata, self._data_start = read_header(self.path)
        size = self.path.stat().st_size
        self.specs: dict[str, TensorSpec] = {}
        self._offsets: dict[str, int] = {}
        for name, entry in header.items():
            dtype = DTYPES.get(entry.get("dtype"))
            if dtype is None:
                raise MergeError(f"{self.path}: tensor {name!r} has unsupported dtype {entry.get('dtype')!r}")
            spec = TensorSpec(dtype, tuple(int(d) for d in entry["shape"]))
            begin, end = (int(x) for x in entry["data_offsets"])
            if end - begin != spec.nbytes or self._data_start + end > size:
                raise MergeError(f"{self.path}: tensor {name!r} has inconsistent offsets (truncated file?)")
            self.specs[name] = spec
            self._offsets[name] = self._data_start + begin
        self._fd: int | None = None

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def read(self, name: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows ``start:stop`` of tensor ``name`` (native dtype, shape ``(rows, *shape[1:])``; scalars whole)."""
        spec = self.specs[name]
        stop = spec.rows if stop is None else min(stop, spec.rows)
        nbytes = (stop - start) * spec.row_numel * spec.dtype.itemsize
        buf = torch.empty(nbytes, dtype=torch.uint8)
        if nbytes:
            view = memoryview(buf.numpy())
            offset = self._offsets[name] + start * spec.row_numel * spec.dtype.itemsize
            done = 0
            while done < nbytes:
                got = os.preadv(self._descriptor(), [view[done:]], offset + done)
                if got <= 0:
                    raise MergeError(f"{self.path}: unexpected end of file reading {name!r}")
                done += got
        out = buf.view(spec.dtype)
        return out.reshape(spec.shape) if not spec.shape else out.reshape(stop - start, *spec.shape[1:])

    def close(self) -> None:
        """Close the file descriptor (reads reopen it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PickleFile:
    """A ``torch.load``-able weight file (opened with ``mmap=True, weights_only=True``) behind TensorFile's API."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            state = torch.load(self.path, map_location="cpu", mmap=True, weights_only=True)
        except Exception as err:  # unreadable or not a plain state dict
            raise MergeError(f"cannot load pickle checkpoint {self.path}: {err}") from None
        if not isinstance(state, dict):
            raise MergeError(f"{self.path} does not hold a state dict")
        self._state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
        self.metadata: dict[str, str] = {}
        self.specs = {k: TensorSpec(v.dtype, tuple(v.shape)) for k, v in self._state.items()}

    def read(self, name: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows ``start:stop`` of tensor ``name`` (a copy)."""
        t = self._state[name]
        return t.clone() if t.dim() == 0 else t[start:stop].clone()

    def close(self) -> None:
        """Drop the mapped state dict."""
        self._state = {}
