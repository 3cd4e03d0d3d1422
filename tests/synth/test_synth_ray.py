"""engine=ray for real: a local Ray cluster on loopback, the tiny Qwen3 LM in vLLM (CPU), two workers.

One worker is SIGKILLed mid-run; Ray restarts it and re-runs its shard, the driver commits every shard once.
Every item id must then be present exactly once, with the same records as a one-worker run with the same seeds.
Prefix caching is off so that a shard's outputs cannot depend on what its engine saw before; each engine runs in
its worker's process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``): one process per worker, so a SIGKILL takes the whole
engine and memory stays low (2 cores, a 100 MB object store).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

pytest.importorskip("vllm")
ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from synth import app  # noqa: E402
from synth.shards import committed_shards, shards_root  # noqa: E402
from synth.store import iter_generated, iter_rejects  # noqa: E402

pytestmark = pytest.mark.slow

WORKER_TITLE = "MapWorker(MapBatches(ShardWorker))"


@pytest.fixture(scope="module")
def cluster():
    ray.init(
        address="local",
        num_cpus=2,
        object_store_memory=100 * 2**20,
        include_dashboard=False,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


def _cfg(out, corpus, personas, workers: int):
    from hydra import compose, initialize_config_dir

    from synth.cli import CONF_DIR, to_plain

    overrides = [
        "preset=ci",
        "engine=ray",
        f"engine.num_workers={workers}",
        "engine.enable_prefix_caching=false",
        "engine.max_model_len=1024",
        "+engine.worker_env.VLLM_ENABLE_V1_MULTIPROCESSING=0",
        f"out_dir={out}",
        f"corpus.path={corpus}",
        "corpus.exclude=[]",
        "corpus.min_chars=0",
        f"personas.path={personas}",
        "embedding.model=qwen3-tiny",
        "tasks.retrieval.per_passage=4",
        "generate.num_shards=8",
        "generate.batch_size=3",
        "stages=[generate]",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return to_plain(compose(config_name="config", overrides=overrides))


def _workers() -> list[psutil.Process]:
    found = []
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if WORKER_TITLE in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _kill_one_worker_after_first_commit(out, killed: list, stop: threading.Event) -> None:
    while not stop.is_set():
        if committed_shards(out):
            busy = [p for p in _workers() if "__init__" not in " ".join(p.cmdline())]
            if busy:
                os.kill(busy[0].pid, signal.SIGKILL)
                killed.append(busy[0].pid)
                return
        time.sleep(0.05)


def _records(out) -> dict:
    return {r["id"]: {k: v for k, v in r.items() if k != "usage"} for r in iter_generated(out)}


def test_two_workers_one_killed_then_one_worker_same_records(cluster, tmp_path, corpus_file, persona_file):
    two = tmp_path / "two"
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(
        target=_kill_one_worker_after_first_commit, args=(two, killed, stop), daemon=True
    )
    killer.start()
    t0 = time.perf_counter()
    try:
        got = app.run(_cfg(two, corpus_file, persona_file, 2))["generate"]
    finally:
        stop.set()
        killer.join(5)
    t_two = time.perf_counter() - t0
    assert killed, "no worker was killed mid-run"
    n_items = 6 * 4
    ids = [r["id"] for r in iter_generated(two)] + [r["id"] for r in iter_rejects(two)]
    assert len(ids) == len(set(ids)) == n_items  # exactly once: no duplicate, no gap
    assert got["shards_committed"] == got["shards_total"] and got["attempted"] == n_items
    metas = [json.loads((d / "meta.json").read_text()) for d in sorted(shards_root(two).glob("s*"))]
    workers = {m["worker"] for m in metas}
    manifest = json.loads((shards_root(two) / "manifest.json").read_text())
    assert manifest["complete"] and manifest["progress"]["items"] == f"{n_items}/{n_items}"

    one = tmp_path / "one"
    t1 = time.perf_counter()
    app.run(_cfg(one, corpus_file, persona_file, 1))
    t_one = time.perf_counter() - t1
    assert _records(one) == _records(two)  # same records as one worker with the same seeds
    rejects_one = sorted((r["id"], r["reason"]) for r in iter_rejects(one))
    assert rejects_one == sorted((r["id"], r["reason"]) for r in iter_rejects(two))
    print(
        f"\nkilled worker pid {killed[0]}; shards committed by {sorted(workers)}; "
        f"2 workers {t_two:.1f} s, 1 worker {t_one:.1f} s; {len(_records(one))} records"
    )
