"""Cosine filter, hard-negative miner, export to train/'s format (read back by train/'s reader), stats report."""

from __future__ import annotations

import random

import numpy as np
import pytest

from synth.embedding import Side
from synth.export import task_file_name, to_train_record, write_train_files
from synth.filter import filter_report, score_records, select
from synth.histogram import histogram, render, score_edges
from synth.mine import (
    MineConfig,
    choose_negatives,
    encode_corpus,
    mine_hard_negatives,
    mining_report,
    top_candidates,
)
from synth.stats import build_stats, render_markdown, write_stats


def _recs(scores_by_task):
    out = []
    for task, scores in scores_by_task.items():
        out += [{"task": task, "query": f"{task}{i}", "positive": "p"} for i in range(len(scores))]
    return out, np.array([s for v in scores_by_task.values() for s in v], dtype=np.float32)


def test_select_threshold_and_keep_fraction_per_task():
    recs, scores = _recs({"a": [0.9, 0.5, 0.8, 0.71], "b": [0.2, 0.3]})
    assert select(recs, scores, threshold=0.7).tolist() == [True, False, True, True, False, False]
    assert select(recs, scores, keep_fraction=0.5).tolist() == [True, False, True, False, False, True]
    assert select(recs, scores, keep_fraction=0.5, per_task=False).tolist() == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    assert (
        select(recs, scores, threshold=0.75, keep_fraction=0.5).tolist() == [True, False, True] + [False] * 3
    )
    assert select(recs, scores).all()
    with pytest.raises(ValueError):
        select(recs, scores, keep_fraction=0.0)
    rep = filter_report(recs, scores, select(recs, scores, threshold=0.7), threshold=0.7)
    assert (
        rep["kept"] == 3
        and rep["per_task"]["a"]["kept"] == 3
        and sum(b["count"] for b in rep["histogram"]) == 6
    )


def test_score_records_uses_task_sides(embedder):
    recs = [
        {"task": "retrieval", "query": "富士山の標高", "positive": "富士山の標高は3776メートル"},
        {"task": "retrieval", "query": "富士山の標高", "positive": "将棋は盤上遊戯である"},
        {"task": "classification/topic", "query": "試合に勝った", "positive": ["スポーツの試合の話題"]},
    ]
    s = score_records(recs, embedder)
    assert s.shape == (3,) and s[0] > s[1] and -1.0 <= s.min() and s.max() <= 1.0


def test_histogram_helpers():
    h = histogram([0.0, 0.05, 0.5, 1.0, 1.2, -3], score_edges(0.25))
    assert [b["count"] for b in h] == [3, 0, 1, 2]
    assert "#" in render(h)


def test_top_candidates_orders_and_chunks():
    rng = np.random.default_rng(0)
    q, c = rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(40, 8)).astype(np.float32)
    full = q @ c.T
    thr = full[:, 10]
    idx, sc, above = top_candidates(q, c, 6, chunk_size=2, above=thr)
    for i in range(5):
        assert idx[i].tolist() == np.argsort(-full[i], kind="stable")[:6].tolist()
        assert np.allclose(sc[i], np.sort(full[i])[::-1][:6])
        assert above[i] == int((full[i] > thr[i] + 1e-6).sum())
    assert top_candidates(q, c[:3], 10)[0].shape == (5, 3)


def test_choose_negatives_rules():
    ids = [f"d{i}" for i in range(8)]
    keys = [
        "pos",
        "k1",
        "k1",
        "k3",
        "k4",
        "k5",
        "k6",
        "k7",
    ]  # d2 duplicates d1's text; d0 has the positive's text
    scores = [0.95, 0.9, 0.9, 0.85, 0.7, 0.6, 0.5, 0.4]
    cfg = MineConfig(num_negatives=3, range_start=0, range_end=10, margin=0.1)
    chosen, sc, dropped = choose_negatives(
        range(8), scores, ids, keys, "d9", "pos", 0.9, cfg, random.Random(0)
    )
    # skip d0 (positive text), d1 (0.9 > 0.9-0.1), d2 (dup), d3 (0.85 > 0.8) -> d4, d5, d6
    assert chosen == [4, 5, 6] and dropped == 2 and sc == [0.7, 0.6, 0.5]
    # rank window [1, 4) of the ranked d0, d1, d3, d5, ... (d2 duplicates d1, d4 is the positive): d1, d3, d5
    chosen, _, _ = choose_negatives(
        range(8),
        scores,
        ids,
        keys,
        "d4",
        "zzz",
        0.9,
        MineConfig(num_negatives=2, range_start=1, range_end=4, margin=None),
        random.Random(0),
    )
    assert chosen == [1, 3]
    rnd = MineConfig(num_negatives=2, range_start=0, range_end=8, margin=None, sampling="random")
    a = choose_negatives(range(8), scores, ids, keys, None, "zzz", 1.0, rnd, random.Random(1))[0]
    b = choose_negatives(range(8), scores, ids, keys, None, "zzz", 1.0, rnd, random.Random(1))[0]
    assert a == b and len(a) == 2
    with pytest.raises(ValueError):
        MineConfig(sampling="bad")
    with pytest.raises(ValueError):
        MineConfig(range_start=5, range_end=5)


