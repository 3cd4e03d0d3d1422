"""One function per pipeline stage: build the stage's command line, run it in a subprocess, return its output.

Every stage is another tsumugi app (``python -m synth``, ``python -m train``, ``python -m merge.search``,
``python -m eval.leaderboard``) given Hydra overrides built here; the pipeline imports none of their internals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embed.atomic import atomic_file
from embed.procs import spawn_group, stop_group

MODEL_PRESETS = frozenset(
    p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "model").glob("*.yaml")
)
"""train/'s model presets (``conf/model/*.yaml``): me5-small, gemma3-270m, qwen3-tiny, qwen3-embedding-0.6b, ..."""


@dataclass
class StageResult:
    """What a stage left behind and how long it took (0 when skipped as already done)."""

    name: str
    output: Path
    seconds: float
    skipped: bool


def hydra_value(value: Any) -> str:
    """A Python value as a Hydra override value (strings quoted, lists and dicts in flow style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(hydra_value(v) for v in value) + "]"
    raise TypeError(f"cannot pass {type(value).__name__} as a Hydra override: {value!r}")


WHOLE_VALUES = {"subsample", "datasets", "grid"}
"""Keys whose mapping values are passed whole (``key={...}``): their defaults are null or lists, not nested keys."""


def overrides(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Nested ``{key: value}`` -> ``["a.b.key=value", ...]``: one override per leaf, so each replaces one key of
    the app's config and keeps its other defaults (mappings under :data:`WHOLE_VALUES` keys are passed whole)."""
    out = []
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v and str(k) not in WHOLE_VALUES:
            out += overrides(v, key + ".")
        else:
            out.append(f"{key}={hydra_value(v)}")
    return out


def run_command(args: Sequence[str], log: Path) -> None:
    """Run ``python <args>`` with its output teed to ``log``; raise with the log's tail if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, *args]
    with log.open("w", encoding="utf-8") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the child's progress reaches the log as it happens
        # its own process group, SIGTERMed if the pipeline dies: a stopped pipeline leaves no stage behind
        proc = spawn_group(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
        )
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                f.write(line)
                f.flush()
                sys.stderr.write(line)
            code = proc.wait()
        finally:  # also after a clean exit: whatever the stage left in its group (an orphaned engine) goes
            stop_group(proc)
    if code != 0:
        tail = "".join(log.read_text(encoding="utf-8").splitlines(keepends=True)[-20:])
        raise RuntimeError(f"stage command failed (exit {code}); log: {log}\n{tail}")


def synth_stage(cfg: Mapping[str, Any], out: Path) -> Path:
    """Generate, filter, mine and export a synthetic set; returns train/'s records file."""
    s = cfg["synth"]
    args = ["-m", "synth", f"preset={s['preset']}", f"out_dir={out}", *overrides(s.get("set") or {})]
    run_command([*args, *s.get("extra", [])], out / "synth.log")
    return synth_records(out)


def synth_records(out: Path) -> Path:
    """The exported training records of a synth run folder (``train/all.jsonl``)."""
    path = out / "train" / "all.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the synth stage exported no training records (see {out / 'synth.log'})"
        )
    return path


def _model_overrides(model: str, init_from: str | None) -> list[str]:
    """train/'s model selection: a preset (optionally loaded from a checkpoint folder) or any path / hub id."""
    if model in MODEL_PRESETS:
        args = [f"model={model}"]
        if init_from:
            args.append(f"model.path={hydra_value(init_from)}")
        return args
    return [f"model.path={hydra_value(init_from or model)}"]


def train_stage(
    cfg: Mapping[str, Any], name: str, out: Path, datasets: list[dict], init_from: str | None = None
) -> list[str]:
    """One training stage of the recipe; returns its checkpoints to rank (every saved step, then the final)."""
    t = cfg[name]
    nproc = int((cfg.get("launch") or {}).get("nproc_per_node") or 1)
    launcher = ["-m", "torch.distributed.run", f"--nproc_per_node={nproc}"] if nproc > 1 else []
    args = [
        *launcher,
        "-m",
        "train",
        *_model_overrides(cfg["model"], init_from),
        f"output_dir={hydra_value(str(out))}",
        f"data.datasets={hydra_value(datasets)}",
        "trainer.keep_last=null",
        *overrides(t.get("set") or {}),
        *t.get("extra", []),
    ]
    run_command(args, out / "train.log")
    return checkpoints(out)


