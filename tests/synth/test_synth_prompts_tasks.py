"""Prompt templates (every shipped set renders for every task) and the tasks' items, requests and records."""

from __future__ import annotations

import json

import pytest

from synth.app import load_vocab
from synth.corpus import load_passages
from synth.persona_retrieval import retrieve_personas, topk_indices
from synth.personas import load_personas
from synth.prompts import (
    PROMPTS_DIR,
    Template,
    TemplateError,
    list_prompt_sets,
    load_chat_template,
    load_template,
)
from synth.schemas import DIFFICULTIES, QUESTION_TYPES
from synth.tasks.base import split_sentences
from synth.tasks.classification import ClassificationTask, load_taxonomies
from synth.tasks.pairs import BitextTask, STSTask
from synth.tasks.retrieval import RetrievalTask
from synth.validate import Reject, TextLimits

TEMPLATES = ("retrieval_config", "retrieval_query", "bitext", "sts", "classification")


def test_template_rendering_is_strict_and_json_safe(tmp_path):
    t = Template("t", tmp_path / "t.txt", 'Example: {"Query":"x"}\nPassage: {{passage}} / {{ title }}')
    assert t.placeholders == {"passage", "title"}
    assert (
        t.render({"passage": "{{title}}", "title": "T"}) == 'Example: {"Query":"x"}\nPassage: {{title}} / T'
    )
    with pytest.raises(TemplateError, match="title"):
        t.render({"passage": "p"})
    with pytest.raises(TemplateError):
        load_template("default", "no_such_template")


@pytest.mark.parametrize("prompt_set", ["default", "base"])
def test_prompt_sets_are_complete(prompt_set):
    assert {"default", "base"} <= set(list_prompt_sets())
    vocab = load_vocab(prompt_set)
    assert set(vocab["question_types"]) == set(QUESTION_TYPES)
    assert set(vocab["difficulties"]) == set(DIFFICULTIES)
    assert set(vocab["languages"]) >= {"ja", "en"} and set(vocab["length_units"]) >= {"ja", "en"}
    for name in TEMPLATES:
        assert load_template(prompt_set, name).text.strip()
    assert (PROMPTS_DIR / "README.md").is_file()


def test_plain_chat_template_for_base_models():
    from jinja2 import Template as Jinja

    text = load_chat_template("plain")
    rendered = Jinja(text).render(
        messages=[{"role": "user", "content": "A"}, {"role": "user", "content": "B"}], bos_token="<bos>"
    )
    assert rendered == "<bos>A\n\nB"
    assert Jinja(text).render(messages=[{"role": "user", "content": "A"}], bos_token=None) == "A"
    assert load_chat_template(None) is None
    with pytest.raises(TemplateError):
        load_chat_template("missing-template")


def _retrieval(corpus_file, persona_file, embedder, prompt_set="default", **kw):
    passages = load_passages(corpus_file)
    personas = load_personas(persona_file)
    topk = retrieve_personas(passages, personas, embedder, k=5)
    return RetrievalTask(
        passages,
        {p.id: p for p in personas},
        topk,
        prompt_set=prompt_set,
        vocab=load_vocab(prompt_set),
        instruction="inst",
        **kw,
    )


def test_persona_retrieval_top_k(corpus_file, persona_file, embedder):
    passages, personas = load_passages(corpus_file), load_personas(persona_file)
    topk = retrieve_personas(passages, personas, embedder, k=5)
    assert set(topk) == {p.id for p in passages}
    assert all(
        len(v) == 5 and [s for _, s in v] == sorted((s for _, s in v), reverse=True) for v in topk.values()
    )
    import numpy as np

    assert topk_indices(np.array([[0.1, 0.5, 0.5, 0.2]]), 3).tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("prompt_set", ["default", "base"])
