"""Write safetensors shards as a stream: every header is known up front, tensor bytes are appended chunk by chunk.

``safetensors.torch.save_file`` needs a whole shard's tensors in memory; here a shard's header (dtype, shape,
offsets of every tensor) is planned from the specs, written first, and the data follows in order, so the writer
never holds more than the chunk it is given. Several shards get ``<prefix>-0000i-of-0000n.safetensors`` names and
a ``<prefix>.safetensors.index.json`` (``metadata.total_size``, ``weight_map``), as ``save_pretrained`` writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from merge.errors import MergeError
from merge.tensor_file import DTYPE_NAMES, TensorSpec

DEFAULT_SHARD_BYTES = 2 * 1024**3
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(size: int | str) -> int:
    """Bytes in ``size`` (an int, or a string such as ``"2GB"``, ``"500MiB"``)."""
    if isinstance(size, int):
        return size
    text = str(size).strip().upper().replace(" ", "")
    digits = text.rstrip("KMGIB")
    unit = text[len(digits) :]
    if unit not in _UNITS or not digits:
        raise MergeError(f"cannot read size {size!r} (use e.g. 2GB, 500MB, 1GiB)")
    return int(float(digits) * _UNITS[unit])


@dataclass
class _Shard:
    file: str
    names: list[str] = field(default_factory=list)
    nbytes: int = 0


def plan_shards(
    specs: Sequence[tuple[str, TensorSpec]], max_bytes: int, prefix: str = "model"
) -> list[_Shard]:
    """Fill shards in order up to ``max_bytes`` (a larger tensor gets a shard of its own)."""
    shards: list[_Shard] = []
    for name, spec in specs:
        if not shards or (shards[-1].names and shards[-1].nbytes + spec.nbytes > max_bytes):
            shards.append(_Shard(""))
        shards[-1].names.append(name)
        shards[-1].nbytes += spec.nbytes
    if not shards:
        shards.append(_Shard(""))
    n = len(shards)
    for i, shard in enumerate(shards, 1):
        shard.file = f"{prefix}.safetensors" if n == 1 else f"{prefix}-{i:05d}-of-{n:05d}.safetensors"
    return shards


def _header(names: list[str], specs: dict[str, TensorSpec], metadata: dict[str, str]) -> bytes:
    header: dict[str, object] = {"__metadata__": dict(metadata)}
    offset = 0
    for name in names:
        spec = specs[name]
        header[name] = {
            "dtype": DTYPE_NAMES[spec.dtype],
            "shape": list(spec.shape),
            "data_offsets": [offset, offset + spec.nbytes],
        }
        offset += spec.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    return raw + b" " * (-len(raw) % 8)  # pad so the data section starts 8-byte aligned


class ShardedWriter:
    """Stream tensors, in the planned order, into shards under ``folder``; ``close()`` writes the index."""

    def __init__(
        self,
        folder: str | Path,
        specs: Sequence[tuple[str, TensorSpec]],
        *,
        max_shard_bytes: int = DEFAULT_SHARD_BYTES,
        prefix: str = "model",
        metadata: dict[str, str] | None = None,
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.specs = dict(specs)
        if len(self.specs) != len(specs):
            raise MergeError("duplicate tensor names in the output plan")
        self.prefix = prefix
        self.metadata = {"format": "pt", **(metadata or {})}
        self.shards = plan_shards(specs, max_shard_bytes, prefix)
        self._order = [(i, name) for i, s in enumerate(self.shards) for name in s.names]
        self._pos = 0  # index into _order of the tensor being written
        self._written = 0  # bytes of the current tensor written so far
        self._handle = None
        self._shard = -1
        self._location: dict[str, tuple[str, int]] = {}  # name -> (file, absolute offset)

    @property
    def pending(self) -> str | None:
        """Name of the tensor the writer expects next (None when done)."""
        return self._order[self._pos][1] if self._pos < len(self._order) else None

    def _open(self, index: int) -> None:
        if self._handle is not None:
            self._handle.close()
        shard = self.shards[index]
        header = _header(shard.names, self.specs, self.metadata)
        self._handle = (self.folder / shard.file).open("wb")
        self._handle.write(len(header).to_bytes(8, "little"))
        self._handle.write(header)
        offset = 8 + len(header)
        for name in shard.names:
            self._location[name] = (shard.file, offset)
            offset += self.specs[name].nbytes
        self._shard = index

    def write(self, name: str, chunk: torch.Tensor) -> None:
        """Append ``chunk`` (rows of ``name``, in its planned dtype) to the output."""
        if name != self.pending:
            raise MergeError(f"writer expected tensor {self.pending!r}, got {name!r}")
        spec = self.specs[name]
        if chunk.dtype != spec.dtype:
            raise MergeError(f"tensor {name!r}: chunk dtype {chunk.dtype} but planned {spec.dtype}")
        shard_index = self._order[self._pos][0]
        if shard_index != self._shard:
            self._open(shard_index)
        data = chunk.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
        if self._written + data.nbytes > spec.nbytes:
            raise MergeError(f"tensor {name!r}: more data than its shape {spec.shape} holds")
        self._handle.write(memoryview(data))
        self._written += data.nbytes
        if self._written == spec.nbytes:
            self._pos += 1
            self._written = 0

    def copy(self, name: str, source: str) -> None:
        """Write ``name`` as a byte copy of the already written tensor ``source`` (tied weights)."""
        file, offset = self._location[source]
        self._handle.flush()
        spec = self.specs[source]
        if self.specs[name] != spec:
            raise MergeError(f"cannot tie {name!r} to {source!r}: different dtype or shape")
        with (self.folder / file).open("rb") as f:
            f.seek(offset)
            remaining = spec.nbytes
            step = max(spec.row_numel * spec.dtype.itemsize, 1 << 22)
            while remaining:
                raw = f.read(min(step, remaining))
                remaining -= len(raw)
                self.write(name, torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(spec.dtype))

    def close(self) -> list[Path]:
        """Check every tensor was written, close the shard, write the index when sharded; the files written."""
        if self.pending is None and self._handle is None and self._order:
            raise MergeError("writer already closed")
        if self.pending is not None:
            raise MergeError(f"tensor {self.pending!r} was never (fully) written")
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
        if not self._order:  # no tensors: still write a valid empty file
            self._open(0)
            self._handle.close()
            self._handle = None
        files = [self.folder / s.file for s in self.shards]
        if len(self.shards) > 1:
            index = {
                "metadata": {"total_size": sum(s.nbytes for s in self.shards)},
                "weight_map": {name: s.file for s in self.shards for name in s.names},
            }
            path = self.folder / f"{self.prefix}.safetensors.index.json"
            path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            files.append(path)
        return files
