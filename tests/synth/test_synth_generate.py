"""Shards, manifest and resume; the generation loop's checks, rejects by reason, de-duplication, workers."""

from __future__ import annotations

import json

from synth_fakes import ScriptedEngine

from synth.app import load_vocab
from synth.corpus import load_passages
from synth.engines.base import Completion
from synth.generate import generate
from synth.persona_retrieval import retrieve_personas
from synth.personas import load_personas
from synth.store import ShardStore, iter_generated, iter_rejects, read_jsonl, repair_tail
from synth.tasks.pairs import STSTask
from synth.tasks.retrieval import RetrievalTask
from synth.validate import TextLimits


def _task(corpus_file, persona_file, embedder, per_passage=2, **kw):
    passages, personas = load_passages(corpus_file), load_personas(persona_file)
    topk = retrieve_personas(passages, personas, embedder, k=3)
    return RetrievalTask(
        passages,
        {p.id: p for p in personas},
        topk,
        prompt_set="default",
        vocab=load_vocab("default"),
        per_passage=per_passage,
        **kw,
    )


def test_repair_tail_cuts_a_torn_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "b"}\n{"id": "c", "te')
    assert repair_tail(p) == len(b'{"id": "c", "te')
    assert [r["id"] for r in read_jsonl(p)] == ["a", "b"]
    assert repair_tail(p) == 0
    q = tmp_path / "y.jsonl"
    q.write_bytes(b'{"id": "no newline at all')
    repair_tail(q)
    assert q.read_bytes() == b""


def test_store_rolls_shards_and_rescans(tmp_path):
    store = ShardStore(tmp_path, shard_size=3)
    store.write_batch(
        [{"id": str(i), "query": "q", "task": "t"} for i in range(7)],
        [{"id": "r1", "reason": "empty", "task": "t"}],
    )
    m = store.write_manifest(extra=1)
    store.close()
    assert (
        [s["records"] for s in m["shards"]] == [3, 3, 1]
        and m["accepted"] == 7
        and m["rejected"] == {"empty": 1}
    )
    with (store.dir / "records-00002.jsonl").open("a") as f:
        f.write('{"id": "torn"')  # a kill in the middle of a write
    again = ShardStore(tmp_path, shard_size=3)
    assert again.state.done == {str(i) for i in range(7)} | {"r1"} and again.state.repaired_bytes > 0
    again.write_batch([{"id": "7", "query": "q", "task": "t"}], [])
    again.close()
    assert [r["id"] for r in iter_generated(tmp_path)] == [str(i) for i in range(8)]
    assert json.loads((again.dir / "manifest.json").read_text())["extra"] == 1


def test_generate_end_to_end_with_fake_engine(tmp_path, corpus_file, persona_file, embedder, engine):
    task = _task(corpus_file, persona_file, embedder)
    store = ShardStore(tmp_path)
    res = generate([task], engine, store, batch_size=5)
    assert res.attempted == 12 and res.accepted == 12 and res.rejected == 0
    assert [len(c) for c in engine.calls] == [5, 5, 5, 5, 2, 2]  # per batch: config step, then query step
    recs = list(iter_generated(tmp_path))
    assert len({r["id"] for r in recs}) == 12
    r = recs[0]
    assert set(r) >= {"id", "task", "query", "positive", "negatives", "instruction", "meta", "raw", "usage"}
    assert set(r["raw"]) == {"config", "query"} and r["meta"]["passage_id"] in {
        "p1",
        "p2",
        "p3",
        "p4",
        "p5",
        "p6",
    }
    manifest = store.read_manifest()
    assert manifest["complete"] and manifest["accepted"] == 12 and manifest["engine_total"]["requests"] == 24
    # a second run has nothing left to do
    store2 = ShardStore(tmp_path)
    res2 = generate([task], ScriptedEngine(), store2, batch_size=5)
    assert res2.attempted == 0 and res2.skipped_done == 12
    assert store2.read_manifest()["engine_total"]["requests"] == 24  # totals carried across sessions


def test_rejects_are_counted_by_reason_and_kept(tmp_path, corpus_file, persona_file, embedder):
    bad = {
        0: Completion("", error="HTTP 500"),
        1: Completion('{"Character": "1", "Question', "length"),
        2: "this is not json",
        3: '{"Character": "9", "Question_Type": "keywords", "Difficulty": "phd"}',
    }

    def script(req, n):
        if n in bad:
            return bad[n]
        if "Query" in req.schema["properties"]:
            # requests 0-11 are the config step of the 12 items; 8 survive into the query step (12-19)
            return {
                12: '{"Query": "  "}',
                13: '{"Query": "What is this?"}',
                14: '{"Query": "' + "長" * 400 + '"}',
                15: '{"Query": "同じ質問です"}',
                16: '{"Query": "同じ質問です"}',
                17: '{"Query": "同じ 質問です!"}',
            }.get(n)
        return None

    task = _task(corpus_file, persona_file, embedder, per_passage=2)
    store = ShardStore(tmp_path)
    res = generate([task], ScriptedEngine(script), store, batch_size=12)
    rejects = list(iter_rejects(tmp_path))
    reasons = sorted(r["reason"] for r in rejects)
    assert reasons == sorted(
        [
            "engine_error",
            "too_long",
            "invalid_json",
            "schema",
            "empty",
            "wrong_language",
            "too_long",
            "duplicate_exact",
            "duplicate_normalized",
        ]
    )
    assert res.accepted == 12 - len(rejects)
    assert all(r["raw"] is not None for r in rejects if r["reason"] != "engine_error")
    assert store.read_manifest()["rejected"]["too_long"] == 2


def test_resume_after_partial_run_has_no_duplicates(tmp_path, corpus_file, persona_file, embedder):
    task = _task(corpus_file, persona_file, embedder, per_passage=3)
    store = ShardStore(tmp_path)
    first = generate([task], ScriptedEngine(), store, batch_size=4, max_items=7)
    store.close()
    assert first.attempted == 7 and not store.read_manifest()["complete"]
    store = ShardStore(tmp_path)
    second = generate([task], ScriptedEngine(), store, batch_size=4)
    assert second.skipped_done == 7 and second.attempted == 11
    ids = [r["id"] for r in iter_generated(tmp_path)]
    assert len(ids) == len(set(ids)) == 18
    assert set(ids) == {i.id for i in task.items()}


def test_workers_partition_items(tmp_path, corpus_file, persona_file, embedder):
    task = _task(corpus_file, persona_file, embedder, per_passage=4)
    seen = []
    for w in range(3):
        store = ShardStore(tmp_path, worker=w)
        generate([task], ScriptedEngine(), store, batch_size=8, num_workers=3, worker=w)
        seen.append({r["id"] for r in store.records()})
    assert sum(len(s) for s in seen) == 24 and set().union(*seen) == {i.id for i in task.items()}
    assert len(list(iter_generated(tmp_path))) == 24


def test_mixed_tasks_in_one_batch(tmp_path, corpus_file, persona_file, embedder):
    sts = STSTask(
        load_passages(corpus_file), prompt_set="default", vocab=load_vocab("default"), limits=TextLimits()
    )
    task = _task(corpus_file, persona_file, embedder, per_passage=1)
    engine = ScriptedEngine()
    res = generate([task, sts], engine, ShardStore(tmp_path), batch_size=100)
    assert res.accepted == 12 and [len(c) for c in engine.calls] == [12, 6]
    assert {r["task"] for r in iter_generated(tmp_path)} == {"retrieval", "sts"}
