"""Loaders: the real shared data, JMTEB's fixtures with other field names, and one clear error per bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.data import (
    DataError,
    Fields,
    load_task_data,
    read_corpus,
    read_labelled,
    read_pairs,
    read_retrieval,
)
from eval.data.loaders import read_reranking
from eval.suite import get_suite
from eval.tasks import JNLI_PAIR, TaskSpec, local

EXPECTED = {  # (val, test, train) sizes from each folder's SOURCE.md
    "jsts": (12451, 1457, None),
    "jsick": (1985, 1986, None),
    "amazon_counterfactual_classification": (466, 934, 5600),
    "sib200_classification": (99, 204, 701),
    "sib200_clustering": (99, 204, None),
    "jnli_pair_classification": (2434, 2508, None),
    "jsquad_retrieval": (4442, 4420, None),
    "jaquad_retrieval": (3939, 3939, None),
    "jsquad_reranking": (4442, 4420, None),
}


def test_every_local_task_loads_with_documented_sizes(shared_data):
    suite = get_suite("local", shared_data)
    assert {t.name for t in suite.tasks} == set(EXPECTED)
    for task in suite.tasks:
        data = load_task_data(task, shared_data)
        val, test, train = EXPECTED[task.name]
        assert (len(data.val), len(data.test)) == (val, test), task.name
        assert (len(data.train) if data.train is not None else None) == train, task.name


def test_label_conventions_on_real_data(shared_data):
    suite = get_suite("local", shared_data)
    jsts = load_task_data(suite.task("jsts"), shared_data)
    assert jsts.test.labels.dtype == np.float64 and jsts.test.labels.max() <= 5.0
    assert (
        jsts.test.sentence1[0] == "レンガの建物の前を、乳母車を押した女性が歩いています。"
    )  # JGLUE valid row 0
    jnli = load_task_data(suite.task("jnli_pair_classification"), shared_data)
    assert int(jnli.val.labels.sum()) == 349 and int(jnli.test.labels.sum()) == 367  # entailment -> 1
    sib = load_task_data(suite.task("sib200_classification"), shared_data)
    assert sorted(set(sib.train.labels.tolist())) == list(range(7))  # 7 topics, sorted string order
    first = json.loads((shared_data / "sib200_jpn/jmteb_format/train.jsonl").read_text().splitlines()[0])[
        "label"
    ]
    topics = sorted(
        {
            json.loads(x)["label"]
            for x in (shared_data / "sib200_jpn/jmteb_format/train.jsonl").read_text().splitlines()
        }
    )
    assert sib.train.labels[0] == topics.index(first)


def test_jaquad_val_is_test_and_corpus_shared(shared_data):
    task = get_suite("local", shared_data).task("jaquad_retrieval")
    data = load_task_data(task, shared_data)
    assert task.val_is_test and data.val is data.test


def test_jmteb_fixture_field_names(shared_data):
    fx = shared_data / "jmteb_fixtures/test_data"
    fields = Fields(query="question", relevant_docs="answer")
    corpus = read_corpus(fx / "dummy_retrieval/corpus.jsonl", fields)
    data = read_retrieval(fx / "dummy_retrieval/val.jsonl", corpus, fields)
    assert len(data) == 10 and data.relevant[0] == ["2681119#1"]
    texts, labels = read_labelled(fx / "dummy_classification/val.jsonl", Fields(text="sentence"))
    assert len(texts) == 10 and labels.as_class({"negative": 0, "positive": 1}).tolist()
    rr_corpus = read_corpus(fx / "dummy_reranking/corpus.jsonl")  # 10 docs only: candidates are missing
    with pytest.raises(DataError, match=r"val.jsonl, line 1, field 'retrieved_docs': doc id 'B004C4Q9LE'"):
        read_reranking(fx / "dummy_reranking/val.jsonl", rr_corpus)


# --------------------------------------------------------------------------------------------- bad input
def _write(path: Path, lines: list[str | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else line.encode("utf-8"))
            f.write(b"\n")
    return path


def _err(fn, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    return info.value


def test_missing_file(tmp_path):
    e = _err(read_pairs, tmp_path / "nope.jsonl")
    assert "nope.jsonl" in str(e) and "file not found" in str(e)


def test_invalid_json_names_line(tmp_path):
    p = _write(
        tmp_path / "sts.jsonl", ['{"sentence1": "a", "sentence2": "b", "label": 1}', '{"sentence1": "a",']
    )
    e = _err(read_pairs, p)
    assert e.line == 2 and str(p) in str(e) and "invalid JSON" in str(e) and ", line 2" in str(e)


def test_missing_field_lists_present_fields(tmp_path):
    p = _write(
        tmp_path / "sts.jsonl",
        [
            '{"sentence1": "a", "sentence2": "b", "label": 1}',
            '{"sentence_1": "a", "sentence2": "b", "label": 1}',
        ],
    )
    e = _err(read_pairs, p)
    msg = str(e)
    assert e.line == 2 and e.field == "sentence1"
    assert "field 'sentence1'" in msg and "fields present: label, sentence2, sentence_1" in msg


def test_misnamed_field_via_config(tmp_path):
    p = _write(tmp_path / "cls.jsonl", ['{"sentence": "良い", "label": 1}'])
    e = _err(read_labelled, p)  # default text field is "text"
    assert e.field == "text" and "sentence" in str(e) and e.line == 1
    texts, _ = read_labelled(p, Fields(text="sentence"))
    assert texts == ["良い"]


def test_empty_text(tmp_path):
    p = _write(tmp_path / "cls.jsonl", ['{"text": "ok", "label": 0}', '{"text": "   ", "label": 1}'])
    e = _err(read_labelled, p)
    assert (e.line, e.field) == (2, "text") and "empty text" in str(e)


def test_non_utf8(tmp_path):
    p = _write(tmp_path / "cls.jsonl", ['{"text": "ok", "label": 0}', b'{"text": "\xff\xfe", "label": 1}'])
    e = _err(read_labelled, p)
    assert e.line == 2 and "UTF-8" in str(e)


def test_not_an_object(tmp_path):
    p = _write(tmp_path / "cls.jsonl", ['["text", "label"]'])
    assert "expected a JSON object" in str(_err(read_labelled, p))


def test_duplicate_doc_ids(tmp_path):
    p = _write(
        tmp_path / "corpus.jsonl",
        ['{"docid": "d1", "text": "a"}', '{"docid": "d2", "text": "b"}', '{"docid": "d1", "text": "c"}'],
    )
    e = _err(read_corpus, p)
    assert (e.line, e.field) == (3, "docid") and "duplicate id 'd1'" in str(e) and "line 1" in str(e)


def test_duplicate_query_ids(tmp_path):
    c = read_corpus(_write(tmp_path / "corpus.jsonl", ['{"docid": "d1", "text": "a"}']))
    q = _write(
        tmp_path / "q.jsonl",
        [
            '{"qid": "q", "query": "x", "relevant_docs": ["d1"]}',
            '{"qid": "q", "query": "y", "relevant_docs": ["d1"]}',
        ],
    )
    e = _err(read_retrieval, q, c)
    assert (e.line, e.field) == (2, "qid")


def test_relevant_id_absent_from_corpus(tmp_path):
    c = read_corpus(_write(tmp_path / "corpus.jsonl", ['{"docid": "d1", "text": "a"}']))
    q = _write(
        tmp_path / "q.jsonl",
        [
            '{"qid": "q1", "query": "x", "relevant_docs": ["d1"]}',
            '{"qid": "q2", "query": "y", "relevant_docs": ["d9"]}',
        ],
    )
    e = _err(read_retrieval, q, c)
    assert (e.line, e.field) == (2, "relevant_docs") and "'d9'" in str(e) and "corpus.jsonl" in str(e)


def test_reranking_scores_must_align(tmp_path):
    c = read_corpus(
        _write(tmp_path / "corpus.jsonl", ['{"docid": "d1", "text": "a"}', '{"docid": "d2", "text": "b"}'])
    )
    q = _write(
        tmp_path / "q.jsonl", ['{"query": "x", "retrieved_docs": ["d1", "d2"], "relevance_scores": [1]}']
    )
    e = _err(read_reranking, q, c)
    assert (e.line, e.field) == (1, "relevance_scores") and "1 scores for 2" in str(e)


def test_sts_label_must_be_numeric(tmp_path):
    root = tmp_path
    _write(root / "v.jsonl", ['{"sentence1": "a", "sentence2": "b", "label": "high"}'])
    task = TaskSpec("x", "STS", {"val": {"data": local("v.jsonl")}, "test": {"data": local("v.jsonl")}})
    e = _err(load_task_data, task, root)
    assert (e.line, e.field) == (1, "label") and "expected a number" in str(e)


def test_label_map_rejects_unknown_label(tmp_path):
    _write(
        tmp_path / "jnli/original/valid-v1.3.json",
        ['{"sentence1": "a", "sentence2": "b", "label": "entailment"}'],
    )
    _write(
        tmp_path / "jnli/original/test-v1.3.json", ['{"sentence1": "a", "sentence2": "b", "label": "maybe"}']
    )
    e = _err(load_task_data, JNLI_PAIR, tmp_path)
    assert e.line == 1 and "test-v1.3.json" in str(e) and "'maybe'" in str(e)


def test_string_labels_mapped_in_sorted_order_across_splits(tmp_path):
    _write(tmp_path / "tr.jsonl", ['{"text": "a", "label": "zebra"}', '{"text": "b", "label": "apple"}'])
    _write(tmp_path / "te.jsonl", ['{"text": "c", "label": "mango"}'])
    task = TaskSpec(
        "c",
        "Classification",
        {
            "train": {"data": local("tr.jsonl")},
            "val": {"data": local("te.jsonl")},
            "test": {"data": local("te.jsonl")},
        },
    )
    data = load_task_data(task, tmp_path)
    assert data.train.labels.tolist() == [2, 0] and data.test.labels.tolist() == [1]


def test_mixed_label_types(tmp_path):
    _write(tmp_path / "te.jsonl", ['{"text": "a", "label": 1}', '{"text": "b", "label": "x"}'])
    task = TaskSpec(
        "c", "Clustering", {"val": {"data": local("te.jsonl")}, "test": {"data": local("te.jsonl")}}
    )
    e = _err(load_task_data, task, tmp_path)
    assert e.field == "label" and e.line == 2


def test_empty_file(tmp_path):
    p = _write(tmp_path / "e.jsonl", [""])
    assert "no rows" in str(_err(read_pairs, p))


def test_subsample_caps_per_split(shared_data):
    from eval.tasks import JSQUAD_RETRIEVAL, JSTS_LOCAL

    data = load_task_data(JSTS_LOCAL.with_subsample(max_val_rows=100), shared_data)
    assert (len(data.val), len(data.test)) == (100, 1457)  # selection split capped, test in full
    data = load_task_data(JSTS_LOCAL.with_subsample(max_rows=50, max_test_rows=70), shared_data)
    assert (len(data.val), len(data.test)) == (50, 70)
    again = load_task_data(JSTS_LOCAL.with_subsample(max_rows=50, max_test_rows=70), shared_data)
    assert again.test.sentence1 == data.test.sentence1  # seeded
    r = load_task_data(JSQUAD_RETRIEVAL.with_subsample(max_queries=20, max_corpus=60), shared_data)
    assert (len(r.val), len(r.test), len(r.val.corpus)) == (20, 20, 60)
    assert all(d in r.val.corpus for docs in r.val.relevant for d in docs)
