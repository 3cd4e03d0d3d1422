"""Sentence-pair tasks built from passage sentences: bitext (ja -> en translation) and STS (paraphrases).

Both pick one sentence per item from a passage (length-bounded, drawn by the item's RNG) and ask for JSON in
one step. Designs and rationale: ``conf/synth/prompts/README.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from synth.corpus import Passage
from synth.ids import record_id
from synth.schemas import bitext_schema, sts_schema
from synth.tasks.base import DEFAULT_LIMITS, DEFAULT_SAMPLING, Sampling, Step, Task, WorkItem, pick_sentence
from synth.textnorm import normalize_for_dedup
from synth.validate import Reject, TextLimits, check_text


class _SentenceTask(Task):
    """Common part: one sentence of a passage per item."""

    template_name = ""
    default_tokens = 160

    def __init__(
        self,
        passages: Sequence[Passage],
        *,
        prompt_set: str,
        vocab: Mapping[str, Any],
        sampling: Sampling = DEFAULT_SAMPLING,
        limits: TextLimits = DEFAULT_LIMITS,
        instruction: str | None = None,
        per_passage: int = 1,
        sentence_chars: Sequence[int] = (15, 150),
        max_tokens: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(prompt_set, sampling, limits, instruction)
        self.passages, self.vocab = passages, vocab
        self.per_passage, self.seed = per_passage, seed
        self.sentence_chars = (int(sentence_chars[0]), int(sentence_chars[1]))
        self.steps = (Step(self.name, self.template_name, max_tokens or self.default_tokens),)

    def items(self) -> Iterator[WorkItem]:
        """``per_passage`` items per passage that has a sentence of the right length."""
        for p in self.passages:
            for v in range(self.per_passage):
                item = WorkItem(record_id(self.name, p.id, v, self.seed), self.name, p.id, v)
                sentence = pick_sentence(item.rng("sentence"), p.text, *self.sentence_chars)
                if sentence is None:
                    break
                item.data = {"sentence": sentence, "title": p.title or ""}
                yield item

    def variables(self, step: Step, item: WorkItem, state: Mapping[str, Any]) -> dict[str, Any]:
        """The sentence and the passage title."""
        return {"sentence": item.data["sentence"], "title": item.data["title"]}

    def _differs(self, a: str, b: str, field: str) -> None:
        if normalize_for_dedup(a) == normalize_for_dedup(b):
            raise Reject("copied_input", f"{field} repeats its source")


class BitextTask(_SentenceTask):
    """Japanese sentence -> English translation (positive) + a fluent mistranslation (hard negative)."""

    name = "bitext"
    template_name = "bitext"

    def schema(self, step: Step, item: WorkItem) -> dict:
        """``{"translation", "mistranslation"}``."""
        return bitext_schema(self.limits.schema_chars)

    def finish(self, item: WorkItem, state: Mapping[str, Any]) -> dict[str, Any]:
        """Query = Japanese sentence, positive = translation, negatives = [mistranslation]."""
        out = state[self.name]
        translation = check_text(str(out["translation"]), "en", self.limits, "translation")
        wrong = check_text(str(out["mistranslation"]), "en", self.limits, "mistranslation")
        self._differs(wrong, translation, "mistranslation")
        return {
            "query": item.data["sentence"],
            "positive": translation,
            "negatives": [wrong],
            "instruction": self.instruction,
            "meta": {"passage_id": item.source_id, "source_language": "ja", "target_language": "en"},
        }


class STSTask(_SentenceTask):
    """Japanese sentence -> paraphrase (positive), related sentence (graded, kept in meta), hard negative."""

    name = "sts"
    template_name = "sts"

    def schema(self, step: Step, item: WorkItem) -> dict:
        """``{"paraphrase", "related", "hard_negative"}``."""
        return sts_schema(self.limits.schema_chars)

    def finish(self, item: WorkItem, state: Mapping[str, Any]) -> dict[str, Any]:
        """Query = sentence, positive = paraphrase, negatives = [hard_negative]; ``related`` in meta."""
        out = state[self.name]
        sentence = item.data["sentence"]
        para = check_text(str(out["paraphrase"]), "ja", self.limits, "paraphrase")
        related = check_text(str(out["related"]), "ja", self.limits, "related")
        negative = check_text(str(out["hard_negative"]), "ja", self.limits, "hard_negative")
        self._differs(para, sentence, "paraphrase")
        self._differs(negative, para, "hard_negative")
        self._differs(negative, sentence, "hard_negative")
        return {
            "query": sentence,
            "positive": para,
            "negatives": [negative],
            "instruction": self.instruction,
            "meta": {
                "passage_id": item.source_id,
                "related": related,
                "scores": {"positive": 5, "related": 3},
            },
        }
