"""Whole training runs (``python -m train`` in subprocesses) on the tiny Qwen3: exact resume after a real
SIGKILL, and 2 gloo processes equal to 1 process on the concatenated batch.

One configuration exercises the hard paths together: ZeRO-3, LoRA (merged at export), GradCache with chunks
smaller than the local batch, hard negatives, the qwen3 loss with cross-device gathering.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from _train_helpers import REPO, clean_env, remove_new_shm, shm_files, write_records
from safetensors.torch import load_file

from train.monitor import read_metrics
from train.runtime import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(r"ignore:`torch\.distributed\.\w+` is deprecated:FutureWarning"),
]

STEPS = 6


def _args(data, model_path, out) -> list[str]:
    return [
        f"model.path={model_path}",
        f"data.datasets=[{data}]",
        "data.batch_size=4",
        "data.hard_negatives_k=1",
        f"trainer.max_steps={STEPS}",
        "trainer.save_every=2",
        "trainer.keep_last=2",
        "trainer.grad_cache.enabled=true",
        "trainer.grad_cache.mini_batch_size=3",
        "deepspeed.zero_stage=3",
        "finetune.method=lora",
        "finetune.lora.r=4",
        "optim.lr=1e-3",
        "seed=7",
        "wandb.mode=disabled",
        f"output_dir={out}",
    ]


def _train(args: list[str], nproc: int = 1, **env: str) -> subprocess.CompletedProcess:
    if nproc == 1:
        cmd = [sys.executable, "-m", "train", *args]
    else:
        torchrun = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--nnodes=1"]
        cmd = [*torchrun, "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "train", *args]
    return subprocess.run(cmd, cwd=REPO, env=clean_env(**env), capture_output=True, text=True, timeout=600)


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr[-4000:]


def _weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory, qwen3_tiny_path):
    pytest.importorskip("deepspeed")
    root = tmp_path_factory.mktemp("train_runs")
    data = write_records(root / "records.jsonl", n=24)
    before = shm_files()
    reference = root / "reference"
    _ok(_train(_args(data, qwen3_tiny_path, reference)))
    yield root, data, qwen3_tiny_path, reference
    remove_new_shm(before)


@pytest.fixture(scope="module")
def gemma_setup(tmp_path_factory):
    """The same run on a tiny random Gemma-3 (the decoder path of gemma-3-270m: <bos>, appended <eos>,
    sliding-window and full-attention layers)."""
    pytest.importorskip("deepspeed")
    from tiny_gemma3 import write_tiny_gemma3

    root = tmp_path_factory.mktemp("train_runs_gemma3")
    model = write_tiny_gemma3(root / "gemma3")
    data = write_records(root / "records.jsonl", n=24)
    before = shm_files()
    reference = root / "reference"
    _ok(_train(_args(data, model, reference)))
    yield root, data, model, reference
    remove_new_shm(before)


def test_kill_and_resume_reproduces_the_uninterrupted_run(setup) -> None:
    _check_kill_and_resume(*setup)


def test_kill_and_resume_on_gemma3(gemma_setup) -> None:
    _check_kill_and_resume(*gemma_setup)


def _check_kill_and_resume(root, data, model, reference) -> None:
    """SIGKILL after step 5, resume from the step-4 checkpoint: the metrics and final weights of the
    uninterrupted run, and the keep-last-2 checkpoints."""
    out = root / "killed"
    killed = _train(_args(data, model, out), TSUMUGI_TRAIN_KILL_AT_STEP="5")
    assert killed.returncode == -9, killed.stderr[-4000:]  # a real SIGKILL after step 5
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000002", "step-00000004"]
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2, 3, 4, 5]

    _ok(_train(_args(data, model, out)))  # resume: auto, from step 4
    expected, got = read_metrics(reference / "metrics.jsonl"), read_metrics(out / "metrics.jsonl")
    assert [m["step"] for m in got] == list(range(1, STEPS + 1))
    for e, g in zip(expected, got):
        assert g["loss"] == pytest.approx(e["loss"], abs=1e-6), (e, g)
        assert g["lr"] == pytest.approx(e["lr"], rel=1e-12)
        assert g["grad_norm"] == pytest.approx(e["grad_norm"], rel=1e-6)
    final, ref, base = _weights(out / "final"), _weights(reference / "final"), _weights(model)
    assert max(float((ref[k] - base[k]).abs().max()) for k in ref) > 1e-3  # LoRA merged into the export
    for key in ref:
        torch.testing.assert_close(final[key], ref[key], atol=1e-6, rtol=0)
    # keep-last-2 after the resumed run; checkpoints are sentence-transformers folders
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000004", "step-00000006"]
    assert (out / "checkpoints" / "step-00000006" / "modules.json").is_file()


def test_two_processes_equal_one_process_on_the_concatenated_batch(setup) -> None:
    root, data, model, reference = setup
    out = root / "two_ranks"
    _ok(_train(_args(data, model, out) + ["trainer.save_every=0"], nproc=2))
    expected, got = read_metrics(reference / "metrics.jsonl"), read_metrics(out / "metrics.jsonl")
    assert len(got) == STEPS
    for e, g in zip(expected, got):
        assert g["loss"] == pytest.approx(e["loss"], rel=1e-5), (e, g)
        assert g["grad_norm"] == pytest.approx(e["grad_norm"], rel=1e-5), (e, g)
    final, ref = _weights(out / "final"), _weights(reference / "final")
    for key in ref:
        torch.testing.assert_close(final[key], ref[key], atol=1e-5, rtol=1e-4)
