"""Record readers: the three layouts, auto-detection, datasets objects, JMTEB retrieval folders, and errors that
name file, line and field (or skip and count)."""

from __future__ import annotations

import gzip
import json

import pytest

from train.data import RecordError, TrainRecord, detect_format, read_jsonl, read_source
from train.data.readers import read_retrieval


def _write(path, rows) -> str:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")
    return path


def test_tsumugi_layout(tmp_path) -> None:
    path = _write(
        tmp_path / "a.jsonl",
        [
            {
                "query": "q1",
                "positive": "p1",
                "negatives": ["n1", "n2"],
                "instruction": "Find it",
                "task": "qa",
            },
            {"query": "q2", "positive": ["p2a", "p2b"]},
        ],
    )
    records = read_jsonl(path).records
    assert records[0] == TrainRecord("q1", ("p1",), ("n1", "n2"), "Find it", "qa")
    assert records[1] == TrainRecord("q2", ("p2a", "p2b"))


def test_flag_embedding_layout(tmp_path) -> None:
    row = {"query": "q", "pos": ["p"], "neg": ["n1"], "prompt": "Represent this", "type": "retrieval"}
    records = read_jsonl(_write(tmp_path / "f.jsonl", [row])).records
    assert records == [TrainRecord("q", ("p",), ("n1",), "Represent this", "retrieval")]


def test_sentence_transformers_columns_named_and_positional(tmp_path) -> None:
    named = {"anchor": "a", "positive": "p", "negative_2": "n2", "negative_1": "n1"}
    assert read_jsonl(_write(tmp_path / "s.jsonl", [named])).records == [
        TrainRecord("a", ("p",), ("n1", "n2"))
    ]
    positional = {"question": "a", "answer": "p", "wrong": "n"}  # column order defines the roles
    assert read_jsonl(_write(tmp_path / "p.jsonl", [positional]), fmt="st").records == [
        TrainRecord("a", ("p",), ("n",))
    ]


def test_datasets_object_and_gzip(tmp_path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict(
        {"anchor": ["a1", "a2"], "positive": ["p1", "p2"], "negative": ["n1", "n2"]}
    )
    assert [r.negatives for r in read_source(ds, name="toy").records] == [("n1",), ("n2",)]
    ds.save_to_disk(str(tmp_path / "saved"))
    assert len(read_source(tmp_path / "saved")) == 2
    gz = tmp_path / "g.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"query": "q", "positive": "p"}) + "\n")
    assert len(read_source(gz)) == 1


def test_detect_format() -> None:
    assert detect_format({"query": "q", "pos": []}) == "flag"
    assert detect_format({"query": "q", "positive": "p"}) == "tsumugi"
    assert detect_format({"anchor": "a", "positive": "p"}) == "st"
    with pytest.raises(RecordError):
        detect_format({"text": "only one column"})


@pytest.mark.parametrize(
    ("row", "fmt", "message"),
    [
        ('{"query": "q", "positive": "p"', "auto", "a.jsonl:2: invalid JSON"),
        ({"query": 3, "positive": "p"}, "tsumugi", "a.jsonl:2: field 'query': expected a string, got int"),
        ({"query": "q", "positive": "p", "negatives": "n"}, "tsumugi", "field 'negatives': expected a list"),
        ({"query": "q", "positive": "p", "negatives": ["n", None]}, "tsumugi", "field 'negatives[1]'"),
        ({"query": "q", "positive": "  "}, "tsumugi", "field 'positive[0]': empty string"),
        ({"query": "q", "pos": []}, "flag", "field 'pos': needs at least 1 text"),
        (["q", "p"], "tsumugi", "a.jsonl:2: expected a JSON object, got list"),
    ],
)
def test_malformed_records_name_file_line_and_field(tmp_path, row, fmt, message) -> None:
    good = {"query": "ok", "pos": ["ok"]} if fmt == "flag" else {"query": "ok", "positive": "ok"}
    path = _write(tmp_path / "a.jsonl", [good, row])
    with pytest.raises(RecordError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_jsonl(path, fmt=fmt)
    skipped = read_jsonl(path, fmt=fmt, on_error="skip")
    assert (len(skipped), skipped.skipped) == (1, 1)
    assert message.split(": ", 1)[-1].split("'")[0] in skipped.errors[0]


def test_jmteb_retrieval_folder(tmp_path) -> None:
    split = tmp_path / "toy" / "jmteb_format" / "train"
    split.mkdir(parents=True)
    _write(
        split / "corpus.jsonl",
        [{"docid": "d1", "title": "t", "text": "doc one"}, {"docid": "d2", "text": "two"}],
    )
    _write(split / "retrieval_queries.jsonl", [{"qid": "q1", "query": "which?", "relevant_docs": ["d2"]}])
    records = read_source(split, fmt="jmteb")
    assert records.name == "toy" and records.records == [TrainRecord("which?", ("two",))]
    _write(split / "retrieval_queries.jsonl", [{"qid": "q1", "query": "which?", "relevant_docs": ["d9"]}])
    with pytest.raises(RecordError, match="retrieval_queries.jsonl:1: field 'relevant_docs'"):
        read_retrieval(split)


def test_jmteb_same_title_negatives(tmp_path) -> None:
    """Other paragraphs of the positive's title, minus those holding an answer, the positives and duplicates."""
    split = tmp_path / "toy" / "jmteb_format" / "train"
    split.mkdir(parents=True)
    docs = [
        ("a0", "A", "Aの最初の段落。答えは東京。"),
        ("a1", "A", "Aの二番目の段落。"),
        ("a2", "A", "東京について書いた段落。"),  # holds the answer: a false negative, dropped
        ("a3", "A", "Aの二番目の段落。"),  # the same text as a1: kept once
        ("a4", "A", "Aの四番目の段落。"),
        ("b0", "B", "Bの段落。"),
        ("c0", None, "題のない段落。"),
    ]
    _write(
        split / "corpus.jsonl",
        [{"docid": i, "text": t, **({"title": ti} if ti else {})} for i, ti, t in docs],
    )
    queries = [
        {"qid": "q1", "query": "首都は?", "relevant_docs": ["a0"], "answers": ["東京"]},
        {"qid": "q2", "query": "Bは?", "relevant_docs": ["b0"], "answers": ["B"]},  # a lone paragraph
        {"qid": "q3", "query": "無題?", "relevant_docs": ["c0"]},  # no title
        {"qid": "q4", "query": "二つ?", "relevant_docs": ["a1", "a4"]},  # no answers field
    ]
    _write(split / "retrieval_queries.jsonl", queries)
    records = read_source(split, fmt="jmteb", negatives="same_title").records
    assert [r.negatives for r in records] == [
        ("Aの二番目の段落。", "Aの四番目の段落。"),
        (),
        (),
        ("Aの最初の段落。答えは東京。", "東京について書いた段落。"),
    ]
    assert read_source(split, fmt="jmteb").records[0].negatives == ()
    with pytest.raises(ValueError, match="negatives must be one of"):
        read_source(split, fmt="jmteb", negatives="bm25")
    with pytest.raises(ValueError, match="applies to format 'jmteb' only"):
        read_source(split / "corpus.jsonl", negatives="same_title")


def test_shared_jaquad_reads(shared_data) -> None:
    records = read_source(shared_data / "jaquad" / "jmteb_format" / "dev", fmt="jmteb")
    assert len(records) == 3939 and records.skipped == 0
