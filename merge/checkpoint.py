"""Open a checkpoint folder as named tensors read in row ranges: a sentence-transformers folder (transformer + Dense
modules), a plain Hugging Face folder, or a PEFT LoRA adapter folder (the adapter's own tensors).

Tensor names are the names in the weight files; tensors of a Dense module are named ``<module dir>/<name>``.
Weights are read from safetensors (single file or sharded with an index); pickle files (``pytorch_model.bin``,
``*.pt``) only with ``allow_pickle=True``, through ``torch.load(weights_only=True, mmap=True)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from embed import ModelLoadError, resolve_folder
from embed.st_layout import read_st_layout
from merge.errors import MergeError, PickleRefused
from merge.tensor_file import PickleFile, TensorFile, TensorSpec

ADAPTER_CONFIG = "adapter_config.json"
_PICKLE_PATTERNS = ("pytorch_model*.bin", "adapter_model.bin", "*.pt", "*.pth", "*.ckpt")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise MergeError(f"cannot read {path}: {err}") from None


def weight_files(folder: Path, prefix: str, allow_pickle: bool) -> tuple[list[Path], bool]:
    """The weight files of one module folder (safetensors first) and whether they are pickles."""
    index = folder / f"{prefix}.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise MergeError(f"{index} names missing shards: {', '.join(missing)}")
        return [folder / s for s in shards], False
    if (folder / f"{prefix}.safetensors").is_file():
        return [folder / f"{prefix}.safetensors"], False
    loose = sorted(folder.glob(f"{prefix}*.safetensors"))
    if loose:
        return loose, False
    pickles = sorted({p for pattern in _PICKLE_PATTERNS for p in folder.glob(pattern)})
    if pickles and not allow_pickle:
        raise PickleRefused(
            f"{folder} has only pickle weights ({', '.join(p.name for p in pickles)}): refusing to unpickle; "
            "re-save it as safetensors or pass allow_pickle=true if you trust the file"
        )
    if pickles:
        return pickles, True
    raise MergeError(f"no weights in {folder}: expected {prefix}.safetensors (or a sharded index)")


@dataclass
class Checkpoint:
    """A folder's tensors by name, its config and sentence-transformers layout; ``read`` returns row ranges."""

    path: Path
    kind: str  # "model" | "adapter"
    config: dict
    modules: list[dict] = field(default_factory=list)  # modules.json entries ([] for a plain HF folder)
    pooling: str | None = None
    transformer_dir: str = ""
    module_dirs: list[str] = field(default_factory=list)  # "" for the transformer, then Dense dirs
    pickled: bool = False
    _files: dict[str, TensorFile | PickleFile] = field(default_factory=dict, repr=False)
    _where: dict[str, tuple[str, str]] = field(
        default_factory=dict, repr=False
    )  # name -> (file key, local name)

    @property
    def specs(self) -> dict[str, TensorSpec]:
        """Every tensor's dtype and shape, by name."""
        return {name: self._files[f].specs[local] for name, (f, local) in self._where.items()}

    def names(self) -> list[str]:
        """Tensor names, sorted within each module, transformer first."""
        return list(self._where)

    def spec(self, name: str) -> TensorSpec:
        """Dtype and shape of ``name``."""
        f, local = self._where[name]
        return self._files[f].specs[local]

    def read(self, name: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows ``start:stop`` of ``name`` in its stored dtype."""
        f, local = self._where[name]
        return self._files[f].read(local, start, stop)

    def module_of(self, name: str) -> str:
        """The module dir holding ``name`` (``transformer_dir`` or a Dense dir)."""
        return name.rsplit("/", 1)[0] if "/" in name else self.transformer_dir

    def close(self) -> None:
        """Close every open file."""
        for f in self._files.values():
            f.close()

    def _add_module(self, sub: str, folder: Path, prefix: str, allow_pickle: bool, qualify: bool) -> None:
        files, pickled = weight_files(folder, prefix, allow_pickle)
        self.pickled |= pickled
        local_names: list[tuple[str, str]] = []
        for path in files:
            key = str(path)
            self._files[key] = PickleFile(path) if pickled else TensorFile(path)
            local_names += [(n, key) for n in self._files[key].specs]
        for local, key in sorted(local_names):
            name = f"{sub}/{local}" if qualify else local
            if name in self._where:
                raise MergeError(f"{folder}: tensor {local!r} appears in two weight files")
            self._where[name] = (key, local)


def is_adapter(folder: str | Path) -> bool:
    """True for a PEFT adapter folder (``adapter_config.json`` and no model ``config.json``)."""
    folder = Path(folder)
    return (folder / ADAPTER_CONFIG).is_file() and not (folder / "config.json").is_file()


def resolve(name_or_path: str | Path) -> Path:
    """A local folder for a path or a short model name (through embed's registry)."""
    try:
        return resolve_folder(name_or_path)
    except ModelLoadError as err:
        raise MergeError(str(err)) from None


def open_checkpoint(name_or_path: str | Path, *, allow_pickle: bool = False) -> Checkpoint:
    """Open a model folder (sentence-transformers or plain HF) or a PEFT adapter folder."""
    folder = resolve(name_or_path)
    if is_adapter(folder):
        ckpt = Checkpoint(folder, "adapter", _read_json(folder / ADAPTER_CONFIG), module_dirs=[""])
        ckpt._add_module("", folder, "adapter_model", allow_pickle, qualify=False)
        return ckpt
    try:
        layout = read_st_layout(folder)
    except ValueError as err:
        raise MergeError(str(err)) from None
    sub = layout.transformer_path if layout else ""
    if not (folder / sub / "config.json").is_file():
        raise MergeError(f"{folder / sub} has no config.json: not a model folder")
    modules = _read_json(folder / "modules.json") if layout else []
    ckpt = Checkpoint(
        folder,
        "model",
        _read_json(folder / sub / "config.json"),
        modules=modules,
        pooling=layout.pooling if layout else None,
        transformer_dir=sub,
        module_dirs=[sub, *(layout.dense_paths if layout else [])],
    )
    try:
        ckpt._add_module(sub, folder / sub, "model", allow_pickle, qualify=bool(sub))
        for dense in layout.dense_paths if layout else []:
            ckpt._add_module(dense, folder / dense, "model", allow_pickle, qualify=True)
    except BaseException:
        ckpt.close()
        raise
    return ckpt
