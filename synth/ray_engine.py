"""``engine=ray``: Ray Data ``map_batches`` over an actor pool of our vLLM offline engines, one per worker.

Each row of the Ray dataset is one shard id; each actor holds one ``VLLMEngine`` (``gpus_per_worker`` GPUs, vLLM's
tensor/pipeline/data parallelism inside it as configured) and the tasks' items indexed by shard, and returns a
shard's records and rejects to the driver, which commits them (``synth.distributed``). Ray restarts a killed actor
and re-runs its shard (``max_restarts``); a shard answered twice is committed once. ``address`` joins an existing
cluster (``ray start --head`` / ``ray start --address``); without one a local cluster is started for the job.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from synth.distributed import ShardResult, ShardSettings, index_items, run_shard
from synth.tasks.base import Task

log = logging.getLogger(__name__)

RAY_KEYS = (
    "address",
    "num_workers",
    "gpus_per_worker",
    "cpus_per_worker",
    "num_cpus",
    "object_store_memory",
    "runtime_env",
    "max_restarts",
    "worker_env",
)


def split_config(engine_cfg: Mapping[str, Any]) -> tuple[dict, dict]:
    """(Ray settings, the per-worker vLLM engine config with ``kind: vllm``)."""
    ray_cfg = {k: engine_cfg.get(k) for k in RAY_KEYS}
    worker = {k: v for k, v in engine_cfg.items() if k not in RAY_KEYS and k != "kind"}
    worker["kind"] = "vllm"
    parallel = int(worker.get("tensor_parallel_size") or 1) * int(worker.get("pipeline_parallel_size") or 1)
    kwargs = dict(worker.get("llm_kwargs") or {})
    if parallel > 1 and "distributed_executor_backend" not in kwargs:
        kwargs["distributed_executor_backend"] = "mp"  # the worker's own GPUs, no nested Ray placement group
        worker["llm_kwargs"] = kwargs
    if int(ray_cfg["num_workers"] or 0) < 1:
        raise ValueError(f"engine.num_workers must be >= 1, got {ray_cfg['num_workers']}")
    return ray_cfg, worker


def worker_env(ray_cfg: Mapping[str, Any]) -> dict[str, str]:
    """Environment of every worker: ``worker_env`` plus, on CPU workers, vLLM's thread binding off.

    vLLM binds its CPU threads to cores it picks from the affinity mask; engines of several workers on one node
    would all pick the same cores, so CPU workers leave placement to the OS (``VLLM_CPU_OMP_THREADS_BIND``).
    """
    env = {str(k): str(v) for k, v in (ray_cfg.get("worker_env") or {}).items()}
    if not ray_cfg.get("gpus_per_worker"):
        env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    return env


def connect(ray_cfg: Mapping[str, Any]) -> bool:
    """Join ``address`` or start a local cluster; True when this call started Ray (and should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    runtime_env = dict(ray_cfg.get("runtime_env") or {})
    if ray_cfg.get("address"):
        log.info("ray: joining the cluster at %s", ray_cfg["address"])
        ray.init(address=ray_cfg["address"], runtime_env=runtime_env or None, log_to_driver=True)
    else:
        log.info("ray: starting a local cluster")
        ray.init(
            address="local",
            num_cpus=ray_cfg.get("num_cpus"),
            object_store_memory=ray_cfg.get("object_store_memory"),
            include_dashboard=False,
            runtime_env=runtime_env or None,
        )
    log.info("ray: cluster resources %s", ray.cluster_resources())
    return True


class ShardWorker:
    """A Ray Data actor: one vLLM engine; ``__call__`` turns a batch of shard ids into their results."""

    def __init__(
        self, tasks_ref: list, engine_cfg: dict, model: str, chat_template: str | None, settings: dict
    ) -> None:
        import ray

        from synth.engines import build_engine

        tasks = ray.get(tasks_ref[0])
        self.settings = ShardSettings(**settings)
        self.index = index_items(tasks, self.settings.num_shards)
        self.engine = build_engine(engine_cfg, model, chat_template)

    def __call__(self, batch: dict) -> dict:
        """``{"shard": [...]}`` -> ``{"shard": [...], "result": [json, ...]}``."""
        shards, results = [], []
        for s in batch["shard"]:
            res = run_shard(int(s), self.index.get(int(s), []), self.engine, self.settings)
            shards.append(int(s))
            results.append(json.dumps(asdict(res), ensure_ascii=False))
        return {"shard": shards, "result": results}


def map_shards(shards: list[int], actor: type, constructor_kwargs: dict, ray_cfg: Mapping[str, Any]):
    """A Ray dataset of one row per shard mapped by ``actor`` on ``num_workers`` actors (Ray must be up)."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False  # synth logs its own progress
    n = min(int(ray_cfg["num_workers"]), len(shards))
    restarts = ray_cfg.get("max_restarts")
    remote = {} if restarts is None or int(restarts) < 0 else {"max_restarts": int(restarts)}
    env = worker_env(ray_cfg)
    ds = ray.data.from_items([{"shard": s} for s in shards], override_num_blocks=len(shards))
    with warnings.catch_warnings():  # Ray 2.60 takes a bounded max_restarts only through ray_remote_args
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        return ds.map_batches(
            actor,
            fn_constructor_kwargs=constructor_kwargs,
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=n, max_tasks_in_flight_per_actor=1),
            num_cpus=float(ray_cfg.get("cpus_per_worker") or 1),
            num_gpus=float(ray_cfg.get("gpus_per_worker") or 0),
            runtime_env={"env_vars": env} if env else None,
            **remote,
        )


def ray_executor(
    tasks: Sequence[Task],
    engine_cfg: Mapping[str, Any],
    model: str,
    chat_template: str | None,
    settings: ShardSettings,
):
    """An executor for ``synth.distributed.generate_sharded`` running shards on ``num_workers`` Ray actors."""
    ray_cfg, worker_cfg = split_config(engine_cfg)

    def execute(shards: list[int]) -> Iterator[ShardResult]:
        import ray

        started = connect(ray_cfg)
        try:
            kwargs = {
                "tasks_ref": [ray.put(list(tasks))],
                "engine_cfg": worker_cfg,
                "model": model,
                "chat_template": chat_template,
                "settings": asdict(settings),
            }
            ds = map_shards(shards, ShardWorker, kwargs, ray_cfg)
            log.info(
                "ray: %d shards over %d workers (%s)",
                len(shards),
                ray_cfg["num_workers"],
                _resources(ray_cfg),
            )
            for row in ds.iter_rows():
                yield ShardResult(**json.loads(row["result"]))
        finally:
            if started:
                ray.shutdown()

    return execute


def _resources(ray_cfg: Mapping[str, Any]) -> str:
    return f"{ray_cfg.get('cpus_per_worker') or 1} CPU, {ray_cfg.get('gpus_per_worker') or 0} GPU per worker"
