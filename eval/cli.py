"""Hydra entry points: ``python -m eval`` (one model) and ``python -m eval.leaderboard`` (several models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf" / "eval")


def _plain(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def run_from_config(cfg: DictConfig):
    """Run ``eval.runner.evaluate`` with every value taken from the composed config."""
    from .runner import evaluate

    c = _plain(cfg)
    return evaluate(
        c["model"],
        c["suite"],
        prefixes=c["prefix"],
        out_dir=c["out_dir"],
        dims=c.get("dims"),
        mode=c["mode"],
        batch_size=c["batch_size"],
        max_length=c.get("max_length"),
        cache_dir=c.get("cache_dir"),
        data_root=c.get("data_root"),
        tasks=c.get("tasks"),
        model_kwargs=c.get("model_kwargs"),
        name=c.get("name"),
        config=c,
        subsample=c.get("subsample"),
        split=c.get("split") or "test",
    )


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    """``python -m eval model=... suite=... prefix=... dims=[...] mode=...``."""
    run_from_config(cfg)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="leaderboard")
def leaderboard_main(cfg: DictConfig) -> None:
    """``python -m eval.leaderboard models=[...] suite=... [common_only=true]``."""
    from .leaderboard import make_leaderboard

    c = _plain(cfg)
    if not c.get("models"):
        raise SystemExit("give models=[name, path, glob or run folder, ...]")
    kwargs = {
        "suite": c["suite"],
        "prefixes": c["prefix"],
        "dims": c.get("dims"),
        "mode": c["mode"],
        "batch_size": c["batch_size"],
        "max_length": c.get("max_length"),
        "cache_dir": c.get("cache_dir"),
        "data_root": c.get("data_root"),
        "tasks": c.get("tasks"),
        "model_kwargs": c.get("model_kwargs"),
        "config": c,
        "subsample": c.get("subsample"),
        "split": c.get("split") or "test",
    }
    make_leaderboard(
        c["models"],
        c["out_dir"],
        evaluate_kwargs=kwargs,
        common_only=bool(c.get("common_only")),
        title=c.get("title"),
        names=c.get("names"),
        baseline=c.get("baseline"),
    )
