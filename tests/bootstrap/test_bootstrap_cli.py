"""``python -m embed.bootstrap``: exit codes, messages, summary table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "embed.bootstrap", *args],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_unknown_name_is_one_clear_line_and_exit_2():
    proc = _run("qwen3-tiny", "no-such-model")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "'no-such-model'" in lines[0]
    assert all(name in lines[0] for name in ("me5-small", "qwen3-tokenizer", "qwen3-tiny", "gemma3-270m"))
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_list_shows_every_model(tmp_path):
    proc = _run("--list", env={"TSUMUGI_CACHE": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    for name in ("me5-small", "qwen3-tokenizer", "qwen3-tiny", "qwen3-tiny-lm", "gemma3-270m"):
        assert name in proc.stdout
    assert str(tmp_path / "models") in proc.stdout


def test_cached_build_prints_a_summary_and_verify_passes(qwen3_tokenizer_path):
    proc = _run("qwen3-tokenizer")
    assert proc.returncode == 0, proc.stderr
    header, _, row = proc.stdout.strip().splitlines()
    assert header.split() == ["name", "path", "size", "seconds", "status"]
    assert row.split()[:2] == ["qwen3-tokenizer", str(qwen3_tokenizer_path)]
    assert row.split()[-1] == "cached"
    assert "qwen3-tokenizer" in proc.stderr  # progress line

    proc = _run("--verify", "qwen3-tokenizer")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok   qwen3-tokenizer")


def test_verify_of_a_missing_model_fails(tmp_path):
    proc = _run("--verify", "qwen3-tiny", env={"TSUMUGI_CACHE": str(tmp_path)})
    assert proc.returncode == 1
    assert "not built" in proc.stderr and "Traceback" not in proc.stderr
