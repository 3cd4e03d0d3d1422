"""``python -m train.reranker [key=value ...]``: the reranker Hydra app (conf/rerank/train.yaml, model presets in
conf/rerank/model/).

Examples::

    python -m train.reranker data.datasets=[records.jsonl] trainer.max_steps=50          # qwen3-tiny-lm, CPU
    python -m train.reranker model=me5-small-ce reranker.objective=listwise data.hard_negatives_k=7
    deepspeed --num_gpus 8 -m train.reranker model=qwen3-reranker-0.6b deepspeed.zero_stage=3 deepspeed.bf16=true

The resolved config is saved as ``<output_dir>/config.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from train.app import run_recipe, strip_launcher_args

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "rerank"


def compose_config(overrides: list[str] | None = None) -> dict[str, Any]:
    """The resolved run config as a plain dict (no Hydra run, no output dir): for tests and notebooks."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="train_reranker"):
        cfg = compose("train", overrides=list(overrides or []))
    return OmegaConf.to_container(cfg, resolve=True)


def _run(cfg) -> None:
    from train.reranker.recipe import train_reranker

    run_recipe(cfg, train_reranker, "reranker")


def main() -> None:
    """Entry point of ``python -m train.reranker``."""
    import hydra

    sys.argv = strip_launcher_args(sys.argv)
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")(_run)()
