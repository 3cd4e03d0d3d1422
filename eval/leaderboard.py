"""Leaderboards: score several models (or read existing run folders) and write ``leaderboard.{md,csv,png}``.

``python -m eval.leaderboard models=[me5-small,'runs/ckpt/*'] suite=quick`` (Hydra, ``conf/eval/leaderboard.yaml``).
Rows are sorted by JMTEB's ``Avg.`` (mean over datasets); the best value of each column is bold in the markdown.
Runs in different modes (official / corrected) are never mixed in one table. With ``baseline=<row name>`` the
markdown adds a table of differences from that row (points) and the chart a second panel of them, where the small
moves fine-tuning makes are visible.
"""

from __future__ import annotations

import csv
import glob
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embed.atomic import atomic_file

from .summary import (
    Summary,
    category_means,
    dataset_scores,
    markdown_tables,
    ordered_categories,
    overall_mean,
    read_summary,
)
from .summary import restrict as restrict_summary


@dataclass
class Entry:
    """One leaderboard row: a model's summary, where it came from and its mode."""

    name: str
    summary: Summary
    source: str
    mode: str = "official"
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def average(self) -> float:
        """JMTEB ``Avg.`` (fraction)."""
        return overall_mean(self.summary)


def _is_run(path: Path) -> bool:
    return (path.is_file() and path.name.endswith(".json")) or (
        path.is_dir() and (path / "summary.json").is_file()
    )


def expand(items: Sequence[str]) -> list[str]:
    """Expand globs (sorted; a pattern matching nothing is an error); other items are kept as given."""
    out: list[str] = []
    for item in items:
        item = str(item)
        if any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item))
            if not matches:
                raise FileNotFoundError(f"pattern {item!r} matches nothing")
            out += matches
        else:
            out.append(item)
    return out


