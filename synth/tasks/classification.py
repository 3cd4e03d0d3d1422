"""Classification: for each label of a taxonomy, texts of that label (style, length and persona drawn per item).

Records pair the text (query) with its label description (positive); the taxonomy's other label descriptions
are the negatives, and each taxonomy is its own task name (``classification/<taxonomy>``) so training batches
never mix label sets. Taxonomies live in ``conf/synth/classification.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from synth.ids import record_id
from synth.personas import Persona
from synth.schemas import classification_schema
from synth.tasks.base import DEFAULT_LIMITS, DEFAULT_SAMPLING, Sampling, Step, Task, WorkItem
from synth.validate import TextLimits, check_text


def load_taxonomies(path: str | Path) -> dict[str, dict]:
    """``{taxonomy: {"instruction", "description", "styles", "lengths", "labels": {label: description}}}``."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(OmegaConf.load(str(path)), resolve=True)
    taxonomies = data.get("taxonomies", data)
    for name, tax in taxonomies.items():
        for key in ("instruction", "labels", "styles"):
            if not tax.get(key):
                raise ValueError(f"{path}: taxonomy {name!r} needs a non-empty {key!r}")
        if len(tax["labels"]) < 2:
            raise ValueError(f"{path}: taxonomy {name!r} needs at least two labels")
    return taxonomies


class ClassificationTask(Task):
    """Label-conditioned Japanese text generation."""

    name = "classification"

    def __init__(
        self,
        taxonomies: Mapping[str, Mapping[str, Any]],
        personas: Sequence[Persona],
        *,
        prompt_set: str,
        vocab: Mapping[str, Any],
        sampling: Sampling = DEFAULT_SAMPLING,
        limits: TextLimits = DEFAULT_LIMITS,
        per_label: int = 4,
        max_negatives: int = 7,
        max_tokens: int = 200,
        seed: int = 0,
        only: Sequence[str] | None = None,
    ) -> None:
        super().__init__(prompt_set, sampling, limits, None)
        self.taxonomies = {k: v for k, v in taxonomies.items() if only is None or k in only}
        self.personas = list(personas)
        self.vocab = vocab
        self.per_label, self.max_negatives, self.seed = per_label, max_negatives, seed
        self.steps = (Step("text", "classification", max_tokens),)

    def items(self) -> Iterator[WorkItem]:
        """``per_label`` items per (taxonomy, label) with a style, a length and a persona drawn by id."""
        for tax_name, tax in self.taxonomies.items():
            lo, hi = tax.get("lengths", (20, 120))
            for label in tax["labels"]:
                source = f"{tax_name}/{label}"
                for v in range(self.per_label):
                    item = WorkItem(record_id(self.name, source, v, self.seed), self.name, source, v)
                    rng = item.rng("plan")
                    item.data = {
                        "taxonomy": tax_name,
                        "label": label,
                        "style": rng.choice(list(tax["styles"])),
                        "length": rng.randint(int(lo), int(hi)),
                        "persona": rng.choice(self.personas).text if self.personas else "",
                    }
                    yield item

    def schema(self, step: Step, item: WorkItem) -> dict:
        """``{"text": str}``."""
        return classification_schema(self.limits.schema_chars)

    def variables(self, step: Step, item: WorkItem, state: Mapping[str, Any]) -> dict[str, Any]:
        """Taxonomy description, the label and its description, all labels, style, length and persona."""
        tax = self.taxonomies[item.data["taxonomy"]]
        labels = tax["labels"]
        return {
            "task_description": tax.get("description", ""),
            "label": item.data["label"],
            "label_description": labels[item.data["label"]],
            "all_labels": "\n".join(f"- {k}: {d}" for k, d in labels.items()),
            "style": item.data["style"],
            "length": item.data["length"],
            "length_unit": self.vocab["length_units"]["ja"],
            "persona": item.data["persona"],
        }

    def finish(self, item: WorkItem, state: Mapping[str, Any]) -> dict[str, Any]:
        """Query = text, positive = its label description, negatives = other labels' descriptions."""
        tax = self.taxonomies[item.data["taxonomy"]]
        text = check_text(str(state["text"]["text"]), "ja", self.limits, "text")
        labels = tax["labels"]
        others = [d for k, d in labels.items() if k != item.data["label"]]
        item.rng("negatives").shuffle(others)
        return {
            "query": text,
            "positive": labels[item.data["label"]],
            "negatives": others[: self.max_negatives],
            "instruction": tax["instruction"],
            "task": f"{self.name}/{item.data['taxonomy']}",
            "meta": {
                "taxonomy": item.data["taxonomy"],
                "label": item.data["label"],
                "style": item.data["style"],
                "length": item.data["length"],
            },
        }
