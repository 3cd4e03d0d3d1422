"""What a run reports (rank 0 only): a tqdm bar with loss, lr and tokens/s; wandb (offline unless configured);
``metrics.jsonl`` with one line per optimizer step (truncated to the resumed step on resume)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WandbSpec:
    """wandb settings: ``mode`` offline | online | disabled (None: ``WANDB_MODE``, else offline)."""

    mode: str | None = None
    project: str = "tsumugi"
    entity: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only the lines of steps <= ``last_step`` (a resumed run rewrites the steps after its checkpoint)."""
    if not path.is_file():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and json.loads(line)["step"] <= last_step
    ]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a ``metrics.jsonl``."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class Monitor:
    """Progress bar, wandb run and metrics file of rank 0; a no-op on other ranks."""

    def __init__(
        self,
        output_dir: Path,
        run_name: str,
        total_steps: int,
        start_step: int,
        config: dict[str, Any],
        wandb_spec: WandbSpec,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.metrics_path = output_dir / "metrics.jsonl"
        self._bar = self._wandb = None
        if not enabled:
            return
        from tqdm.auto import tqdm

        truncate_metrics(self.metrics_path, start_step)
        self._bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
        mode = wandb_spec.mode or os.environ.get("WANDB_MODE") or "offline"
        if mode != "disabled":
            import wandb

            self._wandb = wandb.init(
                mode=mode,
                project=wandb_spec.project,
                entity=wandb_spec.entity,
                name=run_name,
                id=_wandb_id(run_name),
                resume="allow",
                dir=str(output_dir),
                config=config,
                tags=list(wandb_spec.tags),
            )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record one optimizer step."""
        if not self.enabled:
            return
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, **metrics}) + "\n")
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)
        self._bar.set_postfix(
            loss=f"{metrics['loss']:.4f}",
            lr=f"{metrics['lr']:.2e}",
            tok_s=f"{metrics['tokens_per_s']:.0f}",
            refresh=False,
        )
        self._bar.update(1)

    def close(self) -> None:
        """Finish the bar and the wandb run."""
        if self._bar is not None:
            self._bar.close()
        if self._wandb is not None:
            self._wandb.finish()


def _wandb_id(run_name: str) -> str:
    """A wandb run id from the run name (stable, so a resumed run continues the same wandb run)."""
    import hashlib

    return hashlib.blake2b(run_name.encode("utf-8"), digest_size=8).hexdigest()
