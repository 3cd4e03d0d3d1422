"""Runner: run folder layout (JMTEB v1), averages as make_leaderboard.py, prefixes reach the encoder, modes."""

from __future__ import annotations

import json

import pytest
import yaml

from eval.runner import evaluate
from eval.suite import get_suite
from eval.summary import category_means, markdown_tables, overall_mean, read_summary

METRICS = {
    "Retrieval": "ndcg@10",
    "STS": "spearman",
    "Classification": "macro_f1",
    "Reranking": "ndcg@10",
    "Clustering": "v_measure_score",
    "PairClassification": "binary_f1",
}


def test_averages_hand_computed():
    summary = {
        "Retrieval": {"a": {"ndcg@10": 0.5}, "b": {"ndcg@10": 0.7}},
        "STS": {"c": {"spearman": 0.9}},
        "Classification": {"d": {"macro_f1": 0.6}},
    }
    assert category_means(summary) == pytest.approx({"Retrieval": 0.6, "STS": 0.9, "Classification": 0.6})
    assert overall_mean(summary) == pytest.approx(0.675)  # mean over 4 datasets, not over 3 categories (0.7)
    table = markdown_tables([("m", summary)])
    assert "| m | 67.50 | 60.00 | 90.00 | 60.00 |" in table


def test_published_average_reproduced(shared_data):
    ref = read_summary(shared_data / "jmteb_fixtures/reference_results/intfloat/multilingual-e5-small")
    assert round(100 * overall_mean(ref), 2) == 67.71  # jmteb.md's table
    ruri = read_summary(shared_data / "jmteb_fixtures/reference_results/cl-nagoya/ruri-small/summary.json")
    assert round(100 * overall_mean(ruri), 2) == 71.53


