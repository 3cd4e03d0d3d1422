"""Data-parallel generation: ``python -m synth.launch --workers N [--gpus-per-worker TP] -- [hydra overrides]``.

Starts N ``python -m synth stages=[generate]`` processes, worker i owning the record ids with
``hash(id) % N == i`` and seeing GPUs ``i*TP .. i*TP+TP-1`` (``CUDA_VISIBLE_DEVICES``; set
``engine.tensor_parallel_size=TP`` for tensor parallelism inside each worker). Each worker writes its own shards
(``generated/w<i>/``) and resumes on its own. When all succeeded, the post-processing stages run once over all
shards. A failed worker fails the launch; re-running the same command resumes every worker.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from embed.procs import install_reaper, spawn_group, stop_group


def worker_command(overrides: list[str], worker: int, workers: int) -> list[str]:
    """The command line of one generation worker."""
    return [
        sys.executable,
        "-m",
        "synth",
        *overrides,
        "stages=[generate]",
        f"generate.num_workers={workers}",
        f"generate.worker_index={worker}",
    ]


def worker_env(worker: int, gpus_per_worker: int, base: dict | None = None) -> dict:
    """Environment of one worker: its slice of GPUs (unchanged when ``gpus_per_worker`` is 0)."""
    env = dict(os.environ if base is None else base)
    if gpus_per_worker > 0:
        first = worker * gpus_per_worker
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(first + g) for g in range(gpus_per_worker))
    return env


def main(argv: list[str] | None = None) -> int:
    """Launch the workers, wait, then post-process; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--gpus-per-worker", type=int, default=1, help="0: do not set CUDA_VISIBLE_DEVICES")
    ap.add_argument(
        "--post", default="[filter,mine,export,stats]", help="stages to run once after generation"
    )
    ap.add_argument("overrides", nargs="*", help="Hydra overrides shared by all workers (after --)")
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error("--workers must be >= 1")
    procs = [  # each worker in its own process group, SIGTERMed if the launcher dies
        spawn_group(worker_command(args.overrides, w, args.workers), env=worker_env(w, args.gpus_per_worker))
        for w in range(args.workers)
    ]
    try:
        codes = [p.wait() for p in procs]
    finally:
        for p in procs:
            stop_group(p)
    if any(codes):
        print(f"synth.launch: worker exit codes {codes}; re-run the same command to resume", file=sys.stderr)
        return 1
    if args.post and args.post != "[]":
        return subprocess.call([sys.executable, "-m", "synth", *args.overrides, f"stages={args.post}"])
    return 0


if __name__ == "__main__":
    install_reaper()
    raise SystemExit(main())
