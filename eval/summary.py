"""JMTEB v1 ``summary.json`` arithmetic and tables: category means and the overall average over datasets.

As ``make_leaderboard.py``: a category's score is the mean of its datasets, the overall ``Avg.`` is the mean over
all datasets (not over categories), and displayed scores are x100 with two decimals (``summary.json`` stores
fractions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from .tasks import CATEGORIES

Summary = dict[str, dict[str, dict[str, float]]]
"""``{Category: {dataset: {metric_name: value}}}``, values in [0, 1]."""


def main_value(metrics: Mapping[str, float]) -> float:
    """The dataset's main score: its single metric (JMTEB writes exactly one per dataset)."""
    if len(metrics) != 1:
        raise ValueError(f"expected one metric per dataset in summary.json, got {sorted(metrics)}")
    return float(next(iter(metrics.values())))


def ordered_categories(summary: Mapping[str, object]) -> list[str]:
    """Categories in JMTEB order, then any unknown ones alphabetically."""
    return [c for c in CATEGORIES if c in summary] + sorted(c for c in summary if c not in CATEGORIES)


def dataset_scores(summary: Summary) -> dict[str, float]:
    """``{dataset: main value}`` over all categories."""
    return {ds: main_value(m) for cat in ordered_categories(summary) for ds, m in summary[cat].items()}


def category_means(summary: Summary) -> dict[str, float]:
    """Mean main score per category (fractions)."""
    out = {}
    for cat in ordered_categories(summary):
        values = [main_value(m) for m in summary[cat].values()]
        if values:
            out[cat] = sum(values) / len(values)
    return out


def overall_mean(summary: Summary) -> float:
    """JMTEB's ``Avg.``: the mean over all datasets, not over categories (fraction; NaN when empty)."""
    values = list(dataset_scores(summary).values())
    return sum(values) / len(values) if values else float("nan")


def restrict(summary: Summary, datasets: set[str]) -> Summary:
    """Only the datasets named (empty categories dropped)."""
    out: Summary = {}
    for cat, dss in summary.items():
        kept = {ds: m for ds, m in dss.items() if ds in datasets}
        if kept:
            out[cat] = kept
    return out


def read_summary(path: str | Path) -> Summary:
    """A ``summary.json`` (a file, or a folder containing one), checked for the v1 layout."""
    path = Path(path)
    if path.is_dir():
        path = path / "summary.json"
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: not a JMTEB v1 summary ({{Category: {{dataset: {{metric: value}}}}}})")
    for cat, dss in data.items():
        for ds, metrics in dss.items():
            if not isinstance(metrics, dict) or not metrics:
                raise ValueError(f"{path}: {cat}/{ds} must map a metric name to a value")
    return data


def _fmt(x: float | None) -> str:
    return "" if x is None or x != x else f"{100 * x:.2f}"


def markdown_tables(
    rows: list[tuple[str, Summary]],
    *,
    labels: Mapping[str, str] | None = None,
    bold_best: bool = False,
    references: Mapping[str, Summary] | None = None,
) -> str:
    """JMTEB leaderboard-style markdown: a summary table (Avg., one column per category), then one per category.

    ``labels`` renames datasets in column headers (e.g. stand-in notes); ``references`` adds rows per model label
    with published scores (the same datasets only) below each category table.
    """
    labels = labels or {}
    cats = ordered_categories({c: 1 for _, s in rows for c in s})
    lines = [
        "## Summary",
        "",
        "| Model | Avg. | " + " | ".join(cats) + " |",
        "|:--|" + "--:|" * (len(cats) + 1),
    ]
    table = [(name, overall_mean(s), category_means(s)) for name, s in rows]
    best_avg = max((a for _, a, _ in table if a == a), default=None)
    best_cat = {c: max((m[c] for _, _, m in table if c in m), default=None) for c in cats}

    def cell(x: float | None, best: float | None) -> str:
        s = _fmt(x)
        return f"**{s}**" if bold_best and s and x == best and len(rows) > 1 else s

    for name, avg, means in table:
        lines.append(
            f"| {name} | {cell(avg, best_avg)} | "
            + " | ".join(cell(means.get(c), best_cat[c]) for c in cats)
            + " |"
        )
    for cat in cats:
        datasets = list(dict.fromkeys(ds for _, s in rows for ds in s.get(cat, {})))
        lines += [
            "",
            f"## {cat}",
            "",
            "| Model | Avg. | " + " | ".join(labels.get(d, d) for d in datasets) + " |",
            "|:--|" + "--:|" * (len(datasets) + 1),
        ]
        best = {
            d: max((main_value(s[cat][d]) for _, s in rows if d in s.get(cat, {})), default=None)
            for d in datasets
        }
        cat_best = best_cat[cat]
        for name, s in rows:
            dss = s.get(cat, {})
            mean = category_means({cat: dss}).get(cat) if dss else None
            vals = [cell(main_value(dss[d]) if d in dss else None, best[d]) for d in datasets]
            lines.append(f"| {name} | {cell(mean, cat_best)} | " + " | ".join(vals) + " |")
        for ref_name, ref in (references or {}).items():
            dss = {d: m for d, m in ref.get(cat, {}).items() if d in datasets}
            if dss:
                vals = [_fmt(main_value(dss[d])) if d in dss else "" for d in datasets]
                lines.append(f"| {ref_name} (published) | | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"
