"""Prefix presets: which string goes before each text side of each task (JMTEB's ``*_prefix`` keys).

A preset (``conf/eval/prefix/<name>.yaml``) gives per-category defaults and per-task entries. An entry holds JMTEB's
keys (``query_prefix``/``doc_prefix`` for Retrieval and Reranking, ``sentence1_prefix``/``sentence2_prefix`` for
STS and PairClassification, ``prefix`` for Classification and Clustering) and/or an ``instruction``, which the
preset's ``template`` turns into the query-side prefix (both sides for symmetric tasks). ``from_model: true`` starts
from the model's own prompts, looked up in mteb's order: ``<task>-<role>``, ``<task>``, ``<Category>-<role>``,
``<Category>``, ``<role>``, where role is ``query`` (both sides of symmetric tasks) or ``document``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRESET_DIR = Path(__file__).resolve().parents[1] / "conf" / "eval" / "prefix"

SIDE_KEYS = {
    "retrieval": ("query_prefix", "doc_prefix"),
    "reranking": ("query_prefix", "doc_prefix"),
    "sts": ("sentence1_prefix", "sentence2_prefix"),
    "pair": ("sentence1_prefix", "sentence2_prefix"),
    "classification": ("prefix",),
    "clustering": ("prefix",),
}
_ROLE = {
    "query_prefix": "query",
    "doc_prefix": "document",
    "sentence1_prefix": "query",
    "sentence2_prefix": "query",
    "prefix": "query",
}
_ENTRY_KEYS = {"instruction", *_ROLE}


@dataclass(frozen=True)
class PrefixPreset:
    """A named set of prefixes; see the module docstring for the layout."""

    name: str
    template: str | None = None
    from_model: bool = False
    categories: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    tasks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PrefixPreset:
        """Build from a YAML/OmegaConf mapping (unknown top-level keys are an error)."""
        data = dict(data)
        unknown = set(data) - {"name", "template", "from_model", "categories", "tasks"}
        if unknown:
            raise ValueError(f"prefix preset: unknown keys {sorted(unknown)}")
        for section in ("categories", "tasks"):
            for key, entry in (data.get(section) or {}).items():
                bad = set(entry or {}) - _ENTRY_KEYS
                if bad:
                    raise ValueError(
                        f"prefix preset {data.get('name')!r}, {section}.{key}: unknown keys {sorted(bad)}"
                        f" (allowed: {sorted(_ENTRY_KEYS)})"
                    )
        return cls(
            name=str(data.get("name", "custom")),
            template=data.get("template"),
            from_model=bool(data.get("from_model", False)),
            categories={k: dict(v or {}) for k, v in (data.get("categories") or {}).items()},
            tasks={k: dict(v or {}) for k, v in (data.get("tasks") or {}).items()},
        )

    def resolve(
        self, task: str, category: str, kind: str, model_prompts: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The prefix for each side key of one task (missing sides get ``""``)."""
        keys = SIDE_KEYS[kind]
        out = {k: "" for k in keys}
        if self.from_model and model_prompts:
            out.update({k: _from_model(model_prompts, task, category, _ROLE[k]) for k in keys})
        entry = {**self.categories.get(category, {}), **self.tasks.get(task, {})}
        instruction = entry.get("instruction")
        if instruction:
            text = self.template.format(instruction=instruction) if self.template else instruction
            for k in keys:
                if _ROLE[k] == "query":
                    out[k] = text
                elif k == "doc_prefix":
                    out[k] = ""
        for k, v in entry.items():
            if k == "instruction":
                continue
            if k not in keys:
                raise ValueError(
                    f"prefix preset {self.name!r}: {k!r} does not apply to {task} ({category}); "
                    f"use {list(keys)}"
                )
            out[k] = "" if v is None else str(v)
        return out


def _from_model(prompts: Mapping[str, str], task: str, category: str, role: str) -> str:
    for key in (f"{task}-{role}", task, f"{category}-{role}", category, role):
        if key in prompts and prompts[key] is not None:
            return prompts[key]
    if role == "document" and "passage" in prompts:
        return prompts["passage"]
    return ""


def load_preset(preset: str | Mapping[str, Any] | PrefixPreset) -> PrefixPreset:
    """A preset by name (``conf/eval/prefix/<name>.yaml``), from a mapping, or as given."""
    if isinstance(preset, PrefixPreset):
        return preset
    if isinstance(preset, Mapping):
        return PrefixPreset.from_mapping(preset)
    path = PRESET_DIR / f"{preset}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))
        raise KeyError(f"unknown prefix preset {preset!r}; known: {known}")
    from omegaconf import OmegaConf

    return PrefixPreset.from_mapping(OmegaConf.to_container(OmegaConf.load(path), resolve=True))  # type: ignore[arg-type]
