"""The main job end to end at ``scale=ci``: real vLLM generation (tiny random Qwen3), DeepSpeed training of two
stages, a merge search and the final leaderboard, then a re-run that skips every finished stage."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _run(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "scale=ci", f"run_dir={run_dir}", *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )


def test_pipeline_ci_scale_end_to_end_then_resumes(tmp_path):
    run_dir = tmp_path / "run"
    first = _run(run_dir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    records = [json.loads(x) for x in (run_dir / "synth" / "train" / "all.jsonl").read_text().splitlines()]
    assert records and all(r["query"] and r["positive"] for r in records)
    assert (run_dir / "stage1" / "final" / "model.safetensors").is_file()
    assert len(list((run_dir / "stage2" / "checkpoints").glob("step-*"))) == 2
    assert (run_dir / "merge" / "best").is_dir() and (run_dir / "merge" / "ranking.json").is_file()
    with (run_dir / "eval" / "leaderboard.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["model"] for r in rows) == ["base", "merged", "stage1", "stage2"]
    assert (run_dir / "eval" / "leaderboard.png").stat().st_size > 0
    assert (run_dir / "loss_curves.png").stat().st_size > 0
    assert "=== tsumugi pipeline summary ===" in first.stdout
    summary = first.stdout.split("=== tsumugi pipeline summary ===", 1)[1]
    assert "## Difference from base" in summary and "| stage2 | " in summary  # each model against the base
    assert "## Retrieval" not in summary  # one screen: per-category tables stay in leaderboard.md
    assert "## Difference from base" in (run_dir / "eval" / "leaderboard.md").read_text(encoding="utf-8")

    second = _run(run_dir)  # every stage is done: nothing re-runs, the summary is printed again
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("already done, skipped") == 5
    assert "| merged |" in second.stdout or "| merged" in second.stdout
