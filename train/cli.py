"""``python -m train [key=value ...]``: the Hydra app (conf/train/config.yaml, model presets from conf/model/).

Examples::

    python -m train data.datasets=[data/records.jsonl] max_steps=...            # qwen3-tiny, qwen3 loss
    python -m train model=me5-small loss=mnrl recipe=stage2 output_dir=runs/train/me5
    deepspeed --num_gpus 8 -m train model=qwen3-embedding-0.6b deepspeed.zero_stage=3 deepspeed.bf16=true

The resolved config is saved as ``<output_dir>/config.yaml``.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any

CONF_ROOT = Path(__file__).resolve().parents[1] / "conf"
CONF_DIR = CONF_ROOT / "train"
_SEARCHPATH = f"hydra.searchpath=[file://{CONF_ROOT}]"  # conf/model/ presets become the `model` group


def _strip_launcher_args(argv: list[str]) -> list[str]:
    """Drop ``--local_rank=N`` / ``--local_rank N`` that the deepspeed launcher appends."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg.startswith("--local_rank=") or arg.startswith("--local-rank="):
            continue
        elif arg in ("--local_rank", "--local-rank"):
            skip = True
        else:
            out.append(arg)
    return out


def compose_config(overrides: list[str] | None = None) -> dict[str, Any]:
    """The resolved run config as a plain dict (no Hydra run, no output dir): for tests and notebooks."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="train"):
        cfg = compose("config", overrides=[*(overrides or []), _SEARCHPATH])
    return OmegaConf.to_container(cfg, resolve=True)


def _run(cfg) -> None:
    from omegaconf import OmegaConf

    from train.recipe import train
    from train.runtime import init_distributed

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # DeepSpeed's ZeRO collectives call torch's deprecated names once per bucket: one warning per call
    warnings.filterwarnings(
        "ignore", message=r".*torch\.distributed\.\w+` is deprecated", category=FutureWarning
    )
    plain = OmegaConf.to_container(cfg, resolve=True)
    rank, _ = init_distributed()
    if rank == 0:
        out = Path(plain["output_dir"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(plain)), encoding="utf-8")
    final = train(plain)
    if rank == 0:
        print(f"final model: {final}")


def main() -> None:
    """Entry point of ``python -m train``."""
    import hydra

    sys.argv = [*_strip_launcher_args(sys.argv), _SEARCHPATH]
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_run)()
