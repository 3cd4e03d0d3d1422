"""Prefix presets: e5, qwen3 (Japanese instruction for every dataset), none, and the model's own prompts."""

from __future__ import annotations

import re

import pytest

from eval.prefixes import PrefixPreset, load_preset
from eval.tasks import JMTEB_V1, KIND, STAND_INS


def test_e5_preset():
    p = load_preset("e5")
    assert p.resolve("jsts", "STS", "sts") == {"sentence1_prefix": "query: ", "sentence2_prefix": "query: "}
    assert p.resolve("jaqket", "Retrieval", "retrieval") == {
        "query_prefix": "query: ",
        "doc_prefix": "passage: ",
    }
    assert p.resolve("livedoor_news", "Clustering", "clustering") == {"prefix": "query: "}


def test_qwen3_has_a_japanese_instruction_for_every_dataset():
    p = load_preset("qwen3")
    tasks = [(d.name, d.category) for d in JMTEB_V1] + [(t.name, t.category) for t in STAND_INS]
    for name, cat in tasks:
        assert name in p.tasks, name
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", p.tasks[name]["instruction"]), name
        out = p.resolve(name, cat, KIND[cat])
        query_side = out.get("query_prefix", out.get("sentence1_prefix", out.get("prefix")))
        assert query_side.startswith("Instruct: ") and query_side.endswith("\nQuery:"), (name, query_side)
        if "doc_prefix" in out:
            assert out["doc_prefix"] == ""
        if "sentence2_prefix" in out:
            assert out["sentence2_prefix"] == out["sentence1_prefix"]  # instruction on both sides


def test_qwen3_exact_string():
    out = load_preset("qwen3").resolve("jaqket", "Retrieval", "retrieval")
    assert (
        out["query_prefix"]
        == "Instruct: 与えられたクイズに対する回答として、Wikipedia の中から関連する文章を検索する\nQuery:"
    )


def test_none_and_model_presets():
    assert load_preset("none").resolve("jsts", "STS", "sts") == {
        "sentence1_prefix": "",
        "sentence2_prefix": "",
    }
    m = load_preset("model")
    prompts = {"query": "query: ", "document": "passage: "}
    assert m.resolve("jsts", "STS", "sts", prompts) == {
        "sentence1_prefix": "query: ",
        "sentence2_prefix": "query: ",
    }
    assert m.resolve("x", "Reranking", "reranking", prompts) == {
        "query_prefix": "query: ",
        "doc_prefix": "passage: ",
    }
    assert m.resolve("x", "Classification", "classification", None) == {"prefix": ""}
    specific = {"query": "q: ", "STS": "sts: ", "jaqket-query": "quiz: "}
    assert m.resolve("jsts", "STS", "sts", specific)["sentence2_prefix"] == "sts: "
    assert m.resolve("jaqket", "Retrieval", "retrieval", specific) == {
        "query_prefix": "quiz: ",
        "doc_prefix": "",
    }


def test_task_entry_overrides_and_validation():
    p = PrefixPreset.from_mapping(
        {
            "name": "t",
            "categories": {"STS": {"sentence1_prefix": "a"}},
            "tasks": {"jsts": {"sentence2_prefix": "b"}},
        }
    )
    assert p.resolve("jsts", "STS", "sts") == {"sentence1_prefix": "a", "sentence2_prefix": "b"}
    bad = PrefixPreset.from_mapping({"name": "t", "tasks": {"jsts": {"query_prefix": "x"}}})
    with pytest.raises(ValueError, match="does not apply to jsts"):
        bad.resolve("jsts", "STS", "sts")
    with pytest.raises(ValueError, match="unknown keys"):
        PrefixPreset.from_mapping({"name": "t", "tasks": {"jsts": {"sentence_prefix": "x"}}})
    with pytest.raises(KeyError, match="unknown prefix preset"):
        load_preset("nope")
