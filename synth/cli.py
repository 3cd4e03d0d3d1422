"""Hydra entry point ``python -m synth`` (``conf/synth/config.yaml``); the work is in ``synth.app.run``."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from synth.app import register_resolvers, run

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf" / "synth")

register_resolvers()


def to_plain(cfg: DictConfig) -> dict:
    """The resolved config as plain containers (``hydra`` key dropped)."""
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("hydra", None)
    return data


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    """``python -m synth [preset=demo] [engine=openai] [key=value ...]``."""
    run(to_plain(cfg))
