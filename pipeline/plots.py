"""Training loss curves of the pipeline's stages in one PNG (matplotlib, headless)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from embed.atomic import atomic_file


def read_losses(metrics: Path) -> tuple[list[int], list[float]]:
    """(steps, losses) of a train/ ``metrics.jsonl``; empty lists when the file is missing."""
    steps: list[int] = []
    losses: list[float] = []
    if not metrics.is_file():
        return steps, losses
    for line in metrics.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            if "loss" in rec:
                steps.append(int(rec["step"]))
                losses.append(float(rec["loss"]))
    return steps, losses


def plot_losses(runs: Mapping[str, Path], out: Path) -> Path | None:
    """One panel per training stage (``{label: train output folder}``), raw loss and a moving average."""
    curves = {label: read_losses(path / "metrics.jsonl") for label, path in runs.items()}
    curves = {k: v for k, v in curves.items() if v[0]}
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), squeeze=False)
    for ax, (label, (steps, losses)) in zip(axes[0], curves.items(), strict=True):
        ax.plot(steps, losses, color="#9ab", lw=1, label="loss")
        w = max(1, len(losses) // 10)
        if w > 1:
            avg = [
                sum(losses[max(0, i - w + 1) : i + 1]) / len(losses[max(0, i - w + 1) : i + 1])
                for i in range(len(losses))
            ]
            ax.plot(steps, avg, color="#c33", lw=2, label=f"mean of {w}")
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.set_ylabel("InfoNCE loss")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_file(out, "wb") as f:
        fig.savefig(f, dpi=110, format="png")
    plt.close(fig)
    return out
