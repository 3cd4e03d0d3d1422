"""Content fingerprints of a model: what an embedding cache may key on.

A fingerprint hashes the weight files (names relative to the folder, sizes and full contents), the tokenizer
and model config files, and the embedding config (pooling, normalisation, max length, EOS handling, dtype).
If the weights changed in memory since loading (a training step, a device move) or the files changed on disk,
the in-memory tensors are hashed instead, so a cache never serves embeddings of other weights.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import torch

_CONFIG_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def model_files(folder: str | Path, subfolders: Iterable[str] = ("",)) -> list[Path]:
    """The safetensors, config and tokenizer files under ``folder``'s given subfolders, sorted."""
    folder = Path(folder)
    files: set[Path] = set()
    for sub in subfolders:
        base = folder / sub
        files.update(base.glob("*.safetensors"))
        files.update(base / n for n in _CONFIG_FILES if (base / n).is_file())
    return sorted(files)


def stat_files(folder: str | Path, files: Iterable[Path]) -> tuple:
    """(relative name, size, mtime) of each file: a cheap check that files did not change since loading."""
    out = []
    for path in files:
        st = path.stat()
        out.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    return tuple(out)


def hash_files(folder: str | Path, files: Iterable[Path]) -> str:
    """sha256 over each file's relative name, size and full contents."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in files:
        h.update(f"{path.relative_to(folder).as_posix()}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            h.update(hashlib.file_digest(handle, "sha256").digest())
    return h.hexdigest()


def hash_tensors(named: Iterable[tuple[str, torch.Tensor]]) -> str:
    """sha256 over names, dtypes, shapes and bytes of tensors (moved to CPU one at a time)."""
    h = hashlib.sha256()
    for name, tensor in named:
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def weights_state(module: torch.nn.Module) -> tuple:
    """A cheap token that changes when any parameter or buffer is replaced or modified in place."""
    return tuple(
        (name, t.data_ptr(), t._version, str(t.device), t.dtype)
        for name, t in module.state_dict(keep_vars=True).items()
    )


def combine(parts: dict) -> str:
    """Short stable hex digest of a JSON-serialisable dict."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]
