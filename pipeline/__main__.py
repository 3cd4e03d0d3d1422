"""``python -m pipeline``: the main job (conf/pipeline/config.yaml), stage by stage, resumable."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from .stages import StageResult, eval_stage, timed, train_stage

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf" / "pipeline")
KNOWN_STAGES = ("train", "eval")


def run(cfg: dict) -> list[StageResult]:
    """Run the configured stages in order and print a one-screen summary."""
    unknown = [s for s in cfg["stages"] if s not in KNOWN_STAGES]
    if unknown:
        raise SystemExit(f"error: unknown stage(s) {unknown}; available: {list(KNOWN_STAGES)}")
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)), encoding="utf-8")
    results: list[StageResult] = []
    models = [cfg["model"]]
    for stage in cfg["stages"]:
        out = run_dir / stage
        print(f"[pipeline] stage {stage} -> {out}", file=sys.stderr, flush=True)
        if stage == "train":
            res, _ = timed(stage, out, cfg["force"], train_stage, cfg, out)
            from .stages import checkpoints

            models += checkpoints(out)
        elif stage == "eval":
            res, _ = timed(stage, out, cfg["force"], eval_stage, cfg, out, models)
        results.append(res)
        print(
            f"[pipeline] {stage}: {'already done, skipped' if res.skipped else f'{res.seconds:.0f} s'}",
            file=sys.stderr,
            flush=True,
        )
    summarize(run_dir, results)
    return results


def summarize(run_dir: Path, results: list[StageResult]) -> None:
    """Print the leaderboard (if any), the artefacts and each stage's time."""
    board = run_dir / "eval" / "leaderboard.md"
    print("\n=== tsumugi pipeline summary ===")
    if board.exists():
        print(board.read_text(encoding="utf-8"))
    for r in results:
        took = "skipped (done earlier)" if r.skipped else f"{r.seconds:7.0f} s"
        print(f"  {r.name:<6} {took:>22}  {r.output}")
    print(f"  run folder: {run_dir}")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    """Entry point for ``python -m pipeline``."""
    run(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
