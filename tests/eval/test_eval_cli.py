"""CLI: Hydra composition and overrides, ``python -m eval`` on a tiny model, ``python -m eval.leaderboard``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from eval.cli import CONF_DIR

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(REPO), **extra}
    env.pop("TSUMUGI_DATA", None)
    return env


def test_config_defaults_and_overrides(monkeypatch):
    monkeypatch.delenv("TSUMUGI_DATA", raising=False)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config")
        assert cfg.model == "me5-small" and cfg.suite == "local" and cfg.mode == "official"
        assert cfg.prefix.name == "model" and cfg.data_root is None and cfg.dims is None
        cfg = compose(
            config_name="config",
            overrides=[
                "prefix=qwen3",
                "dims=[64,128]",
                "suite=quick",
                "batch_size=8",
                "max_length=256",
                "mode=corrected",
            ],
        )
        assert cfg.prefix.name == "qwen3" and list(cfg.dims) == [64, 128] and cfg.max_length == 256
        monkeypatch.setenv("TSUMUGI_DATA", "/data/x")
        assert compose(config_name="config").data_root == "/data/x"
        lb = compose(config_name="leaderboard", overrides=["models=[a,b]", "common_only=true"])
        assert list(lb.models) == ["a", "b"] and lb.common_only and lb.suite == "local"


@pytest.mark.slow
def test_python_m_eval_on_tiny_model(qwen3_tiny_path, tiny_root, tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "eval",
        f"model={qwen3_tiny_path}",
        "suite=quick",
        f"data_root={tiny_root}",
        f"out_dir={out}",
        "cache_dir=null",
        "prefix=qwen3",
        "dims=[16]",
        "batch_size=8",
        "max_length=64",
        "name=tiny",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| tiny |" in proc.stdout and "[3/3] jsquad_retrieval" in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"STS", "Classification", "Retrieval"}
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["prefix"]["name"] == "qwen3" and cfg["dims"] == [16] and cfg["resolved"]["model"] == "tiny"
    assert (out / "dim_16/summary.json").is_file()
    assert not (tmp_path / "outputs").exists()  # no stray Hydra folders


def test_python_m_eval_leaderboard_from_published_runs(shared_data, tmp_path):
    refs = shared_data / "jmteb_fixtures/reference_results"
    cmd = [
        sys.executable,
        "-m",
        "eval.leaderboard",
        f"models=[{refs}/cl-nagoya/ruri-small,{refs}/intfloat/multilingual-e5-small]",
        f"out_dir={tmp_path}/lb",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (tmp_path / "lb/leaderboard.md").read_text()
    assert "| cl-nagoya/ruri-small | **71.53** |" in md and "| intfloat/multilingual-e5-small | 67.71 |" in md
    assert (tmp_path / "lb/leaderboard.png").is_file()
