"""``python -m pipeline``: the main job (conf/pipeline/config.yaml), stage by stage, resumable.

synth -> stage1 -> stage2 -> merge -> eval, each in ``<run_dir>/<stage>/`` with a ``.done`` marker; a re-run skips
finished stages (``force=true`` re-runs them), an interrupted stage resumes inside its own app (synth shards,
train checkpoints, merge-search run folders, eval's embedding cache).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from embed.procs import install_reaper

from .plots import plot_losses
from .preflight import preflight
from .stages import (
    StageResult,
    checkpoints,
    eval_stage,
    merge_stage,
    synth_records,
    timed,
    train_stage,
)

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf" / "pipeline")
KNOWN_STAGES = ("synth", "stage1", "stage2", "merge", "eval")


def _say(msg: str) -> None:
    print(f"[pipeline {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cfg: dict) -> list[StageResult]:
    """Run the configured stages in order, then print a one-screen summary."""
    unknown = [s for s in cfg["stages"] if s not in KNOWN_STAGES]
    if unknown:
        raise SystemExit(f"error: unknown stage(s) {unknown}; available: {list(KNOWN_STAGES)}")
    for line in preflight(cfg):
        _say(line)
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)), encoding="utf-8")
    stages = list(cfg["stages"])
    results: list[StageResult] = []
    models: dict[str, str] = {"base": cfg["model"]}
    synth_out, s1_out, s2_out = run_dir / "synth", run_dir / "stage1", run_dir / "stage2"
    jaquad = {
        "path": cfg["data"]["supervised"],
        "name": "jaquad",
        "format": "jmteb",
        "weight": 1.0,
        "negatives": cfg["data"].get("supervised_negatives", "none"),
    }
    for i, stage in enumerate(stages, 1):
        out = run_dir / stage
        _say(f"stage {i}/{len(stages)}: {stage} -> {out}")
        force = bool(cfg["force"])
        if stage == "synth":
            res, _ = timed(stage, out, force, synth_stage_fn, cfg, out)
        elif stage == "stage1":
            synth = {"path": str(synth_records(synth_out)), "name": "synthetic", "format": "tsumugi"}
            res, _ = timed(stage, out, force, train_stage, cfg, "stage1", out, [synth])
        elif stage == "stage2":
            data = [jaquad]
            if (synth_out / "train" / "all.jsonl").is_file() and cfg["stage2"].get("use_synthetic", True):
                data.append({"path": str(synth_records(synth_out)), "name": "synthetic", "format": "tsumugi"})
            init = str(s1_out / "final") if (s1_out / "final").is_dir() else None
            res, _ = timed(stage, out, force, train_stage, cfg, "stage2", out, data, init)
        elif stage == "merge":
            res, _ = timed(stage, out, force, merge_stage, cfg, out, checkpoints(s2_out))
        else:  # eval
            models.update(_trained_models(s1_out, s2_out, run_dir / "merge"))
            res, _ = timed(stage, out, force, eval_stage, cfg, out, models)
        results.append(res)
        _say(f"{stage}: {'already done, skipped' if res.skipped else f'done in {res.seconds:.0f} s'}")
    plot = plot_losses({"stage 1": s1_out, "stage 2": s2_out}, run_dir / "loss_curves.png")
    summarize(run_dir, results, plot)
    return results


def synth_stage_fn(cfg: dict, out: Path) -> str:
    """The synth stage (imported lazily so the other stages run without vLLM)."""
    from .stages import synth_stage

    return str(synth_stage(cfg, out))


def _trained_models(s1: Path, s2: Path, merge: Path) -> dict[str, str]:
    """The models the leaderboard compares, by label: stage 1, stage 2 (final) and the best merge, when present."""
    found = {}
    if (s1 / "final").is_dir():
        found["stage1"] = str(s1 / "final")
    if (s2 / "final").is_dir():
        found["stage2"] = str(s2 / "final")
    if (merge / "best").is_dir():
        found["merged"] = str(merge / "best")
    return found


def _stage_seconds(out: Path) -> float | None:
    path = out / "stage_time.json"
    return json.loads(path.read_text(encoding="utf-8"))["seconds"] if path.is_file() else None


def leaderboard_head(markdown: str) -> str:
    """The leaderboard's summary and difference tables: everything before the first per-category table."""
    keep = []
    for section in markdown.split("\n## "):
        title = section.split("\n", 1)[0]
        if keep and title != "Summary" and not title.startswith("Difference from"):
            break
        keep.append(section)
    return "\n## ".join(keep).rstrip("\n") + "\n  (per-category tables: leaderboard.md)"


def summarize(run_dir: Path, results: list[StageResult], plot: Path | None) -> None:
    """Print the leaderboard, each stage's time and where the artefacts are."""
    board = run_dir / "eval" / "leaderboard.md"
    print("\n=== tsumugi pipeline summary ===")
    if board.exists():
        print(leaderboard_head(board.read_text(encoding="utf-8")))
    total = 0.0
    for r in results:
        secs = r.seconds if not r.skipped else _stage_seconds(r.output)
        total += secs or 0.0
        took = f"{secs:7.0f} s" if secs is not None else "       -"
        note = " (done earlier)" if r.skipped else ""
        print(f"  {r.name:<7} {took}{note:<15}  {r.output}")
    print(f"  total   {total:7.0f} s")
    merge_board = run_dir / "merge" / "leaderboard.md"
    if merge_board.exists():
        print(f"  merge ranking: {merge_board}")
    if board.exists():
        print(f"  leaderboard: {board} (+ .csv, .png)")
    if plot:
        print(f"  loss curves: {plot}")
    print(f"  run folder: {run_dir}   (config: {run_dir / 'config.yaml'})")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    """Entry point for ``python -m pipeline``."""
    run(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]


if __name__ == "__main__":
    install_reaper()  # a signal stops the running stage's whole process group first
    main()
