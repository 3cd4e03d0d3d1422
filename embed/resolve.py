"""Turn a model name (local folder, short name, hub id) into a local folder and check its weights are loadable."""

from __future__ import annotations

import re
from pathlib import Path

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
_PICKLE_PATTERNS = ("pytorch_model*.bin", "*.bin.index.json", "*.pt", "*.pth", "*.ckpt", "*.pkl")
# Never fetched from the hub: pickle weights and other frameworks' exports.
_IGNORE_ON_DOWNLOAD = [
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.pkl",
    "*.h5",
    "*.msgpack",
    "*.onnx",
    "onnx/*",
    "openvino/*",
    "*.gguf",
]


class ModelLoadError(ValueError):
    """A model could not be found or loaded; the message is one line saying what was wrong."""


def _first_line(err: BaseException) -> str:
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return str(text).strip().splitlines()[0] if str(text).strip() else type(err).__name__


def _from_registry(name: str) -> str:
    try:
        from embed.bootstrap.registry import resolve_model
    except ImportError:
        if _HUB_ID.match(name):
            return name
        raise ModelLoadError(f"unknown model {name!r}: not a local folder or a hub id (org/name)") from None
    try:
        return str(resolve_model(name))
    except (ValueError, LookupError, RuntimeError, OSError) as err:  # unknown name, failed build
        raise ModelLoadError(_first_line(err)) from err


def _from_hub(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, ignore_patterns=_IGNORE_ON_DOWNLOAD))
    except Exception as err:  # offline, not cached, no such repo: all become one clear line
        raise ModelLoadError(
            f"model {repo_id!r} is not a local folder or a known short name, and the hub could not provide it "
            f"({type(err).__name__}: {_first_line(err)})"
        ) from err


def resolve_folder(name_or_path: str | Path) -> Path:
    """Local folder for a local path, a tsumugi short name (built by embed.bootstrap) or a cached hub id."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(f"{path} is a file, expected a model folder")
    name = str(name_or_path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelLoadError(f"model folder {path} does not exist")
    resolved = _from_registry(name)
    if Path(resolved).is_dir():
        return Path(resolved)
    return _from_hub(resolved)


def check_weights(folder: str | Path) -> None:
    """Raise ModelLoadError unless ``folder`` is a HF model folder with safetensors weights."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} has no config.json: not a Hugging Face model folder")
    if any((folder / name).is_file() for name in SAFETENSORS_FILES) or any(folder.glob("*.safetensors")):
        return
    pickles = sorted({p.name for pattern in _PICKLE_PATTERNS for p in folder.glob(pattern)})
    if pickles:
        raise ModelLoadError(
            f"{folder} has only pickle weights ({', '.join(pickles)}); tsumugi loads safetensors only "
            "(re-save the model with save_pretrained(safe_serialization=True))"
        )
    raise ModelLoadError(f"no model weights in {folder}: expected {' or '.join(SAFETENSORS_FILES)}")