def checkpoints(train_out: Path) -> list[str]:
    """Saved checkpoints of a training run, oldest first, then the final export unless a step checkpoint
    already holds the last step (the same weights twice would make a merge a no-op)."""
    steps = sorted((train_out / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    final = [train_out / "final"] if (train_out / "final").is_dir() else []
    last = _last_step(train_out / "metrics.jsonl")
    if steps and last is not None and int(steps[-1].name.split("-")[1]) == last:
        final = []
    return [str(p) for p in [*steps, *final]]


def _last_step(metrics: Path) -> int | None:
    """The last optimizer step logged in a train/ ``metrics.jsonl`` (None when there is none)."""
    if not metrics.is_file():
        return None
    lines = [ln for ln in metrics.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return int(json.loads(lines[-1])["step"]) if lines else None


def merge_inputs(cfg: Mapping[str, Any], ckpts: Sequence[str]) -> tuple[list[str], list[str]]:
    """The merge search's inputs and labels: the last ``merge.last_n`` stage-2 checkpoints, then the base model
    (label ``base``) when ``merge.with_base`` (a WiSE-FT-style interpolation toward the pre-trained weights)."""
    m = cfg["merge"]
    picked = list(ckpts)[-int(m["last_n"]) :] if m.get("last_n") else list(ckpts)
    if len(picked) < 2:
        raise RuntimeError(f"the merge stage needs two or more stage-2 checkpoints, found {picked}")
    labels = [_label(p) for p in picked]
    if m.get("with_base"):
        picked, labels = [*picked, str(cfg["model"])], [*labels, "base"]
    return picked, labels


def merge_stage(cfg: Mapping[str, Any], out: Path, ckpts: Sequence[str]) -> Path | None:
    """Merge the stage-2 checkpoints over the configured grid, rank the merges; returns the best merged model."""
    m = cfg["merge"]
    picked, labels = merge_inputs(cfg, ckpts)
    args = [
        "-m",
        "merge.search",
        f"checkpoints={hydra_value(picked)}",
        f"labels={hydra_value(labels)}",
        f"out_dir={hydra_value(str(out))}",
        f"grid={hydra_value(m['grid'])}",
        f"include_inputs={hydra_value(_inputs(m.get('include_inputs', False)))}",
        "keep=best",
        f"keep_from={hydra_value(str(m.get('keep_from', 'merges')))}",
        *overrides(m.get("eval") or {}, "eval."),
        *m.get("extra", []),
    ]
    run_command(args, out / "merge.log")
    best = out / "best"
    return best if best.is_dir() else None


def _inputs(value: Any) -> bool | list[int]:
    """``merge.include_inputs``: a bool, or the indices of the inputs scored as they are (e.g. ``[-1]``)."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    return [
        int(i) for i in (value if isinstance(value, Sequence) and not isinstance(value, str) else [value])
    ]


def _label(path: str) -> str:
    p = Path(path)
    return (
        f"{p.parent.parent.name}/{p.name}" if p.parent.name == "checkpoints" else f"{p.parent.name}/{p.name}"
    )


def eval_stage(cfg: Mapping[str, Any], out: Path, models: Mapping[str, str]) -> Path:
    """Score every model (``{label: path}``) on the suite and write one leaderboard (md, csv, png) into ``out``."""
    e = cfg["eval"]
    args = [
        "-m",
        "eval.leaderboard",
        f"models={hydra_value(list(models.values()))}",
        f"names={hydra_value(list(models))}",
        *([f"baseline={hydra_value('base')}"] if "base" in models else []),
        f"out_dir={hydra_value(str(out))}",
        *overrides(e.get("set") or {}),
        *e.get("extra", []),
    ]
    run_command(args, out / "eval.log")
    return out


def timed(name: str, out: Path, force: bool, fn, *args) -> tuple[StageResult, Any]:
    """Run ``fn`` unless ``out/.done`` exists (and not ``force``); mark it done with ``fn``'s JSON result."""
    marker = out / ".done"
    if marker.exists() and not force:
        return StageResult(name, out, 0.0, True), json.loads(marker.read_text(encoding="utf-8") or "null")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    value = fn(*args)
    seconds = time.perf_counter() - start
    with atomic_file(
        out / "stage_time.json", "w"
    ) as f:  # before the marker: a done stage always has its time
        json.dump({"seconds": seconds}, f)
    with atomic_file(marker, "w") as f:
        json.dump(_jsonable(value), f)
    return StageResult(name, out, seconds, False), _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
