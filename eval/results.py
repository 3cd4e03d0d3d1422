"""What a run produced: per-task outcomes and skips, viewed as JMTEB v1 summaries and leaderboard tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .run_task import TaskOutcome
from .suite import Skipped
from .summary import Summary, category_means, markdown_tables, overall_mean


@dataclass
class Results:
    """A finished (or partial) evaluation; ``dims`` lists Matryoshka widths scored besides the full one."""

    model: str
    fingerprint: str
    suite: str
    mode: str
    outcomes: list[TaskOutcome] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    dims: list[int] = field(default_factory=list)
    run_dir: Path | None = None
    elapsed_s: float = 0.0

    def summary(self, dim: int | None = None) -> Summary:
        """``{Category: {dataset: {metric_name: value}}}`` (fractions) at width ``dim`` (None: full)."""
        out: Summary = {}
        for o in self.outcomes:
            s = o.scores[dim]
            out.setdefault(o.task.category, {})[o.task.name] = {s.metric_name: float(s.metric_value)}
        return out

    def average(self, dim: int | None = None) -> float:
        """JMTEB ``Avg.``: mean over datasets (fraction)."""
        return overall_mean(self.summary(dim))

    def category_means(self, dim: int | None = None) -> dict[str, float]:
        """Mean per category (fractions)."""
        return category_means(self.summary(dim))

    @property
    def labels(self) -> dict[str, str]:
        """Table labels per dataset (stand-in / approximate / subsample notes)."""
        return {o.task.name: o.task.label for o in self.outcomes}

    def title(self) -> str:
        """One line naming model, suite and mode."""
        mode = (
            "official mode"
            if self.mode == "official"
            else f"{self.mode.upper()} mode (not comparable with JMTEB)"
        )
        return f"JMTEB v1 scores x100 - {self.model} - suite {self.suite} - {mode}"

    def table(self) -> str:
        """Leaderboard-style markdown for this model: one row at full width, then one per Matryoshka width."""
        rows = [(self.model, self.summary())] + [(f"{self.model} @{d}", self.summary(d)) for d in self.dims]
        text = f"# {self.title()}\n\n" + markdown_tables(rows, labels=self.labels)
        if self.skipped:
            text += "\n## Skipped\n\n" + "".join(
                f"- {s.name} ({s.category}): {s.reason}\n" for s in self.skipped
            )
        return text
