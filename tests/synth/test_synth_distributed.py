"""Exactly-once sharded generation (synth.distributed, synth.shards) with test doubles: no Ray, no vLLM.

The Ray executor and a real SIGKILL are in test_synth_ray.py; here the driver's bookkeeping: deterministic
shards, one commit per shard, a killed job (or a half-written commit) resumed without duplicates or gaps, results
that do not depend on which worker ran which shard, progress and ETA.
"""

from __future__ import annotations

import json

import pytest
from synth_fakes import NgramEmbedder, ScriptedEngine

from synth import app
from synth.cli import CONF_DIR, to_plain
from synth.distributed import (
    Progress,
    ShardResult,
    ShardSettings,
    generate_sharded,
    index_items,
    inline_executor,
    plan,
    run_shard,
)
from synth.ids import shard_of
from synth.shards import check_job, commit_shard, committed_shards, shards_root
from synth.store import iter_generated, iter_rejects


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return to_plain(hydra_compose(config_name="config", overrides=overrides))


@pytest.fixture()
def cfg_factory(tmp_path, corpus_file, persona_file, monkeypatch):
    monkeypatch.setattr(app, "embedder", lambda cfg, name=None: NgramEmbedder())

    def make(out, *extra):
        return compose(
            [
                "engine=ray",
                f"out_dir={out}",
                f"corpus.path={corpus_file}",
                "corpus.exclude=[]",
                "corpus.min_chars=0",
                f"personas.path={persona_file}",
                "tasks.retrieval.per_passage=3",
                "tasks.sts.enabled=true",
                "generate.num_shards=5",
                "generate.batch_size=2",
                "stages=[generate]",
                *extra,
            ]
        )

    return make


def _ids(out):
    return [r["id"] for r in iter_generated(out)] + [r["id"] for r in iter_rejects(out)]


def _by_id(out):
    return {r["id"]: r for r in iter_generated(out)}


