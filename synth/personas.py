"""Persona collections (Persona Hub-style JSONL) and the Japanese persona set built from RealPersonaChat.

Persona Hub rows look like ``{"persona": "A retired railway engineer who ..."}`` (some dumps use
``"input persona"``). RealPersonaChat gives 233 speakers with ten first-person Japanese sentences each; one
persona per speaker joins them (``group_size=10``), smaller groups give more, narrower personas.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from synth.ids import stable_hash

PERSONA_KEYS = ("persona", "input persona", "text")


@dataclass(frozen=True)
class Persona:
    """One character description."""

    id: str
    text: str


def load_personas(path: str | Path, limit: int | None = None) -> list[Persona]:
    """Personas of a JSONL file; the text is the first of PERSONA_KEYS present, the id ``id`` or a text hash."""
    out, seen = [], set()
    with Path(path).expanduser().open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            text = next((row[k] for k in PERSONA_KEYS if isinstance(row.get(k), str)), None)
            if not text or not text.strip():
                raise ValueError(f"{path}:{lineno}: no persona text under {PERSONA_KEYS}")
            text = text.strip()
            if text in seen:
                continue
            seen.add(text)
            out.append(Persona(id=str(row.get("id") or stable_hash(text)[:12]), text=text))
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise ValueError(f"{path}: no personas")
    return out


def real_persona_chat_personas(interlocutors_json: str | Path, group_size: int = 10) -> list[Persona]:
    """Japanese personas from RealPersonaChat ``interlocutors.json``: a speaker's sentences joined per group."""
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    data = json.loads(Path(interlocutors_json).expanduser().read_text(encoding="utf-8"))
    out = []
    for speaker in sorted(data):
        sentences = [s.strip() for s in data[speaker]["persona"] if s.strip()]
        for g in range(0, len(sentences), group_size):
            chunk = sentences[g : g + group_size]
            out.append(Persona(id=f"rpc-{speaker}-{g // group_size}", text="".join(chunk)))
    return out


def write_personas(personas: Iterable[Persona], path: str | Path, source: str = "") -> Path:
    """Write Persona Hub-style JSONL ``{"id", "persona", "source"}`` (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for p in personas:
            handle.write(
                json.dumps({"id": p.id, "persona": p.text, "source": source}, ensure_ascii=False) + "\n"
            )
    tmp.replace(path)
    return path
