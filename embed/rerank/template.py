"""The Qwen3-Reranker input format: a judging system prompt, ``<Instruct>`` / ``<Query>`` / ``<Document>`` fields
and the assistant prefix with an empty think block; the model's next token is "yes" or "no".

Two field separators exist in the official code: ``"\\n"`` in the Qwen3-Reranker README's transformers example
(and ms-swift's ``qwen3_reranker`` template), ``"\\n\\n"`` in the README's vLLM example and QwenLM/Qwen3-Embedding
``evaluation/qwen3_reranker_model.py``. Both are selectable (``field_sep``); ``"\\n"`` is the default (recipe.md §5).

Truncation follows the transformers example: only the body (instruction, query, document) is cut, from its end,
to ``max_length - len(prefix) - len(suffix)`` tokens, so the system prompt and the assistant prefix always survive.
"""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM_PROMPT = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    'Note that the answer can only be "yes" or "no".'
)
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
FIELD_SEPS = ("\n", "\n\n")
ASSISTANT_PREFIX = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
INSTRUCTION_SLOT = "{instruction}"


@dataclass(frozen=True)
class RerankTemplate:
    """The prompt around one (query, document) pair; ``format`` gives the exact string the model reads."""

    field_sep: str = "\n"
    system: str = SYSTEM_PROMPT
    default_instruction: str = DEFAULT_INSTRUCTION

    def __post_init__(self) -> None:
        if self.field_sep not in FIELD_SEPS:
            raise ValueError(
                f"field_sep must be one of {FIELD_SEPS!r} (official variants), got {self.field_sep!r}"
            )

    @property
    def prefix(self) -> str:
        """System turn and the opening of the user turn (never truncated)."""
        return f"<|im_start|>system\n{self.system}<|im_end|>\n<|im_start|>user\n"

    @property
    def suffix(self) -> str:
        """End of the user turn and the assistant prefix with the empty think block (never truncated)."""
        return "<|im_end|>\n" + ASSISTANT_PREFIX

    @property
    def query_template(self) -> str:
        """The query field with an ``{instruction}`` slot, as a prompt template (train.data.PromptFormatter)."""
        return f"<Instruct>: {INSTRUCTION_SLOT}{self.field_sep}<Query>: "

    @property
    def document_prompt(self) -> str:
        """What precedes the document text."""
        return "<Document>: "

    def query_part(self, query: str, instruction: str | None = None) -> str:
        """``<Instruct>: ...<sep><Query>: query``."""
        return self.query_template.replace(INSTRUCTION_SLOT, instruction or self.default_instruction) + query

    def document_part(self, document: str) -> str:
        """``<Document>: document``."""
        return self.document_prompt + document

    def join(self, query_part: str, document_part: str) -> str:
        """The body from already formatted query and document parts."""
        return query_part + self.field_sep + document_part

    def body(self, query: str, document: str, instruction: str | None = None) -> str:
        """The truncatable middle: instruction, query and document fields."""
        return self.join(self.query_part(query, instruction), self.document_part(document))

    def format(self, query: str, document: str, instruction: str | None = None) -> str:
        """The whole input string (prefix + body + suffix)."""
        return self.prefix + self.body(query, document, instruction) + self.suffix
