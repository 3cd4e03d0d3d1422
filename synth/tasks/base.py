"""The task interface: work items, their LLM steps (template + JSON schema), and how outputs become records.

A task turns its inputs into ``WorkItem``s with deterministic ids. Each item runs the task's steps in order;
step k's prompt may use what steps < k returned (``state``). ``finish`` builds the generated record or raises
``Reject``. The generator (synth/generate.py) batches items of all tasks step by step through one engine.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from synth.engines.base import ChatRequest
from synth.ids import rng_for, seed_for
from synth.prompts import Template, load_template
from synth.validate import TextLimits

LANGUAGE_NAMES = {"ja": "Japanese", "en": "English"}
LANGUAGE_NAMES_JA = {"ja": "日本語", "en": "英語"}


@dataclass
class WorkItem:
    """One generation unit: id, task, source (passage or label) id, variant number and pre-sampled inputs."""

    id: str
    task: str
    source_id: str
    variant: int
    data: dict[str, Any] = field(default_factory=dict)

    def rng(self, salt: str = "") -> random.Random:
        """A deterministic RNG for this item (same across runs and resumes)."""
        return rng_for(self.id, salt)


@dataclass(frozen=True)
class Step:
    """One LLM call of a task: a name, its prompt template name and a token budget."""

    name: str
    template: str
    max_tokens: int


@dataclass(frozen=True)
class Sampling:
    """Decoding settings shared by all steps (a step's ``max_tokens`` overrides the budget)."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int | None = None


DEFAULT_SAMPLING = Sampling()
DEFAULT_LIMITS = TextLimits()


class Task:
    """Base class: subclasses set ``name`` and ``steps`` and implement ``items``, ``schema``, ``variables``, ``finish``."""

    name: str = ""
    steps: tuple[Step, ...] = ()

    def __init__(
        self, prompt_set: str, sampling: Sampling, limits: TextLimits, instruction: str | None
    ) -> None:
        self.prompt_set = prompt_set
        self.sampling = sampling
        self.limits = limits
        self.instruction = instruction
        self._templates: dict[str, Template] = {}

    def template(self, name: str) -> Template:
        """A template of the task's prompt set (loaded once)."""
        if name not in self._templates:
            self._templates[name] = load_template(self.prompt_set, name)
        return self._templates[name]

    def check_templates(self) -> None:
        """Load every step's template now, so a missing file fails before any generation."""
        for step in self.steps:
            self.template(step.template)

    def items(self) -> Iterator[WorkItem]:
        """Every work item of the task, in a deterministic order."""
        raise NotImplementedError

    def schema(self, step: Step, item: WorkItem) -> dict:
        """The JSON schema that step's output must satisfy."""
        raise NotImplementedError

    def variables(self, step: Step, item: WorkItem, state: Mapping[str, Any]) -> dict[str, Any]:
        """Template values for one step of one item (``state`` holds earlier steps' parsed outputs)."""
        raise NotImplementedError

    def absorb(self, step: Step, item: WorkItem, state: dict[str, Any], output: dict) -> None:
        """Store a step's parsed, schema-valid output in ``state`` (raise Reject to drop the item)."""
        state[step.name] = output

    def finish(self, item: WorkItem, state: Mapping[str, Any]) -> dict[str, Any]:
        """The generated record's fields ``query, positive, negatives, meta`` (raise Reject to drop it)."""
        raise NotImplementedError

    def request(self, step: Step, item: WorkItem, state: Mapping[str, Any]) -> ChatRequest:
        """The engine request of one step: the rendered template as a user message, schema and sampling."""
        prompt = self.template(step.template).render(self.variables(step, item, state))
        return ChatRequest(
            messages=[{"role": "user", "content": prompt}],
            schema=self.schema(step, item),
            max_tokens=step.max_tokens,
            temperature=self.sampling.temperature,
            top_p=self.sampling.top_p,
            top_k=self.sampling.top_k,
            seed=seed_for(item.id, step.name),
        )


def pick_weighted(rng: random.Random, weights: Mapping[str, float]) -> str:
    """One key of ``weights`` drawn with probability proportional to its weight."""
    keys = [k for k, w in weights.items() if w > 0]
    if not keys:
        raise ValueError(f"no positive weight in {dict(weights)}")
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def split_sentences(text: str) -> list[str]:
    """Japanese/English sentences: split after 。！？!? (and . followed by a space) and at newlines."""
    import re

    parts = re.split(r"(?<=[。！？!?])|(?<=\.)\s+|\n+", text)
    return [p.strip() for p in parts if p and p.strip()]


def pick_sentence(rng: random.Random, text: str, min_chars: int, max_chars: int) -> str | None:
    """A random sentence of ``text`` with a length in [min_chars, max_chars], or None when there is none."""
    fits = [s for s in split_sentences(text) if min_chars <= len(s) <= max_chars]
    return rng.choice(fits) if fits else None
