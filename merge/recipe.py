"""A merge recipe: the declarative description (YAML through Hydra, or built by the CLI and the search).

```yaml
method: slerp                      # slerp | chain | multislerp | karcher | linear | task_arithmetic | ties
models:                            # paths, short names or {model: ..., parameters: {...}, lora_base: ...}
  - runs/a/checkpoints/step-00001000
  - model: runs/b/checkpoints/step-00001000
    parameters: {weight: 2.0}
base_model: null                   # task_arithmetic / ties (required), multislerp (optional); slerp: t=0 side
parameters:                        # scalar, gradient list over layers, or [{filter: ..., value: ...}, ...]
  t: [{filter: self_attn, value: [0, 0.5, 1]}, {value: 0.5}]
dtype: null                        # float32 | bfloat16 | float16 | null (each tensor keeps its input dtype)
tokenizer_source: null             # base | first | <index of models> | <path>; null: base, else first model
out: merged/ab                     # output folder (written atomically)
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from merge.errors import MergeError
from merge.shard_writer import DEFAULT_SHARD_BYTES
from merge.tensor_inputs import DEFAULT_CHUNK_ELEMENTS

OUT_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}


@dataclass
class ModelEntry:
    """One input: where it is, its own parameters, and the base of a LoRA adapter (when it is one)."""

    model: str
    parameters: dict[str, Any] = field(default_factory=dict)
    lora_base: str | None = None


@dataclass
class MergeRecipe:
    """Everything a merge needs; ``MergeRecipe.from_mapping`` validates a YAML/Hydra dict."""

    method: str
    models: list[ModelEntry]
    out: str
    base_model: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    dtype: str | None = None
    tokenizer_source: str | int | None = None
    allow_pickle: bool = False
    lora: str = (
        "fold"  # fold: adapters merged into their base first | adapter: merge adapter tensors directly
    )
    lora_base: str | None = None
    max_shard_size: str | int = DEFAULT_SHARD_BYTES
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
    overwrite: bool = False
    name: str | None = None

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> MergeRecipe:
        """Validate and build from a plain mapping (unknown keys are errors)."""
        cfg = dict(cfg)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise MergeError(f"unknown recipe key(s) {unknown}; known: {sorted(known)}")
        for key in ("method", "models", "out"):
            if not cfg.get(key):
                raise MergeError(f"recipe needs {key!r}")
        models = []
        for entry in cfg["models"]:
            if isinstance(entry, str):
                models.append(ModelEntry(entry))
            elif isinstance(entry, Mapping) and entry.get("model"):
                extra = sorted(set(entry) - {"model", "parameters", "lora_base"})
                if extra:
                    raise MergeError(f"unknown key(s) {extra} in model entry {dict(entry)}")
                models.append(
                    ModelEntry(
                        str(entry["model"]), dict(entry.get("parameters") or {}), entry.get("lora_base")
                    )
                )
            else:
                raise MergeError(
                    f"a model entry is a path or {{model: path, parameters: {{...}}}}, got {entry!r}"
                )
        cfg["models"] = models
        cfg["parameters"] = dict(cfg.get("parameters") or {})
        if cfg.get("dtype") is not None:
            dt = str(cfg["dtype"]).lower()
            if dt not in OUT_DTYPES:
                raise MergeError(f"dtype {cfg['dtype']!r} is not one of {sorted(set(OUT_DTYPES.values()))}")
            cfg["dtype"] = OUT_DTYPES[dt]
        if cfg.get("lora", "fold") not in ("fold", "adapter"):
            raise MergeError(f"lora must be 'fold' or 'adapter', got {cfg['lora']!r}")
        return cls(**cfg)

    def to_mapping(self) -> dict[str, Any]:
        """A plain dict (what ``merge_recipe.yaml`` holds)."""
        return asdict(self)
