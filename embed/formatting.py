"""Input formatting: instruction templates, e5 prefixes, prompt resolution and input validation.

Prompts follow sentence-transformers semantics: a prompt is a plain prefix string put in front of every text,
chosen either directly (``prompt=``) or by name from the model's ``prompts`` (``prompt_name=``). The
model's ``default_prompt_name`` applies when neither is given; ``prompt=""`` turns it off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Qwen3-Embedding (recipe.md §1): the query is ``Instruct: {task}\nQuery:{query}``, no space after "Query:".
QWEN3_DEFAULT_TASK = "Given a web search query, retrieve relevant passages that answer the query"
QWEN3_STS_TASK = "Retrieve semantically similar text"
QWEN3_BITEXT_TASK = "Retrieve parallel sentences"

# multilingual-e5 (models.md §1.4): "query: " on both sides for symmetric tasks.
E5_QUERY = "query: "
E5_PASSAGE = "passage: "


def qwen3_instruct(task: str = QWEN3_DEFAULT_TASK) -> str:
    """Return the Qwen3-Embedding query prefix ``"Instruct: {task}\\nQuery:"`` (documents get no prefix)."""
    if not isinstance(task, str) or not task.strip():
        raise ValueError(f"qwen3_instruct needs a non-empty task description, got {task!r}")
    return f"Instruct: {task}\nQuery:"


def format_query(query: str, task: str = QWEN3_DEFAULT_TASK) -> str:
    """Return one Qwen3-style instructed query: ``Instruct: {task}\\nQuery:{query}``."""
    return qwen3_instruct(task) + query


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate a batch of input texts: a non-empty sequence of ``str``; returns it as a list."""
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, got a single str (wrap it in a list)")
    texts = list(texts)
    if not texts:
        raise ValueError("cannot encode an empty list of texts")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text at index {i} is {type(text).__name__}, not str")
    return texts


def resolve_prompt(
    prompts: Mapping[str, str],
    default_prompt_name: str | None,
    prompt: str | None = None,
    prompt_name: str | None = None,
) -> str:
    """Pick the prefix string: ``prompt`` wins, then ``prompts[prompt_name]``, then the default prompt, else ``""``."""
    if prompt is not None and prompt_name is not None:
        raise ValueError("give either prompt= or prompt_name=, not both")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        return prompt
    name = prompt_name if prompt_name is not None else default_prompt_name
    if name is None:
        return ""
    if name not in prompts:
        known = ", ".join(repr(k) for k in sorted(prompts)) or "none"
        raise ValueError(f"unknown prompt name {name!r}; this model's prompts: {known}")
    return prompts[name]


def apply_prompt(texts: Sequence[str], prompt: str) -> list[str]:
    """Prefix every text with ``prompt`` (no separator is added: the prompt carries its own spacing)."""
    return [prompt + text for text in texts] if prompt else list(texts)