def test_config_and_worker_split():
    from synth.ray_engine import split_config, worker_env

    cfg = compose(["engine=ray", "preset=gpu", "engine.num_workers=4", "engine.gpus_per_worker=2"])
    e = cfg["engine"]
    assert e["kind"] == "ray" and e["num_workers"] == 4 and e["tensor_parallel_size"] == 2
    ray_cfg, worker = split_config(e)
    assert worker["kind"] == "vllm" and "num_workers" not in worker and worker["max_model_len"] == 8192
    assert worker["llm_kwargs"]["distributed_executor_backend"] == "mp"  # TP inside the worker's own GPUs
    assert ray_cfg["gpus_per_worker"] == 2 and ray_cfg["address"] is None
    assert "VLLM_CPU_OMP_THREADS_BIND" not in worker_env(ray_cfg)
    assert worker_env({"gpus_per_worker": 0, "worker_env": {"A": 1}}) == {
        "A": "1",
        "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    }
    with pytest.raises(ValueError, match="num_workers"):
        split_config({**e, "num_workers": 0})


def test_commit_is_once_and_job_settings_are_fixed(tmp_path):
    assert commit_shard(tmp_path, 3, [{"id": "a"}], [], {"items": 1})
    assert not commit_shard(tmp_path, 3, [{"id": "b"}], [], {"items": 1})  # already there: untouched
    assert committed_shards(tmp_path) == {3}
    assert [r["id"] for r in iter_generated(tmp_path)] == ["a"]
    check_job(tmp_path, "f1", 8)
    with pytest.raises(RuntimeError, match="num_shards"):
        check_job(tmp_path, "f1", 16)
    with pytest.raises(RuntimeError, match="fingerprint"):
        check_job(tmp_path, "f2", 8)
    assert check_job(tmp_path, "f2", 8, allow_change=True)["fingerprint"] == "f2"


def test_killed_job_resumes_exactly_once_and_matches_one_run(cfg_factory, tmp_path):
    ref = tmp_path / "ref"
    full = app.run(cfg_factory(ref), engine=ScriptedEngine())["generate"]
    n_items = 6 * 3 + 6
    assert full["attempted"] == n_items and full["shards_committed"] == full["shards_total"] <= 5
    ids = _ids(ref)
    assert len(ids) == len(set(ids)) == n_items
    for d in sorted(shards_root(ref).glob("s*")):  # every record sits in the shard its id names
        shard = int(d.name[1:])
        rows = [json.loads(x) for f in ("records.jsonl", "rejects.jsonl") for x in (d / f).open()]
        assert rows and all(shard_of(r["id"], 5) == shard for r in rows)
    manifest = json.loads((shards_root(ref) / "manifest.json").read_text())
    assert manifest["complete"] and manifest["progress"]["items"] == f"{n_items}/{n_items}"

    # a job killed after two shards, and again mid-commit (a half-built shard folder left behind)
    out = tmp_path / "resumed"
    first = app.run(cfg_factory(out, "generate.max_shards=2"), engine=ScriptedEngine())["generate"]
    assert first["shards_committed"] == 2
    assert not json.loads((shards_root(out) / "manifest.json").read_text())["complete"]
    stale = shards_root(out) / ".s00004.tmp-killed"
    stale.mkdir()
    (stale / "records.jsonl").write_text('{"id": "torn"\n')
    engine = ScriptedEngine()
    second = app.run(cfg_factory(out), engine=engine)["generate"]
    assert second["shards_skipped"] == 2 and second["shards_committed"] == full["shards_total"] - 2
    assert second["attempted"] == n_items - first["attempted"]
    assert sum(len(c) for c in engine.calls) < 2 * n_items  # committed shards were not asked again
    assert not stale.exists()
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == n_items  # no duplicates, no gaps
    assert _by_id(out) == _by_id(ref)  # same records as one uninterrupted run
    # a third run has nothing to do
    assert app.run(cfg_factory(out), engine=ScriptedEngine())["generate"]["attempted"] == 0


def test_results_do_not_depend_on_worker_order_and_duplicates_are_dropped(cfg_factory, tmp_path):
    from synth.app import build_tasks, load_corpus

    cfg = cfg_factory(tmp_path / "x")
    tasks = build_tasks(cfg, load_corpus(cfg), tmp_path)
    settings = ShardSettings(num_shards=5, batch_size=2)
    index = index_items(tasks, 5)
    assert {s: len(v) for s, v in index.items()} == plan(tasks, 5)

    def two_workers(shards):  # shards finish out of order on two engines; one is answered twice (a retry)
        engines = [ScriptedEngine(), ScriptedEngine()]
        results = [run_shard(s, index[s], engines[i % 2], settings) for i, s in enumerate(reversed(shards))]
        return [*results, results[0]]

    a, b = tmp_path / "a", tmp_path / "b"
    generate_sharded(tasks, a, inline_executor(tasks, ScriptedEngine(), settings), settings)
    got = generate_sharded(tasks, b, two_workers, settings)
    assert got.shards_committed == len(plan(tasks, 5))
    assert _by_id(a) == _by_id(b) and sorted(_ids(a)) == sorted(_ids(b))

    def lossy(
        shards,
    ):  # a worker that lost an item (other code or data on its node) is refused, not committed
        res = run_shard(shards[0], index[shards[0]], ScriptedEngine(), settings)
        return [ShardResult(res.shard, res.records[1:], res.rejects, res.worker, res.seconds)]

    with pytest.raises(RuntimeError, match="tasks differ"):
        generate_sharded(tasks, tmp_path / "c", lossy, settings)
    assert not committed_shards(tmp_path / "c")


def test_progress_reports_rate_and_eta():
    now = [100.0]
    p = Progress({0: 10, 1: 10, 2: 20}, done={0}, clock=lambda: now[0])
    assert p.figures()["eta_s"] is None and p.figures()["items"] == "10/40"
    now[0] = 110.0
    p.update(1, "h:1")
    f = p.figures()
    assert f["items_per_s"] == 1.0 and f["eta_s"] == 20.0 and f["workers"] == {"h:1": 1.0}
    assert "ETA 0m20s" in p.line() and "shards 2/3" in p.line()


def test_post_stages_read_the_shards(cfg_factory, tmp_path):
    out = tmp_path / "post"
    cfg = cfg_factory(out, "stages=[generate,filter,export,stats]", "filter.keep_fraction=0.5")
    res = app.run(cfg, engine=ScriptedEngine())
    stats = json.loads((out / "stats.json").read_text())
    assert stats["generated"] + stats["rejected"] == 6 * 3 + 6
    assert 0 < res["filter"]["kept"] < stats["generated"] and stats["engine"]["output_tokens"] > 0