def read_run(path: str | Path) -> Entry:
    """An entry from a run folder (ours: with ``meta.json``) or any JMTEB ``summary.json``."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    summary = read_summary(path)
    meta_path = folder / "meta.json"
    if not meta_path.is_file() and folder.name.startswith("dim_"):
        meta_path = folder.parent / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        name = meta.get("model", folder.name) + (
            f" @{folder.name[4:]}" if folder.name.startswith("dim_") else ""
        )
        labels = {ds: t.get("label", ds) for ds, t in meta.get("tasks", {}).items()}
        return Entry(name, summary, str(folder), meta.get("mode", "official"), labels)
    return Entry(f"{folder.parent.name}/{folder.name}", summary, str(folder))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def collect(
    items: Sequence[str],
    *,
    evaluate_fn: Callable[[str, Path], Entry] | None = None,
    runs_dir: str | Path | None = None,
    names: Mapping[str, str] | None = None,
) -> list[Entry]:
    """Entries for ``items``: run folders are read; anything else is scored by ``evaluate_fn(item, run_dir)``.

    ``names``: display names by item, for run folders read as they are too."""
    entries = []
    for item in expand(items):
        path = Path(item)
        if _is_run(path):
            entry = read_run(path)
            if names and item in names:
                entry.name = names[item]
            entries.append(entry)
            continue
        if evaluate_fn is None:
            raise ValueError(f"{item!r} is not a run folder and no evaluation was requested")
        run_dir = Path(runs_dir or "runs/leaderboard") / _slug(item)
        entries.append(evaluate_fn(item, run_dir))
    names: dict[str, int] = {}
    for e in entries:  # disambiguate repeated names
        names[e.name] = names.get(e.name, 0) + 1
        if names[e.name] > 1:
            e.name = f"{e.name} #{names[e.name]}"
    return entries


@dataclass
class Leaderboard:
    """Sorted rows (best ``Avg.`` first) in one mode."""

    entries: list[Entry]
    mode: str = "official"
    common_only: bool = False
    title: str = "JMTEB v1 leaderboard"
    baseline: str | None = None

    @classmethod
    def build(
        cls,
        entries: Sequence[Entry],
        *,
        common_only: bool = False,
        title: str | None = None,
        baseline: str | None = None,
    ) -> Leaderboard:
        """Check modes agree, optionally restrict to the common datasets, sort by ``Avg.``.

        ``baseline``: the name of the row the others are compared with (an error if no row has it)."""
        modes = {e.mode for e in entries}
        if len(modes) > 1:
            raise ValueError(
                f"cannot mix modes {sorted(modes)} in one leaderboard: "
                + ", ".join(f"{e.name}={e.mode}" for e in entries)
            )
        rows = list(entries)
        if common_only and rows:
            common = set.intersection(*(set(dataset_scores(e.summary)) for e in rows))
            rows = [
                Entry(e.name, restrict_summary(e.summary, common), e.source, e.mode, e.labels) for e in rows
            ]
        if baseline is not None and baseline not in {e.name for e in rows}:
            raise ValueError(
                f"baseline {baseline!r} is not a row of the leaderboard; rows: {', '.join(e.name for e in rows)}"
            )
        rows.sort(key=lambda e: (-e.average if e.average == e.average else math.inf, e.name))
        mode = modes.pop() if modes else "official"
        return cls(rows, mode, common_only, title or "JMTEB v1 leaderboard", baseline)

    def scores(self, entry: Entry) -> dict[str, float]:
        """``Avg.`` and each category's mean for one row (x100; NaN where the row lacks the category)."""
        means = category_means(entry.summary)
        return {"Avg.": 100 * entry.average} | {c: 100 * means.get(c, math.nan) for c in self.categories}

    def deltas(self) -> dict[str, dict[str, float]]:
        """Each non-baseline row's ``Avg.`` and category scores minus the baseline's, in points ({} without one)."""
        if self.baseline is None:
            return {}
        ref = self.scores(next(e for e in self.entries if e.name == self.baseline))
        return {
            e.name: {k: v - ref[k] for k, v in self.scores(e).items()}
            for e in self.entries
            if e.name != self.baseline
        }

    def delta_markdown(self) -> str:
        """The differences from the baseline as a markdown table (signed points), or "" without a baseline."""
        deltas = self.deltas()
        if not deltas:
            return ""
        groups = ["Avg.", *self.categories]
        lines = [
            f"## Difference from {self.baseline}",
            "",
            "Points (x100) above (+) or below (-) the baseline row.",
            "",
            "| Model | " + " | ".join(groups) + " |",
            "|:--|" + "--:|" * len(groups),
        ]
        for name, d in deltas.items():
            cells = ["" if d[g] != d[g] else f"{d[g]:+.2f}" for g in groups]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    @property
    def categories(self) -> list[str]:
        """Categories present in any row, in JMTEB order."""
        return ordered_categories({c: 1 for e in self.entries for c in e.summary})

    def markdown(self) -> str:
        """Summary table + one table per category, best values in bold."""
        labels: dict[str, str] = {}
        for e in self.entries:
            labels.update(e.labels)
        mode = (
            "official mode"
            if self.mode == "official"
            else f"{self.mode.upper()} mode (not comparable with JMTEB)"
        )
        head = [
            f"# {self.title}",
            "",
            f"Scores x100, {mode}. Avg. = mean over datasets (JMTEB); category = mean of its datasets.",
        ]
        sets = {frozenset(dataset_scores(e.summary)) for e in self.entries}
        if len(sets) > 1:
            head.append(
                "**Rows cover different datasets** (counts below); their averages are not directly comparable"
                " - use `common_only=true` to restrict to the shared ones."
            )
        head += ["", "| Model | datasets | source |", "|:--|--:|:--|"]
        head += [f"| {e.name} | {len(dataset_scores(e.summary))} | {e.source} |" for e in self.entries]
        tables = markdown_tables([(e.name, e.summary) for e in self.entries], labels=labels, bold_best=True)
        delta = self.delta_markdown()
        if delta:  # right after the summary table, before the per-category tables
            first, sep, rest = tables.partition("\n## ")
            tables = first.rstrip("\n") + "\n\n" + delta + ("\n## " + rest if sep else "")
        return "\n".join(head) + "\n\n" + tables

    def rows(self) -> list[dict[str, Any]]:
        """CSV rows: rank, model, Avg., one column per category (x100), number of datasets, source."""
        out = []
        for rank, e in enumerate(self.entries, 1):
            means = category_means(e.summary)
            row: dict[str, Any] = {"rank": rank, "model": e.name, "Avg.": _x100(e.average)}
            row.update({c: _x100(means.get(c)) for c in self.categories})
            row.update({"datasets": len(dataset_scores(e.summary)), "mode": e.mode, "source": e.source})
            out.append(row)
        return out

    def dataset_rows(self) -> list[dict[str, Any]]:
        """CSV rows with one column per dataset (x100)."""
        names = list(dict.fromkeys(d for e in self.entries for d in dataset_scores(e.summary)))
        return [
            {"model": e.name, **{d: _x100(dataset_scores(e.summary).get(d)) for d in names}}
            for e in self.entries
        ]

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard_datasets.csv`` and ``leaderboard.png``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "md": out / "leaderboard.md",
            "csv": out / "leaderboard.csv",
            "datasets_csv": out / "leaderboard_datasets.csv",
            "png": out / "leaderboard.png",
        }
        with atomic_file(paths["md"], "w") as f:
            f.write(self.markdown())
        _write_csv(paths["csv"], self.rows())
        _write_csv(paths["datasets_csv"], self.dataset_rows())
        plot(self, paths["png"])
        return paths


