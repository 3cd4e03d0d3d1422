"""``python -m train [key=value ...]``: the Hydra app (conf/train/config.yaml, model presets from conf/model/).

Examples::

    python -m train data.datasets=[data/records.jsonl] max_steps=...            # qwen3-tiny, qwen3 loss
    python -m train model=me5-small loss=mnrl recipe=stage2 output_dir=runs/train/me5
    deepspeed --num_gpus 8 -m train model=qwen3-embedding-0.6b deepspeed.zero_stage=3 deepspeed.bf16=true

The resolved config is saved as ``<output_dir>/config.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from train.app import run_recipe, strip_launcher_args

CONF_ROOT = Path(__file__).resolve().parents[1] / "conf"
CONF_DIR = CONF_ROOT / "train"
_SEARCHPATH = f"hydra.searchpath=[file://{CONF_ROOT}]"  # conf/model/ presets become the `model` group


def compose_config(overrides: list[str] | None = None) -> dict[str, Any]:
    """The resolved run config as a plain dict (no Hydra run, no output dir): for tests and notebooks."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="train"):
        cfg = compose("config", overrides=[*(overrides or []), _SEARCHPATH])
    return OmegaConf.to_container(cfg, resolve=True)


def _run(cfg) -> None:
    from train.recipe import train

    run_recipe(cfg, train, "model")


def main() -> None:
    """Entry point of ``python -m train``."""
    import hydra

    sys.argv = [*strip_launcher_args(sys.argv), _SEARCHPATH]
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_run)()
