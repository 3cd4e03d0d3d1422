"""Prompt templates: plain-text files in ``conf/synth/prompts/<set>/`` with ``{{name}}`` placeholders.

``{{name}}`` (not ``{name}``) keeps the JSON examples inside the templates free of escaping. Rendering fails on a
placeholder without a value, so a template and its task cannot silently drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPTS_DIR = REPO / "conf" / "synth" / "prompts"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TemplateError(ValueError):
    """A template is missing, or a placeholder has no value."""


@dataclass(frozen=True)
class Template:
    """One prompt template: its name, source file and text."""

    name: str
    path: Path
    text: str

    @property
    def placeholders(self) -> set[str]:
        """Names of the ``{{...}}`` placeholders in the text."""
        return set(_PLACEHOLDER.findall(self.text))

    def render(self, variables: Mapping[str, object]) -> str:
        """The text with every placeholder replaced; TemplateError names the first missing one."""
        missing = sorted(self.placeholders - set(variables))
        if missing:
            raise TemplateError(f"template {self.name!r} ({self.path}) needs values for {missing}")
        return _PLACEHOLDER.sub(lambda m: str(variables[m.group(1)]), self.text)


def resolve_prompt_dir(prompt_set: str | Path) -> Path:
    """A prompt set: a folder path, or the name of a folder under ``conf/synth/prompts``."""
    path = Path(prompt_set).expanduser()
    if path.is_dir():
        return path
    named = PROMPTS_DIR / str(prompt_set)
    if named.is_dir():
        return named
    raise TemplateError(f"prompt set {prompt_set!r} is neither a folder nor one of {list_prompt_sets()}")


def list_prompt_sets() -> list[str]:
    """Names of the prompt sets shipped in ``conf/synth/prompts``."""
    return sorted(p.name for p in PROMPTS_DIR.iterdir() if p.is_dir())


def load_template(prompt_set: str | Path, name: str) -> Template:
    """Template ``<name>.txt`` of a prompt set."""
    path = resolve_prompt_dir(prompt_set) / f"{name}.txt"
    if not path.is_file():
        raise TemplateError(f"prompt template {name!r} not found: {path}")
    return Template(name=name, path=path, text=path.read_text(encoding="utf-8").rstrip("\n"))


def load_chat_template(spec: str | None) -> str | None:
    """A Jinja chat template: None (the tokenizer's own), a file path, or a name in ``conf/synth/chat_templates``."""
    if spec is None:
        return None
    path = Path(spec).expanduser()
    if not path.is_file():
        path = REPO / "conf" / "synth" / "chat_templates" / f"{spec}.jinja"
    if not path.is_file():
        raise TemplateError(
            f"chat template {spec!r} is neither a file nor conf/synth/chat_templates/{spec}.jinja"
        )
    return path.read_text(encoding="utf-8")
