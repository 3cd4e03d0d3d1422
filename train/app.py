"""The shared Hydra entry of the trainers (``python -m train``, ``python -m train.reranker``): launcher arguments
dropped, logging set, the resolved config saved as ``<output_dir>/config.yaml`` by rank 0, then the recipe."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def strip_launcher_args(argv: list[str]) -> list[str]:
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


def run_recipe(cfg, recipe: Callable[[Mapping[str, Any]], Path], what: str) -> Path:
    """Resolve ``cfg``, save it into its ``output_dir`` (rank 0), run ``recipe`` and print the final folder."""
    from omegaconf import OmegaConf

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
    final = recipe(plain)
    if rank == 0:
        print(f"final {what}: {final}")
    return final