def test_retrieval_task_two_steps(corpus_file, persona_file, embedder, prompt_set):
    task = _retrieval(
        corpus_file, persona_file, embedder, prompt_set, per_passage=2, query_languages={"ja": 0.5, "en": 0.5}
    )
    task.check_templates()
    items = list(task.items())
    assert len(items) == 12 and len({i.id for i in items}) == 12
    assert [i.id for i in items] == [i.id for i in task.items()]  # deterministic
    assert {i.data["query_language"] for i in items} == {"ja", "en"}
    item = items[0]
    req = task.request(task.steps[0], item, {})
    assert req.schema["properties"]["Character"]["enum"] == ["1", "2", "3", "4", "5"]
    assert item.data["passage"] in req.messages[0]["content"] and req.seed is not None
    state: dict = {}
    task.absorb(
        task.steps[0], item, state, {"Character": "2", "Question_Type": "keywords", "Difficulty": "phd"}
    )
    req2 = task.request(task.steps[1], item, state)
    persona2 = task.personas[item.data["candidates"][1]].text
    assert persona2 in req2.messages[0]["content"]
    assert req2.schema["properties"]["Query"]["maxLength"] == 300
    query = "富士山 標高" if item.data["query_language"] == "ja" else "Mount Fuji height"
    task.absorb(task.steps[1], item, state, {"Query": query})
    rec = task.finish(item, state)
    assert rec["query"] == query and rec["positive"] == item.data["passage"] and rec["instruction"] == "inst"
    assert rec["meta"]["persona_rank"] == 2 and rec["meta"]["question_type"] == "keywords"
    assert rec["meta"]["difficulty"] == "phd"
    wrong = "Mount Fuji height" if item.data["query_language"] == "ja" else "富士山の標高"
    with pytest.raises(Reject, match="wrong_language"):
        task.finish(item, {**state, "query": {"Query": wrong}})


def test_retrieval_random_config_mode_is_one_step(corpus_file, persona_file, embedder):
    task = _retrieval(corpus_file, persona_file, embedder, config_mode="random")
    assert [s.name for s in task.steps] == ["query"]
    item = next(task.items())
    req = task.request(task.steps[0], item, {})
    qt = item.data["random_config"]["Question_Type"]
    assert qt in QUESTION_TYPES and f"Type: {qt}" in req.messages[0]["content"]
    with pytest.raises(ValueError):
        _retrieval(corpus_file, persona_file, embedder, config_mode="nope")


def test_bitext_and_sts_tasks(corpus_file):
    passages = load_passages(corpus_file)
    assert split_sentences("一文目。二文目！Third one. Fourth") == [
        "一文目。",
        "二文目！",
        "Third one.",
        "Fourth",
    ]
    bt = BitextTask(passages, prompt_set="default", vocab=load_vocab("default"), instruction="bi")
    items = list(bt.items())
    assert len(items) == 6 and all(i.data["sentence"] in p.text for i, p in zip(items, passages, strict=True))
    item = items[0]
    assert item.data["sentence"] in bt.request(bt.steps[0], item, {}).messages[0]["content"]
    rec = bt.finish(
        item,
        {
            "bitext": {
                "translation": "Mount Fuji is an active volcano.",
                "mistranslation": "Mount Fuji is an extinct volcano.",
            }
        },
    )
    assert rec["query"] == item.data["sentence"] and rec["negatives"] == ["Mount Fuji is an extinct volcano."]
    with pytest.raises(Reject, match="copied_input"):
        bt.finish(item, {"bitext": {"translation": "Same text.", "mistranslation": "same text"}})
    sts = STSTask(passages, prompt_set="base", vocab=load_vocab("base"), instruction="sts")
    item = next(sts.items())
    ok = {
        "paraphrase": "言い換えの文です。",
        "related": "関連する文です。",
        "hard_negative": "意味の違う文です。",
    }
    rec = sts.finish(item, {"sts": ok})
    assert rec["positive"] == ok["paraphrase"] and rec["meta"]["related"] == ok["related"]
    with pytest.raises(Reject, match="copied_input"):
        sts.finish(item, {"sts": {**ok, "paraphrase": item.data["sentence"]}})


def test_classification_task(persona_file):
    from synth.app import REPO

    tax = load_taxonomies(REPO / "conf/synth/classification.yaml")
    assert {"topic", "sentiment", "intent"} <= set(tax)
    task = ClassificationTask(
        tax,
        load_personas(persona_file),
        prompt_set="default",
        vocab=load_vocab("default"),
        per_label=2,
        only=["sentiment"],
        limits=TextLimits(),
    )
    items = list(task.items())
    assert len(items) == 6 and {i.data["label"] for i in items} == {"肯定的", "否定的", "中立"}
    req = task.request(task.steps[0], items[0], {})
    assert (
        items[0].data["label"] in req.messages[0]["content"]
        and items[0].data["style"] in req.messages[0]["content"]
    )
    rec = task.finish(items[0], {"text": {"text": "とても使いやすくて満足しています"}})
    assert rec["task"] == "classification/sentiment" and len(rec["negatives"]) == 2
    assert rec["positive"] == tax["sentiment"]["labels"][items[0].data["label"]]
    assert rec["positive"] not in rec["negatives"]


def test_schemas_are_json_serialisable():
    from synth import schemas

    for s in (
        schemas.retrieval_config_schema(5),
        schemas.retrieval_query_schema(10),
        schemas.bitext_schema(),
        schemas.sts_schema(),
        schemas.classification_schema(),
    ):
        assert json.loads(json.dumps(s)) == s and s["additionalProperties"] is False
