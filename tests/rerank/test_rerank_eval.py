"""Retrieve-then-rerank on a tiny fixture where every answer is known by hand: a 2-d embedder that ranks the gold
document low, a shared-characters scorer that ranks it first, nDCG before and after; the CLI end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from eval.rerank import evaluate_reranker, rerank_heads
from eval.tasks import TaskSpec, local

TEXTS = {
    "a": "赤い果物のりんご",
    "b": "黄色いバナナ",
    "c": "緑のメロン",
    "d": "曇った天気",
    "e": "青い空と海",
    "f": "白い雲",
}
VECTORS = {
    "赤い果物": [1.0, 0.0],
    "青い空": [0.0, 1.0],
    **{
        TEXTS[k]: v
        for k, v in {
            "a": [0.1, 1],
            "b": [0.9, 0.1],
            "c": [0.8, 0.3],
            "d": [0.5, 0.5],
            "e": [0, 1],
            "f": [1, 0],
        }.items()
    },
}
QUERIES = [
    ("q0", "赤い果物", "a", ["a", "b", "c"], [1, 0, 0]),
    ("q1", "青い空", "e", ["d", "e", "f"], [0, 1, 0]),
]


class TableEmbedder:
    """A fixed 2-d vector per text (the protocol eval's encoder needs)."""

    prompts: dict = {}

    def encode(self, texts, *, prompt=None, **_):
        return np.asarray([VECTORS[t] for t in texts], dtype=np.float32)

    def fingerprint(self) -> str:
        return "table-embedder"


class SharedCharacters:
    """Relevance = number of distinct query characters found in the document (a transparent test scorer)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score(self, pairs, *, instruction=None, batch_size=32, show_progress=None):
        self.calls.append(len(pairs))
        return np.asarray([len(set(q) & set(d)) for q, d in pairs], dtype=np.float64)


@pytest.fixture
def data_root(tmp_path):
    """The fixture laid out like ../shared/data/jsquad/jmteb_format (val = test)."""
    for split in ("valid", "test"):
        folder = tmp_path / "jsquad" / "jmteb_format" / split
        folder.mkdir(parents=True)
        with (folder / "corpus.jsonl").open("w") as f:
            for k, t in TEXTS.items():
                f.write(json.dumps({"docid": k, "text": t}, ensure_ascii=False) + "\n")
        with (
            (folder / "reranking_queries.jsonl").open("w") as f,
            (folder / "retrieval_queries.jsonl").open("w") as g,
        ):
            for qid, q, gold, cands, rel in QUERIES:
                row = {"qid": qid, "query": q, "retrieved_docs": cands, "relevance_scores": rel}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                g.write(
                    json.dumps({"qid": qid, "query": q, "relevant_docs": [gold]}, ensure_ascii=False) + "\n"
                )
    return tmp_path


def _task(kind: str) -> TaskSpec:
    name = "reranking" if kind == "Reranking" else "retrieval"
    files = {
        s: {
            "queries": local(f"jsquad/jmteb_format/{s}/{name}_queries.jsonl"),
            "corpus": local(f"jsquad/jmteb_format/{s}/corpus.jsonl"),
        }
        for s in ("valid", "test")
    }
    return TaskSpec(f"toy_{name}", kind, {"val": files["valid"], "test": files["test"]})


def _run(data_root, kind, scorer, top_k):
    return evaluate_reranker(
        scorer,
        TableEmbedder(),
        _task(kind),
        data_root=data_root,
        top_k=top_k,
        prefixes="none",
        cache_dir=None,
    )


@pytest.mark.parametrize(("top_k", "after", "pairs"), [(None, 1.0, 6), (3, 1.0, 6), (2, 0.75, 4)])
def test_reranking_task(data_root, top_k, after, pairs) -> None:
    scorer = SharedCharacters()
    r = _run(data_root, "Reranking", scorer, top_k)
    # embeddings: q0's gold third (1 / log2 4), q1's first
    assert r["before"]["ndcg@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert r["after"]["ndcg@10"] == pytest.approx(after)  # top-2 never sees q0's gold
    assert r["pairs_scored"] == pairs and scorer.calls == [pairs]  # one scoring call for all queries


@pytest.mark.parametrize(("top_k", "after"), [(5, 1.0), (4, (1 / math.log2(6) + 1) / 2)])
def test_retrieval_task(data_root, top_k, after) -> None:
    r = _run(data_root, "Retrieval", SharedCharacters(), top_k)
    # q0's gold is fifth of six by cosine (f, b, c, d, a, e); q1's first
    assert r["before"]["ndcg@10"] == pytest.approx((1 / math.log2(6) + 1) / 2)
    assert r["after"]["ndcg@10"] == pytest.approx(after)
    assert r["pairs_scored"] == 2 * top_k
    assert r["after"]["accuracy@1"] == pytest.approx(1.0 if top_k == 5 else 0.5)


def test_embeddings_only_and_ties_keep_the_first_stage_order(data_root) -> None:
    r = _run(data_root, "Reranking", None, 3)
    assert "after" not in r and r["before"]["ndcg@10"] == pytest.approx(0.75)

    class Constant:
        def score(self, pairs, **_):
            return np.ones(len(pairs))

    orders, n, _ = rerank_heads([[2, 0, 1], [1, 2, 0]], ["x", "y"], [["a"] * 3, ["b"] * 3], Constant(), 2)
    assert orders == [[2, 0, 1], [1, 2, 0]] and n == 4


@pytest.mark.slow
def test_cli_with_real_models(data_root, tmp_path, qwen3_tiny_lm_path, qwen3_tiny_path) -> None:
    """``python -m eval.rerank`` on the fixture: qwen3-tiny retrieves, qwen3-tiny-lm reranks (random weights)."""
    out = tmp_path / "result.json"
    args = [
        f"reranker={qwen3_tiny_lm_path}",
        f"embedder={qwen3_tiny_path}",
        "task=jsquad_reranking",
        f"data_root={data_root}",
        "top_k=2",
        "cache_dir=null",
        f"out={out}",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "eval.rerank", *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["task"] == "jsquad_reranking" and r["queries"] == 2 and r["pairs_scored"] == 4
    assert set(r["after"]) == {"ndcg@10", "ndcg@20", "ndcg@40"} and 0 < r["after"]["ndcg@10"] <= 1