def _x100(x: float | None) -> float | str:
    return "" if x is None or x != x else round(100 * x, 2)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_file(path, "w") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _grouped_bars(
    ax: Any, series: Mapping[str, list[float]], colours: Mapping[str, str], *, annotate: bool
) -> None:
    """One bar per series in each group (x = 0, 1, ...); ``annotate`` writes each value as signed points."""
    m = max(len(series), 1)
    width = 0.8 / m
    for i, (name, vals) in enumerate(series.items()):
        pos = [g + (i - (m - 1) / 2) * width for g in range(len(vals))]
        ax.bar(pos, vals, width, label=name, color=colours[name])
        for px, v in zip(pos, vals, strict=True):
            if annotate and v == v:
                up = v >= 0
                ax.annotate(
                    f"{v:+.2f}",
                    (px, v),
                    ha="center",
                    va="bottom" if up else "top",
                    fontsize=6,
                    xytext=(0, 2 if up else -2),
                    textcoords="offset points",
                )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(axis="y", alpha=0.3)


def plot(board: Leaderboard, path: str | Path) -> Path:
    """Grouped bar chart (Agg backend): ``Avg.`` and each category, one bar per model; with a baseline, a second
    panel shows each other model's difference from it in points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = ["Avg.", *board.categories]
    deltas = board.deltas()
    size = (max(6.0, 1.4 * len(groups) + 0.25 * len(board.entries)), 7.5 if deltas else 4.5)
    fig, axes = plt.subplots(2 if deltas else 1, 1, figsize=size, squeeze=False)
    colours = {e.name: f"C{i % 10}" for i, e in enumerate(board.entries)}
    ax = axes[0][0]
    scores = {e.name: list(board.scores(e).values()) for e in board.entries}  # in `groups` order
    _grouped_bars(ax, scores, colours, annotate=False)
    ax.set_ylabel("score x100")
    ax.set_title(board.title + ("" if board.mode == "official" else f" [{board.mode}]"))
    if deltas:
        ax = axes[1][0]
        _grouped_bars(
            ax, {name: [d[g] for g in groups] for name, d in deltas.items()}, colours, annotate=True
        )
        ax.axhline(0, color="black", lw=0.8)
        ax.margins(y=0.15)
        ax.set_ylabel(f"points vs {board.baseline}")
        ax.set_title(f"difference from {board.baseline}", fontsize=10)
    for row in axes:
        row[0].set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, dpi=120, format="png")
    plt.close(fig)
    return Path(path)


def make_leaderboard(
    items: Sequence[str],
    out_dir: str | Path,
    *,
    evaluate_kwargs: Mapping[str, Any] | None = None,
    common_only: bool = False,
    title: str | None = None,
    names: Sequence[str] | None = None,
    baseline: str | None = None,
) -> Leaderboard:
    """Score (or read) every item, then write the leaderboard files into ``out_dir``; returns the board.

    ``names``: display names, one per item (default: the item string); ``baseline``: the row (display name or
    item) the others are compared with."""
    out_dir = Path(out_dir)
    if names is not None and len(names) != len(items):
        raise ValueError(f"names has {len(names)} entries for {len(items)} models; give one name per model")
    display = dict(zip(items, names, strict=True)) if names is not None else {}
    if baseline is not None and baseline in display:  # given as the item: use its display name
        baseline = display[baseline]

    def _evaluate(item: str, run_dir: Path) -> Entry:
        from .runner import evaluate

        kwargs = dict(evaluate_kwargs or {})
        if item in display:
            kwargs["name"] = display[item]
        res = evaluate(item, out_dir=run_dir, print_table=False, **kwargs)
        return Entry(res.model, res.summary(), str(run_dir), res.mode, res.labels)

    board = Leaderboard.build(
        collect(items, evaluate_fn=_evaluate, runs_dir=out_dir / "runs", names=display),
        common_only=common_only,
        title=title,
        baseline=baseline,
    )
    paths = board.write(out_dir)
    print(board.markdown())
    print(f"[leaderboard] wrote {', '.join(str(p) for p in paths.values())}")
    return board


if __name__ == "__main__":
    from embed.procs import install_reaper

    from .cli import leaderboard_main

    install_reaper()
    leaderboard_main()
