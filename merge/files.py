"""Everything in a merged folder besides the weights: tokenizer, configs and sentence-transformers module files
copied from one source checkpoint, ``config.json`` dtype updated, the recipe and a short model card.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path

from merge.checkpoint import Checkpoint

_WEIGHTS = (
    "*.safetensors",
    "*.safetensors.index.json",
    "*.bin",
    "*.bin.index.json",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.pkl",
    "*.h5",
    "*.msgpack",
    "*.onnx",
    "*.gguf",
)
_NOT_COPIED = (
    "trainer_state.json",
    "training_args.bin",
    "optimizer*",
    "scheduler*",
    "rng_state*",
    "tsumugi_manifest.json",
    "README.md",
    "merge_recipe.yaml",
)


def _skip(name: str) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in _WEIGHTS + _NOT_COPIED)


def _copy_dir_files(src: Path, dst: Path) -> list[str]:
    copied = []
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if path.is_file() and not _skip(path.name):
            shutil.copy2(path, dst / path.name)
            copied.append(path.name)
    return copied


def copy_support_files(source: Checkpoint, out: Path) -> list[str]:
    """Copy the source's non-weight files: its root files and the folders its modules.json names."""
    copied = [f for f in _copy_dir_files(source.path, out)]
    subdirs = {str(m.get("path") or "") for m in source.modules} | {source.transformer_dir}
    for sub in sorted(d for d in subdirs if d):
        if (source.path / sub).is_dir():
            copied += [f"{sub}/{f}" for f in _copy_dir_files(source.path / sub, out / sub)]
    return copied


def set_config_dtype(config_path: Path, dtype: str) -> None:
    """Record the output dtype in ``config.json`` (``dtype``, and ``torch_dtype`` when present)."""
    if not config_path.is_file():
        return
    cfg = json.loads(config_path.read_text(encoding="utf-8"))
    cfg["dtype"] = dtype
    if "torch_dtype" in cfg:
        cfg["torch_dtype"] = dtype
    config_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_card(out: Path, recipe_yaml: str, inputs: list[str], source: str) -> None:
    """A short README.md: what was merged, how, and where the tokenizer and configs came from."""
    lines = [
        "# Merged model (tsumugi merge/)",
        "",
        "Inputs:",
        *[f"- `{p}`" for p in inputs],
        "",
        f"Tokenizer, configs and sentence-transformers modules copied from `{source}` (its license files too).",
        "",
        "Recipe (`merge_recipe.yaml`):",
        "",
        "```yaml",
        recipe_yaml.rstrip(),
        "```",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
