"""Reranker training runs: exact resume (in process, from a saved checkpoint), a LoRA + ZeRO-3 causal LM exported
merged, a cross-encoder exported in sentence-transformers' CrossEncoder layout, 2 gloo processes = 1 process
(the ``python -m train.reranker`` CLI under torchrun), config errors."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from _train_helpers import REPO, clean_env, remove_new_shm, shm_files, write_records
from safetensors.torch import load_file

from train.monitor import read_metrics
from train.reranker.cli import compose_config
from train.runtime import free_port

pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.distributed\.\w+` is deprecated:FutureWarning")

STEPS = 4


def _overrides(data, out, *extra: str) -> list[str]:
    return [
        f"data.datasets=[{data}]",
        "data.batch_size=4",
        "data.hard_negatives_k=2",
        f"trainer.max_steps={STEPS}",
        "trainer.save_every=2",
        "model.max_length=96",
        "optim.lr=1e-3",
        "seed=7",
        "wandb.mode=disabled",
        f"output_dir={out}",
        "run_name=test",
        *extra,
    ]


CAUSAL = (
    "reranker.objective=listwise",
    "reranker.loss=full_vocab",
    "finetune.method=lora",
    "finetune.lora.r=4",
    "deepspeed.zero_stage=3",
)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return write_records(tmp_path_factory.mktemp("rr_data") / "records.jsonl", n=24)


@pytest.fixture(scope="module")
def causal_reference(gloo_world_of_one, records, tmp_path_factory):
    """An uninterrupted LoRA / ZeRO-3 / listwise full-vocabulary run of the tiny Qwen3 causal LM."""
    from train.reranker.recipe import train_reranker

    out = tmp_path_factory.mktemp("rr_causal") / "reference"
    train_reranker(compose_config(_overrides(records, out, *CAUSAL)))
    return out


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_resume_reproduces_the_uninterrupted_run(causal_reference, records, tmp_path) -> None:
    from train.reranker.recipe import train_reranker

    out = tmp_path / "resumed"
    (out / "checkpoints").mkdir(parents=True)
    shutil.copytree(causal_reference / "checkpoints" / "step-00000002", out / "checkpoints" / "step-00000002")
    lines = (causal_reference / "metrics.jsonl").read_text().splitlines()
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")  # truncated to step 2 on resume
    train_reranker(compose_config(_overrides(records, out, *CAUSAL)))
    expected, got = read_metrics(causal_reference / "metrics.jsonl"), read_metrics(out / "metrics.jsonl")
    assert [m["step"] for m in got] == list(range(1, STEPS + 1))
    for e, g in zip(expected, got):
        assert g["loss"] == pytest.approx(e["loss"], abs=1e-6), (e, g)
        assert g["lr"] == pytest.approx(e["lr"], rel=1e-12)
    final, ref = _weights(out / "final"), _weights(causal_reference / "final")
    for key in ref:
        torch.testing.assert_close(final[key], ref[key], atol=1e-6, rtol=0)


def test_lora_export_is_merged_and_scores(causal_reference, qwen3_tiny_lm_path) -> None:
    from embed.rerank import Reranker

    final, base = _weights(causal_reference / "final"), _weights(qwen3_tiny_lm_path)
    assert not any("lora" in k for k in final)
    assert max(float((final[k] - base[k]).abs().max()) for k in final) > 1e-4  # adapters merged in
    reranker = Reranker.load(causal_reference / "final", device="cpu")
    assert reranker.config.max_length == 96 and reranker.kind == "causal_lm"
    scores = reranker.score([("質問", "文書"), ("東京", "大阪")])
    assert scores.shape == (2,) and np.all((scores > 0) & (scores < 1))


@pytest.fixture(scope="session")
def qwen3_tiny_lm_path():
    from pathlib import Path

    from embed.bootstrap.registry import resolve_model

    return Path(resolve_model("qwen3-tiny-lm"))


def test_cross_encoder_learns_and_loads_in_sentence_transformers(
    gloo_world_of_one, records, tiny_bert, tmp_path
) -> None:
    from sentence_transformers import CrossEncoder

    from embed.rerank import Reranker
    from train.reranker.recipe import train_reranker

    out = tmp_path / "ce"
    c = compose_config(
        _overrides(
            records,
            out,
            "model=me5-small-ce",
            f"model.path={tiny_bert}",
            "model.max_length=64",
            "trainer.max_steps=12",
            "trainer.save_every=0",
            "reranker.objective=pointwise",
        )
    )
    final = train_reranker(c)
    losses = [m["loss"] for m in read_metrics(out / "metrics.jsonl")]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # it fits the toy set
    reranker = Reranker.load(final, device="cpu")
    assert reranker.kind == "cross_encoder" and reranker.max_length == 64
    pairs = [("質問 1: 東京の天気は?", "文書 1。晴れのち曇り。"), ("質問 2", "別の文書 5。雨。")]
    st = CrossEncoder(str(final), device="cpu")
    np.testing.assert_allclose(st.predict(pairs), reranker.score(pairs), rtol=0, atol=1e-5)


def test_config_errors(gloo_world_of_one, records, tmp_path) -> None:
    from train.reranker.recipe import train_reranker

    with pytest.raises(ValueError, match="hard_negatives_k must be >= 1"):
        train_reranker(compose_config(_overrides(records, tmp_path / "a", "data.hard_negatives_k=0")))
    with pytest.raises(ValueError, match="reranker.objective must be one of"):
        train_reranker(compose_config(_overrides(records, tmp_path / "b", "reranker.objective=pairwise")))
    bad = f"data.datasets=[{{path: '{records}', symmetric: true}}]"
    with pytest.raises(ValueError, match="symmetric datasets have no meaning"):
        train_reranker(compose_config([*_overrides(records, tmp_path / "c"), bad]))


@pytest.mark.slow
def test_two_processes_equal_one_process(causal_reference, records, tmp_path) -> None:
    out = tmp_path / "two"
    args = _overrides(records, out, *CAUSAL, "trainer.save_every=0")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1"]
    cmd = [
        *torchrun,
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "train.reranker",
        *args,
    ]
    before = shm_files()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=600)
    finally:
        remove_new_shm(before)
    assert proc.returncode == 0, proc.stderr[-4000:]
    expected, got = read_metrics(causal_reference / "metrics.jsonl"), read_metrics(out / "metrics.jsonl")
    assert len(got) == STEPS
    for e, g in zip(expected, got):
        assert g["loss"] == pytest.approx(e["loss"], rel=1e-5), (e, g)
        assert g["group_accuracy"] == e["group_accuracy"]
    final, ref = _weights(out / "final"), _weights(causal_reference / "final")
    for key in ref:
        torch.testing.assert_close(final[key], ref[key], atol=1e-5, rtol=1e-4)
