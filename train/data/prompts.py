"""Turn a record's texts into model inputs: the query template with the record's instruction, the document prompt.

Instruction precedence: the record's ``instruction`` > its dataset's default > the run's ``default_instruction``.
A template holds ``{instruction}`` where the instruction goes (Qwen3: ``Instruct: {instruction}\\nQuery:``);
a template without it (e5: ``query: ``) ignores instructions. Symmetric datasets (STS, bitext) put the query
template on both sides (recipe.md §1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from embed.formatting import QWEN3_DEFAULT_TASK

INSTRUCTION = "{instruction}"
_QWEN3_PROMPT = re.compile(r"^Instruct: .*\nQuery:\s?$", re.DOTALL)
QWEN3_TEMPLATE = "Instruct: {instruction}\nQuery:"


def template_from_prompt(query_prompt: str | None) -> str:
    """A query template from a model's fixed query prompt: Qwen3's instruction slot is opened, others kept as is."""
    if not query_prompt:
        return ""
    return QWEN3_TEMPLATE if _QWEN3_PROMPT.match(query_prompt) else query_prompt


@dataclass(frozen=True)
class PromptFormatter:
    """Prefixes for queries (template with an instruction slot) and documents."""

    query_template: str = QWEN3_TEMPLATE
    document_prompt: str = ""
    default_instruction: str = QWEN3_DEFAULT_TASK

    def instruction(self, record_instruction: str | None, dataset_instruction: str | None) -> str:
        """The instruction in force: the record's, else the dataset's, else the default."""
        return record_instruction or dataset_instruction or self.default_instruction

    def query(self, text: str, instruction: str) -> str:
        """The query as the model sees it."""
        return self.query_template.replace(INSTRUCTION, instruction) + text

    def document(self, text: str, instruction: str, symmetric: bool = False) -> str:
        """A document as the model sees it (the query template on symmetric tasks)."""
        return self.query(text, instruction) if symmetric else self.document_prompt + text
