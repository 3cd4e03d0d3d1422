"""Retrieval (recipe §7): persona-conditioned configuration step, then query generation, as in Qwen3-Embedding.

Step 1 (``config``): passage + top-k personas -> ``{"Character", "Question_Type", "Difficulty"}``.
Step 2 (``query``): character, passage and requirements (type, difficulty, length, language) -> ``{"Query"}``.
With ``config_mode: random`` step 1 is skipped and the three fields are drawn uniformly (one LLM call, for
weak models whose choices collapse). Query language is drawn per item from ``query_languages`` (cross-lingual
pairs when it differs from ``corpus_language``); the length is drawn per question type from ``lengths``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from synth.corpus import Passage
from synth.ids import record_id
from synth.personas import Persona
from synth.schemas import DIFFICULTIES, QUESTION_TYPES, retrieval_config_schema, retrieval_query_schema
from synth.tasks.base import DEFAULT_LIMITS, DEFAULT_SAMPLING, Sampling, Step, Task, WorkItem, pick_weighted
from synth.validate import TextLimits, check_not_copied, check_text

DEFAULT_LENGTHS = {
    "ja": {"keywords": (4, 16), "default": (10, 50)},
    "en": {"keywords": (2, 6), "default": (6, 20)},
}


class RetrievalTask(Task):
    """Persona-driven document -> query generation."""

    name = "retrieval"

    def __init__(
        self,
        passages: Sequence[Passage],
        personas: Mapping[str, Persona],
        persona_topk: Mapping[str, Sequence[tuple[str, float]]],
        *,
        prompt_set: str,
        vocab: Mapping[str, Any],
        sampling: Sampling = DEFAULT_SAMPLING,
        limits: TextLimits = DEFAULT_LIMITS,
        instruction: str | None = None,
        per_passage: int = 1,
        corpus_language: str = "ja",
        query_languages: Mapping[str, float] | None = None,
        config_mode: str = "llm",
        lengths: Mapping[str, Mapping[str, Sequence[int]]] | None = None,
        max_tokens: Mapping[str, int] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(prompt_set, sampling, limits, instruction)
        if config_mode not in ("llm", "random"):
            raise ValueError(f"config_mode must be llm or random, got {config_mode!r}")
        self.passages, self.personas, self.persona_topk = passages, personas, persona_topk
        self.vocab = vocab
        self.per_passage, self.seed = per_passage, seed
        self.corpus_language = check_language(corpus_language)
        for lang in query_languages or {}:
            check_language(lang)
        self.query_languages = dict(query_languages or {corpus_language: 1.0})
        self.config_mode = config_mode
        self.lengths = {lang: dict(v) for lang, v in (lengths or DEFAULT_LENGTHS).items()}
        budget = {"config": 64, "query": 128, **(max_tokens or {})}
        query = Step("query", "retrieval_query", budget["query"])
        self.steps = (Step("config", "retrieval_config", budget["config"]), query)
        if config_mode == "random":
            self.steps = (query,)

    # ------------------------------------------------------------------ items
    def items(self) -> Iterator[WorkItem]:
        """``per_passage`` items per passage, with candidates, query language and random draws fixed by id."""
        for p in self.passages:
            candidates = [pid for pid, _ in self.persona_topk.get(p.id, ())]
            if not candidates:
                raise ValueError(f"passage {p.id!r} has no retrieved personas")
            for v in range(self.per_passage):
                item = WorkItem(record_id(self.name, p.id, v, self.seed), self.name, p.id, v)
                rng = item.rng("plan")
                item.data = {
                    "passage": p.text,
                    "title": p.title or "",
                    "candidates": candidates,
                    "query_language": pick_weighted(rng, self.query_languages),
                    "random_config": {
                        "Character": str(rng.randrange(len(candidates)) + 1),
                        "Question_Type": rng.choice(QUESTION_TYPES),
                        "Difficulty": rng.choice(DIFFICULTIES),
                    },
                }
                yield item

    # ------------------------------------------------------------------ steps
    def schema(self, step: Step, item: WorkItem) -> dict:
        """Config: enum of candidate numbers, question types and difficulties; query: ``{"Query": str}``."""
        if step.name == "config":
            return retrieval_config_schema(len(item.data["candidates"]))
        return retrieval_query_schema(self.limits.schema_chars)

    def _config(self, item: WorkItem, state: Mapping[str, Any]) -> dict:
        return state["config"] if self.config_mode == "llm" else item.data["random_config"]

    def _length(self, item: WorkItem, qtype: str) -> int:
        table = self.lengths.get(item.data["query_language"], DEFAULT_LENGTHS["ja"])
        lo, hi = table.get(qtype, table["default"])
        return item.rng(f"length:{qtype}").randint(int(lo), int(hi))

    def variables(self, step: Step, item: WorkItem, state: Mapping[str, Any]) -> dict[str, Any]:
        """Passage, numbered candidates and language names; for the query step the chosen config too."""
        v = self.vocab
        lang_names = v["languages"]
        out: dict[str, Any] = {
            "passage": item.data["passage"],
            "title": item.data["title"],
            "corpus_language": lang_names[self.corpus_language],
            "num_candidates": len(item.data["candidates"]),
            "candidates": "\n".join(
                f"{i}. {self.personas[pid].text}" for i, pid in enumerate(item.data["candidates"], start=1)
            ),
        }
        if step.name == "query":
            cfg = self._config(item, state)
            qlang = item.data["query_language"]
            qtype, diff = cfg["Question_Type"], cfg["Difficulty"]
            out.update(
                character=self.personas[item.data["candidates"][int(cfg["Character"]) - 1]].text,
                question_type=qtype,
                question_type_description=v["question_types"][qtype],
                difficulty=diff,
                difficulty_description=v["difficulties"][diff],
                length=self._length(item, qtype),
                length_unit=v["length_units"][qlang],
                query_language=lang_names[qlang],
            )
            for i, example in enumerate(v.get("query_examples", {}).get(qtype, ()), start=1):
                out[f"example_query_{i}"] = example
                out[f"example_type_{i}"] = v["question_types"][qtype]
        return out

    def finish(self, item: WorkItem, state: Mapping[str, Any]) -> dict[str, Any]:
        """Query (checked: length, language, not copied) + the passage as positive."""
        cfg = self._config(item, state)
        qlang = item.data["query_language"]
        query = check_text(str(state["query"]["Query"]), qlang, self.limits, "Query")
        check_not_copied(query, item.data["passage"], "Query")
        rank = int(cfg["Character"]) - 1
        check_not_copied(query, self.personas[item.data["candidates"][rank]].text, "Query")  # echoed persona
        return {
            "query": query,
            "positive": item.data["passage"],
            "negatives": [],
            "instruction": self.instruction,
            "meta": {
                "passage_id": item.source_id,
                "persona_id": item.data["candidates"][rank],
                "persona_rank": rank + 1,
                "question_type": cfg["Question_Type"],
                "difficulty": cfg["Difficulty"],
                "query_language": qlang,
                "corpus_language": self.corpus_language,
                "length": self._length(item, cfg["Question_Type"]),
                "config_mode": self.config_mode,
            },
        }


def check_language(lang: str) -> str:
    """``lang`` if it is a supported language code (``ja``/``en``), else ValueError."""
    if lang not in ("ja", "en"):
        raise ValueError(f"unsupported language {lang!r}; use ja or en")
    return lang
