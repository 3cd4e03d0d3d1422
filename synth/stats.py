"""The per-run stats report: counts per task/type/difficulty/language, acceptance by reason, lengths, tokens/s."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from synth.histogram import histogram, length_edges, render
from synth.shards import shards_root
from synth.store import atomic_write_json, generated_dirs

META_KEYS = ("question_type", "difficulty", "query_language", "persona_rank", "taxonomy", "label", "style")


def _counts(records: list[Mapping]) -> dict:
    out: dict[str, dict] = {"task": dict(Counter(r["task"] for r in records))}
    for key in META_KEYS:
        c = Counter(str(r["meta"][key]) for r in records if key in (r.get("meta") or {}))
        if c:
            out[key] = dict(sorted(c.items()))
    by_task_type: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        meta = r.get("meta") or {}
        if "question_type" in meta:
            by_task_type[f"{meta['question_type']}/{meta['difficulty']}"][meta["query_language"]] += 1
    if by_task_type:
        out["type_difficulty_language"] = {k: dict(v) for k, v in sorted(by_task_type.items())}
    return out


def _lengths(texts: list[str]) -> dict:
    if not texts:
        return {}
    lens = [len(t) for t in texts]
    lens_sorted = sorted(lens)
    return {
        "mean": round(sum(lens) / len(lens), 1),
        "min": lens_sorted[0],
        "median": lens_sorted[len(lens) // 2],
        "max": lens_sorted[-1],
        "histogram": histogram(lens, length_edges(lens_sorted[-1])),
    }


def engine_totals(out_dir: str | Path) -> dict:
    """Engine counters summed over workers; throughput is the sum of the workers' rates (they run in parallel)."""
    total: Counter = Counter()
    rate = 0.0
    for path in [d / "manifest.json" for d in generated_dirs(out_dir)] + [
        shards_root(out_dir) / "manifest.json"
    ]:
        if path.exists():
            eng = json.loads(path.read_text(encoding="utf-8")).get("engine_total", {})
            total.update(
                {k: v for k, v in eng.items() if isinstance(v, int | float) and k != "output_tokens_per_s"}
            )
            rate += eng.get("output_tokens_per_s") or 0.0
    out = dict(total)
    out["output_tokens_per_s"] = round(rate, 2) if rate else None
    return out


def build_stats(
    generated: Iterable[Mapping], rejects: Iterable[Mapping], out_dir: str | Path, reports: Mapping[str, dict]
) -> dict:
    """The report as a dict (see the module docstring)."""
    records = list(generated)
    rejected = list(rejects)
    by_reason: dict[str, Counter] = defaultdict(Counter)
    for r in rejected:
        by_reason[r["task"]][r["reason"]] += 1
    acceptance = {}
    for task in sorted({r["task"].split("/")[0] for r in records} | set(by_reason)):
        acc = sum(1 for r in records if r["task"].split("/")[0] == task)
        rej = sum(by_reason[task].values())
        acceptance[task] = {
            "accepted": acc,
            "rejected": rej,
            "rate": round(acc / (acc + rej), 4) if acc + rej else None,
            "rejected_by_reason": dict(sorted(by_reason[task].items())),
        }
    return {
        "generated": len(records),
        "rejected": len(rejected),
        "acceptance": acceptance,
        "rejected_by_reason": dict(Counter(r["reason"] for r in rejected).most_common()),
        "rejected_by_step": dict(Counter(r.get("step", "?") for r in rejected).most_common()),
        "counts": _counts(records),
        "lengths": {
            "query_chars": _lengths([r["query"] for r in records]),
            "positive_chars": _lengths([r["positive"] for r in records if isinstance(r["positive"], str)]),
        },
        "engine": engine_totals(out_dir),
        **{k: v for k, v in reports.items() if v},
    }


def render_markdown(stats: Mapping) -> str:
    """A short human-readable version of the report."""
    lines = ["# synth run stats", ""]
    eng = stats.get("engine", {})
    lines += [
        f"- generated (accepted): {stats['generated']}, rejected: {stats['rejected']}",
        f"- engine: {eng.get('requests', 0)} requests, {eng.get('output_tokens', 0)} output tokens in "
        f"{eng.get('seconds', 0):.1f} s = {eng.get('output_tokens_per_s')} output tokens/s",
        "",
        "## Acceptance",
        "",
        "| task | accepted | rejected | rate | by reason |",
        "|---|---|---|---|---|",
    ]
    for task, a in stats["acceptance"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in a["rejected_by_reason"].items()) or "-"
        lines.append(f"| {task} | {a['accepted']} | {a['rejected']} | {a['rate']} | {reasons} |")
    lines += ["", "## Counts", ""]
    for key, counts in stats["counts"].items():
        lines.append(f"- **{key}**: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    for name, ls in stats["lengths"].items():
        if ls:
            lines += [
                "",
                f"## {name} (mean {ls['mean']}, median {ls['median']}, max {ls['max']})",
                "",
                "```",
                render(ls["histogram"], fmt="{:.0f}"),
                "```",
            ]
    if "filter" in stats:
        f = stats["filter"]
        lines += [
            "",
            f"## Cosine filter: kept {f['kept']} of {f['total']} ({f['settings']})",
            "",
            "```",
            render(f["histogram"]),
            "```",
        ]
    if "mine" in stats:
        m = stats["mine"]
        lines += [
            "",
            f"## Hard negatives: {m['full']} of {m['queries']} queries got the full count",
            f"- per query: {m['negatives_per_query']}; dropped by margin: {m['dropped_by_margin']}",
            f"- mean positive score {m['positive_score_mean']}, mean negative score {m['negative_score_mean']}",
        ]
    if "export" in stats:
        lines += [
            "",
            f"## Training records: {stats['export']['records']}",
            *(f"- {t}: {v['records']} ({v['file']})" for t, v in stats["export"]["files"].items()),
        ]
    return "\n".join(lines) + "\n"


def write_stats(stats: Mapping, out_dir: str | Path) -> Path:
    """Write ``stats.json`` and ``stats.md`` into ``out_dir``; returns the JSON path."""
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "stats.json", stats)
    (out_dir / "stats.md").write_text(render_markdown(stats), encoding="utf-8")
    return out_dir / "stats.json"