def test_run_folder_layout(tiny_root, tmp_path, make_encoder, capsys):
    enc = make_encoder(prompts={"query": "query: ", "document": "passage: "})
    out = tmp_path / "run"
    res = evaluate(
        enc,
        get_suite("local", tiny_root),
        out_dir=out,
        cache_dir=None,
        prefixes="model",
        config={"model": "hash"},
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary == res.summary()
    assert set(summary) == set(METRICS)
    for cat, datasets in summary.items():
        for ds, metrics in datasets.items():
            assert list(metrics) == [METRICS[cat]] and 0.0 <= metrics[METRICS[cat]] <= 1.0
            scores = json.loads((out / cat / f"scores_{ds}.json").read_text())
            assert scores["metric_name"] == METRICS[cat]
            assert scores["metric_value"] == metrics[METRICS[cat]]
            assert {"val_scores", "test_scores"} <= set(scores["details"])
            assert {"encode_s", "score_s", "texts_encoded"} <= set(scores["timing"])
            assert scores["task"]["label"] == res.labels[ds]
    skipped = json.loads((out / "skipped.json").read_text())
    assert {s["dataset"] for s in skipped} >= {"jagovfaqs_22k", "jaqket", "mewsc16"}
    assert all(s["reason"] for s in skipped)
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["model"] == "hash" and cfg["resolved"]["prefix_preset"] == "model"
    assert cfg["resolved"]["prefixes"]["jsquad_retrieval"] == {
        "query_prefix": "query: ",
        "doc_prefix": "passage: ",
    }
    meta = json.loads((out / "meta.json").read_text())
    assert (
        meta["mode"] == "official"
        and meta["tasks"]["jnli_pair_classification"]["stand_in_for"] == "paws_x_ja"
    )
    printed = capsys.readouterr().out
    assert f"| HashEncoder | {100 * res.average():.2f} |" in printed
    assert "jsquad_retrieval (stand-in for jaqket)" in printed and "## Skipped" in printed
    assert (out / "table.md").read_text() == res.table()
    assert {"query: ", "passage: "} <= set(enc.seen_prompts)


def test_prefix_preset_reaches_encoder(tiny_root, make_encoder):
    enc = make_encoder()
    evaluate(enc, get_suite("quick", tiny_root), prefixes="qwen3", cache_dir=None, print_table=False)
    assert "Instruct: 類似した意味を持つテキストを検索する\nQuery:" in enc.seen_prompts
    assert "" in enc.seen_prompts  # documents


def test_corrected_mode_is_labelled(tiny_root, tmp_path, make_encoder):
    res = evaluate(
        make_encoder(),
        get_suite("quick", tiny_root),
        mode="corrected",
        out_dir=tmp_path / "r",
        cache_dir=None,
        print_table=False,
    )
    assert "CORRECTED mode" in res.table()
    assert json.loads((tmp_path / "r/meta.json").read_text())["mode"] == "corrected"
    with pytest.raises(ValueError, match="mode"):
        evaluate(make_encoder(), get_suite("quick", tiny_root), mode="fast", cache_dir=None)


def test_dims_folders(tiny_root, tmp_path, make_encoder):
    res = evaluate(
        make_encoder(),
        get_suite("quick", tiny_root),
        dims=[8],
        out_dir=tmp_path / "r",
        cache_dir=None,
        print_table=False,
    )
    assert json.loads((tmp_path / "r/dim_8/summary.json").read_text()) == res.summary(8)
    assert (tmp_path / "r/dim_8/STS/scores_jsts.json").is_file()
    assert "HashEncoder @8" in res.table()


def test_task_subset(tiny_root, make_encoder):
    res = evaluate(
        make_encoder(), "local", data_root=tiny_root, tasks=["jsts"], cache_dir=None, print_table=False
    )
    assert list(res.summary()) == ["STS"] and list(res.summary()["STS"]) == ["jsts"]


def test_nan_in_a_run_names_dataset_split_and_pair_row(tiny_root, make_encoder):
    from eval.data import EmbeddingError

    enc = make_encoder(nan_on="雪")  # appears in some JSTS sentences
    with pytest.raises(
        EmbeddingError, match=r"dataset 'jsts', split 'val', side 'sentences', row \d+ \(sentence[12]\)"
    ):
        evaluate(enc, "local", data_root=tiny_root, tasks=["jsts"], cache_dir=None, print_table=False)


def test_dims_wider_than_the_model_fail_early(tiny_root, make_encoder):
    enc = make_encoder()
    with pytest.raises(ValueError, match=r"dims must be in \[1, 32\]"):
        evaluate(enc, "quick", data_root=tiny_root, dims=[64], cache_dir=None, print_table=False)
    assert enc.calls == []


def test_val_split_scores_validation_alone_and_reads_no_test_row(tiny_root, tmp_path, make_encoder):
    """``split="val"`` (model selection) encodes no test text and scores exactly what JMTEB's protocol gives on
    a copy of the data whose test files are the validation files; its tasks are labelled "val split"."""
    import shutil

    jsts_test = tiny_root / "jsts/original/valid-v1.3.json"  # JMTEB's JSTS test = JGLUE valid
    rows = [json.loads(line) for line in jsts_test.read_text(encoding="utf-8").splitlines()]
    jsts_test.write_text(
        "".join(
            json.dumps({**r, "sentence1": r["sentence1"] + "試験"}, ensure_ascii=False) + "\n" for r in rows
        ),
        encoding="utf-8",
    )
    queries = tiny_root / "jsquad/jmteb_format/test/retrieval_queries.jsonl"
    rows = [json.loads(line) for line in queries.read_text(encoding="utf-8").splitlines()]
    queries.write_text(
        "".join(json.dumps({**r, "query": r["query"] + "試験"}, ensure_ascii=False) + "\n" for r in rows),
        encoding="utf-8",
    )

    class Recording(make_encoder):
        def encode(self, texts, **kwargs):
            self.texts = [*getattr(self, "texts", []), *texts]
            return super().encode(texts, **kwargs)

    tasks = ["jsts", "jsquad_retrieval"]
    caps = {"jsts": {"max_val_rows": 10, "max_test_rows": 3}, "jsquad_retrieval": {"max_val_queries": 8}}
    seen = Recording()
    on_val = evaluate(
        seen,
        "local",
        data_root=tiny_root,
        tasks=tasks,
        subsample=caps,
        split="val",
        cache_dir=None,
        print_table=False,
    )
    assert seen.texts and not [t for t in seen.texts if "試験" in t]
    twin = tmp_path / "twin"
    shutil.copytree(tiny_root, twin)
    shutil.copy(twin / "jsts/original/train-v1.3.json", twin / "jsts/original/valid-v1.3.json")
    for name in ("corpus.jsonl", "retrieval_queries.jsonl"):
        shutil.copy(twin / f"jsquad/jmteb_format/valid/{name}", twin / f"jsquad/jmteb_format/test/{name}")
    twin_caps = {"jsts": {"max_rows": 10}, "jsquad_retrieval": {"max_queries": 8}}
    reference = evaluate(
        make_encoder(),
        "local",
        data_root=twin,
        tasks=tasks,
        subsample=twin_caps,
        cache_dir=None,
        print_table=False,
    )
    assert on_val.summary() == reference.summary()
    assert all("val split" in o.task.label for o in on_val.outcomes)
    with pytest.raises(ValueError, match="split must be"):
        evaluate(make_encoder(), "local", data_root=tiny_root, tasks=tasks, split="dev", print_table=False)
