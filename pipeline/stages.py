"""One function per pipeline stage: build the stage's command line, run it, return where its output is."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class StageResult:
    """What a stage left behind and how long it took (0 when skipped as already done)."""

    name: str
    output: Path
    seconds: float
    skipped: bool


def run_command(args: Sequence[str], log: Path) -> None:
    """Run ``python -m ...`` with output teed to ``log``; raise with the log's tail if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, *args]
    with log.open("w", encoding="utf-8") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            sys.stderr.write(line)
        code = proc.wait()
    if code != 0:
        tail = "".join(log.read_text(encoding="utf-8").splitlines(keepends=True)[-20:])
        raise RuntimeError(f"stage command failed (exit {code}); log: {log}\n{tail}")


def train_stage(cfg: dict[str, Any], out: Path) -> list[str]:
    """Stage 2 of the recipe on the base model: returns the checkpoints to rank (every saved step + final)."""
    t = cfg["train"]
    args = [
        "-m",
        "train",
        f"model={cfg['model']}" if cfg["model"] in _MODEL_PRESETS else f"model.path={cfg['model']}",
        f"output_dir={out}",
        f"data.datasets=[{{path: '{t['data']}', format: jmteb}}]",
        f"trainer.max_steps={t['max_steps']}",
        f"trainer.save_every={t['save_every']}",
        "trainer.keep_last=null",
        f"data.batch_size={t['batch_size']}",
        f"optim.lr={t['lr']}",
        f"data.max_query_length={t['max_query_length']}",
        f"data.max_document_length={t['max_document_length']}",
        f"finetune.freeze_input_embeddings={str(t['freeze_input_embeddings']).lower()}",
        *t.get("extra", []),
    ]
    run_command(args, out / "train.log")
    return checkpoints(out)


def checkpoints(train_out: Path) -> list[str]:
    """Saved checkpoints of a training run, oldest first, then the final export."""
    steps = sorted((train_out / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    final = [train_out / "final"] if (train_out / "final").is_dir() else []
    return [str(p) for p in [*steps, *final]]


def eval_stage(cfg: dict[str, Any], out: Path, models: Sequence[str]) -> Path:
    """Score every model on the suite and write one leaderboard (md, csv, png) into ``out``."""
    e = cfg["eval"]
    args = [
        "-m",
        "eval.leaderboard",
        f"models=[{','.join(models)}]",
        f"suite={e['suite']}",
        f"prefix={e['prefix']}",
        f"out_dir={out}",
        *e.get("extra", []),
    ]
    run_command(args, out / "eval.log")
    return out


_MODEL_PRESETS = {
    "me5-small",
    "qwen3-tiny",
    "qwen3-embedding-0.6b",
    "qwen3-embedding-4b",
    "qwen3-embedding-8b",
}


def timed(name: str, out: Path, force: bool, fn, *args) -> tuple[StageResult, Any]:
    """Run ``fn`` unless ``out/.done`` exists (and not ``force``); mark it done afterwards."""
    marker = out / ".done"
    if marker.exists() and not force:
        return StageResult(name, out, 0.0, True), None
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    value = fn(*args)
    marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"), encoding="utf-8")
    return StageResult(name, out, time.perf_counter() - start, False), value
