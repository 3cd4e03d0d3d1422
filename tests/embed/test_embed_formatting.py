"""Input formatting: the Qwen3 template, prompt resolution, input validation."""

from __future__ import annotations

import pytest

from embed.formatting import (
    QWEN3_DEFAULT_TASK,
    apply_prompt,
    check_texts,
    format_query,
    qwen3_instruct,
    resolve_prompt,
)


def test_qwen3_instruct_is_exact():
    assert qwen3_instruct("Retrieve semantically similar text") == (
        "Instruct: Retrieve semantically similar text\nQuery:"
    )
    # No space after "Query:" (recipe.md §1; the README's get_detailed_instruct).
    assert format_query("東京の人口は?") == f"Instruct: {QWEN3_DEFAULT_TASK}\nQuery:東京の人口は?"
    assert QWEN3_DEFAULT_TASK == "Given a web search query, retrieve relevant passages that answer the query"


def test_qwen3_instruct_rejects_empty_task():
    with pytest.raises(ValueError, match="task"):
        qwen3_instruct("  ")


PROMPTS = {"query": "query: ", "document": "passage: "}


def test_resolve_prompt_follows_sentence_transformers_semantics():
    assert resolve_prompt(PROMPTS, None) == ""
    assert resolve_prompt(PROMPTS, "query") == "query: "  # default prompt applies
    assert resolve_prompt(PROMPTS, "query", prompt_name="document") == "passage: "
    assert resolve_prompt(PROMPTS, "query", prompt="") == ""  # explicit empty prompt turns the default off
    assert resolve_prompt(PROMPTS, None, prompt="x: ") == "x: "


def test_resolve_prompt_errors():
    with pytest.raises(ValueError, match="unknown prompt name 'qury'.*'document', 'query'"):
        resolve_prompt(PROMPTS, None, prompt_name="qury")
    with pytest.raises(ValueError, match="either"):
        resolve_prompt(PROMPTS, None, prompt="a", prompt_name="query")


def test_apply_prompt_prefixes_without_separator():
    assert apply_prompt(["a", "b"], "query: ") == ["query: a", "query: b"]
    assert apply_prompt(["a"], "") == ["a"]


def test_check_texts_errors():
    with pytest.raises(ValueError, match="empty list of texts"):
        check_texts([])
    with pytest.raises(TypeError, match="index 2 is int"):
        check_texts(["a", "b", 3])
    with pytest.raises(TypeError, match="single str"):
        check_texts("abc")
    assert check_texts(("a", "b")) == ["a", "b"]