def test_mine_hard_negatives_skips_positive(embedder):
    corpus = [
        "富士山は日本一高い山である",
        "富士山は静岡県と山梨県にある",
        "富士山の標高は3776メートル",
        "将棋は盤上遊戯である",
        "新幹線は高速鉄道である",
        "琵琶湖は日本最大の湖である",
    ]
    ids = [f"c{i}" for i in range(len(corpus))]
    mined = mine_hard_negatives(
        ["富士山の標高", "将棋とは"],
        [corpus[2], corpus[3]],
        ["c2", "c3"],
        ids,
        corpus,
        embedder,
        MineConfig(num_negatives=2, margin=None, query_side=Side("query")),
    )
    assert len(mined) == 2
    assert "c2" not in mined[0].negative_ids and len(mined[0].negatives) == 2
    assert set(mined[0].negative_ids) <= {"c0", "c1"}  # the other Fuji passages are the hard ones
    assert "c3" not in mined[1].negative_ids
    assert (
        mined[0].positive_rank == 0 and mined[1].positive_rank == 0
    )  # each positive is its query's best match
    assert mine_hard_negatives([], [], [], ids, corpus, embedder) == []
    # a query whose positive is a poor match ranks it low; the consistency filter flags it
    (bad,) = mine_hard_negatives(
        ["富士山の標高"],
        [corpus[4]],
        ["c4"],
        ids,
        corpus,
        embedder,
        MineConfig(num_negatives=2, margin=0.0, max_positive_rank=2),
    )
    assert bad.positive_rank >= 2 and not bad.consistent(2) and bad.consistent(None)
    assert all(s <= bad.positive_score for s in bad.negative_scores)
    emb = encode_corpus(corpus, embedder)
    again = mine_hard_negatives(
        ["富士山の標高"],
        [corpus[2]],
        ["c2"],
        ids,
        corpus,
        embedder,
        MineConfig(num_negatives=2, margin=None),
        corpus_embeddings=emb,
    )
    assert again[0].negative_ids == mined[0].negative_ids
    report = mining_report(mined + [bad], MineConfig(num_negatives=2, max_positive_rank=2))
    assert report["consistent"] == 2 and report["positive_rank"]["0-0"] == 2 and report["queries"] == 3


def test_export_is_read_by_train(tmp_path):
    recs = [
        {
            "id": "1",
            "task": "retrieval",
            "query": "q1",
            "positive": "p1",
            "negatives": ["n1", ""],
            "instruction": "i",
            "meta": {},
        },
        {
            "id": "2",
            "task": "classification/topic",
            "query": "q2",
            "positive": "p2",
            "negatives": ["n2"],
            "instruction": "c",
        },
        {
            "id": "3",
            "task": "retrieval",
            "query": "q3",
            "positive": "p3",
            "negatives": [],
            "instruction": None,
        },
    ]
    assert to_train_record(recs[0]) == {
        "query": "q1",
        "positive": "p1",
        "negatives": ["n1"],
        "instruction": "i",
        "task": "retrieval",
    }
    assert task_file_name("classification/topic") == "classification-topic.jsonl"
    m = write_train_files(recs, tmp_path)
    assert m["records"] == 3 and m["files"]["retrieval"]["records"] == 2
    m2 = write_train_files(recs, tmp_path / "strict", min_negatives=1)
    assert m2["records"] == 2 and m2["dropped_for_few_negatives"] == {"retrieval": 1}
    from train.data.readers import read_jsonl

    got = read_jsonl(tmp_path / "retrieval.jsonl", fmt="tsumugi")
    assert len(got) == 2 and got.records[0].negatives == ("n1",) and got.records[0].task == "retrieval"
    assert len(read_jsonl(tmp_path / "all.jsonl")) == 3


def test_stats_report(tmp_path):
    gen = [
        {
            "task": "retrieval",
            "query": "富士山",
            "positive": "p" * 50,
            "meta": {
                "question_type": "keywords",
                "difficulty": "phd",
                "query_language": "ja",
                "persona_rank": 1,
            },
        },
        {
            "task": "retrieval",
            "query": "富士山の標高は",
            "positive": "p" * 80,
            "meta": {
                "question_type": "summary",
                "difficulty": "phd",
                "query_language": "en",
                "persona_rank": 2,
            },
        },
        {"task": "classification/topic", "query": "試合", "positive": "x", "meta": {"taxonomy": "topic"}},
    ]
    rej = [
        {"task": "retrieval", "reason": "invalid_json", "step": "query"},
        {"task": "retrieval", "reason": "empty", "step": "finish"},
    ]
    stats = build_stats(gen, rej, tmp_path, {"filter": None})
    assert stats["acceptance"]["retrieval"] == {
        "accepted": 2,
        "rejected": 2,
        "rate": 0.5,
        "rejected_by_reason": {"empty": 1, "invalid_json": 1},
    }
    assert stats["counts"]["question_type"] == {"keywords": 1, "summary": 1}
    assert stats["counts"]["task"] == {"retrieval": 2, "classification/topic": 1}
    assert stats["lengths"]["query_chars"]["max"] == 7
    write_stats(stats, tmp_path)
    assert "| retrieval | 2 | 2 | 0.5 |" in (tmp_path / "stats.md").read_text()
    assert render_markdown(stats).startswith("# synth run stats")
