"""The paper's Table 5 in miniature: which parts of the Qwen3-Embedding recipe turn a decoder LM into an embedding
model. Every arm is a ``python -m pipeline`` run of one scale (default ``scale=decoder``: gemma-3-270m), so every
arm has the same model, steps, batch, lengths, learning rate and eval rows:

    .venv/bin/python bench/recipe_ablation.py [--out runs/bench/recipe_ablation] [--synth-from RUN/synth]
        [--scale decoder] [-- extra pipeline overrides for every arm]

| arm | what | pipeline run |
|:--|:--|:--|
| (a) | the untrained backbone | every run's ``base`` |
| (b) | stage 1 only (synthetic data only) | ``full``'s stage1 |
| (c) | stage 2 without synthetic data (JaQuAD train only, from the backbone) | ``nosyn``: stages=[stage2,eval] |
| (d) | stages 1 + 2, no merging | ``full``'s stage2 |
| (e) | the full recipe: stages 1 + 2 and the checkpoint merge | ``full``'s merge |
| (f) | (d) with sentence-transformers' MultipleNegativesRankingLoss | ``mnrl``: loss=mnrl in both stages |
| (g) | (d) without the document-document term (4) of Z | ``nodd``: loss.terms=[pos,hn,qq,qd] |
| (h) | (d) with MNRL's terms (1, 2, 5) but the paper's mask | ``mnrlterms``: loss.terms=[pos,hn,qd] |

(f) swaps only the loss: ``loss=mnrl`` is sentence-transformers' MNRL (q against every positive and hard negative
of the batch, no mask; ``tests/train/test_improved_infonce.py`` checks it against
``sentence_transformers.losses.MultipleNegativesRankingLoss``) at the scale's temperature; everything else is (d).
One synthetic set serves every arm: the ``full`` run's synth stage (or ``--synth-from``, copied). Eval embeddings
are cached, so the base model is encoded once. Wall time per arm = the sum of its stages' times
(``stage_time.json``): training and merging, not eval. Writes ``<out>/ablation.{md,json}``; a re-run skips the
finished stages of every arm (the pipeline's ``.done`` markers).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = {
    "a": ("untrained backbone", "full", "base"),
    "b": ("stage 1 only (synthetic only)", "full", "stage1"),
    "c": ("stage 2 without synthetic data", "nosyn", "stage2"),
    "d": ("stages 1+2, no merging", "full", "stage2"),
    "e": ("full recipe (1+2+merge)", "full", "merged"),
    "f": ("(d) with ST MultipleNegativesRankingLoss", "mnrl", "stage2"),
    "g": ("(d) without the d-d term (4)", "nodd", "stage2"),
    "h": ("(d) with MNRL's terms (1, 2, 5), the paper's mask kept", "mnrlterms", "stage2"),
}
TIMED_STAGES = {"a": [], "b": ["stage1"], "c": ["stage2"], "d": ["stage1", "stage2"]}
TIMED_STAGES |= {"e": ["stage1", "stage2", "merge"], "f": ["stage1", "stage2"], "g": ["stage1", "stage2"]}
TIMED_STAGES |= {"h": ["stage1", "stage2"]}
RUNS = {
    "full": [],
    "nosyn": ["stages=[stage2,eval]", "stage2.use_synthetic=false"],
    "mnrl": ["stages=[stage1,stage2,eval]", "stage1.extra=['loss=mnrl']", "stage2.extra=['loss=mnrl']"],
    "nodd": [
        "stages=[stage1,stage2,eval]",
        "stage1.extra=['loss.terms=[pos,hn,qq,qd]']",
        "stage2.extra=['loss.terms=[pos,hn,qq,qd]']",
    ],
    "mnrlterms": [
        "stages=[stage1,stage2,eval]",
        "stage1.extra=['loss.terms=[pos,hn,qd]']",
        "stage2.extra=['loss.terms=[pos,hn,qd]']",
    ],
}


def copy_synth(source: Path, run_dir: Path) -> None:
    """Give ``run_dir`` the synthetic set of ``source`` (a finished synth stage folder), marked done."""
    target = run_dir / "synth"
    if (target / ".done").exists():
        return
    if not (source / "train" / "all.jsonl").is_file():
        raise SystemExit(f"--synth-from {source}: no train/all.jsonl (not a finished synth stage folder)")
    tmp = target.with_name("synth.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("cache"))
    (tmp / ".done").write_text((source / ".done").read_text() if (source / ".done").exists() else "null")
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp.rename(target)


def run_pipeline(run_dir: Path, scale: str, args: list[str], log: Path) -> None:
    """One pipeline run (its own process group is the pipeline's business); fails loudly with the log's tail."""
    cmd = [sys.executable, "-m", "pipeline", f"scale={scale}", f"run_dir={run_dir}", *args]
    print("$", " ".join(cmd), flush=True)
    with log.open("a", encoding="utf-8") as f:
        rc = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = "".join(log.read_text(encoding="utf-8").splitlines(keepends=True)[-30:])
        raise SystemExit(f"pipeline run {run_dir} failed (exit {rc}); last lines of {log}:\n{tail}")


def read_scores(eval_dir: Path) -> dict[str, dict[str, float]]:
    """``{model label: {column: score x100}}`` from a pipeline eval stage (categories and datasets)."""
    out: dict[str, dict[str, float]] = {}
    for name in ("leaderboard.csv", "leaderboard_datasets.csv"):
        with (eval_dir / name).open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for k, v in row.items():
                    if k not in ("rank", "model", "datasets", "mode", "source") and v not in ("", None):
                        out.setdefault(row["model"], {})[k] = float(v)
    return out


def stage_seconds(run_dir: Path, stage: str) -> float:
    path = run_dir / stage / "stage_time.json"
    return float(json.loads(path.read_text(encoding="utf-8"))["seconds"]) if path.is_file() else float("nan")


def table(rows: list[dict], columns: list[str]) -> str:
    """The ablation as one markdown table: arms x (Avg., categories, datasets, wall time)."""
    head = ["arm", "what", *columns, "train+merge wall (s)"]
    lines = ["| " + " | ".join(head) + " |", "|:--|:--|" + "--:|" * (len(columns) + 1)]
    best = {c: max((r["scores"].get(c, float("-inf")) for r in rows), default=None) for c in columns}
    for r in rows:
        cells = []
        for c in columns:
            v = r["scores"].get(c)
            cells.append("" if v is None else (f"**{v:.2f}**" if v == best[c] else f"{v:.2f}"))
        lines.append(f"| ({r['arm']}) | {r['what']} | " + " | ".join(cells) + f" | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "recipe_ablation")
    ap.add_argument("--scale", default="decoder")
    ap.add_argument("--synth-from", type=Path, default=None, help="a finished synth stage folder to reuse")
    ap.add_argument("overrides", nargs="*", help="extra pipeline overrides for every arm")
    a = ap.parse_args()
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if a.synth_from:
        copy_synth(a.synth_from.resolve(), out / "full")
    for name, extra in RUNS.items():
        run_dir = out / name
        if name != "full":
            copy_synth(out / "full" / "synth", run_dir)
        run_pipeline(run_dir, a.scale, [*extra, *a.overrides], out / f"{name}.log")
    scores = {name: read_scores(out / name / "eval") for name in RUNS}
    rows = []
    for arm, (what, run, label) in ARMS.items():
        seconds = sum(stage_seconds(out / run, s) for s in TIMED_STAGES[arm])
        rows.append(
            {
                "arm": arm,
                "what": what,
                "run": run,
                "model": label,
                "scores": scores[run][label],
                "seconds": seconds,
            }
        )
    columns = list(dict.fromkeys(c for r in rows for c in r["scores"]))
    md = table(rows, columns)
    header = (
        f"recipe ablation, scale={a.scale} ({' '.join(a.overrides) or 'no extra overrides'}), "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {time.perf_counter() - started:.0f} s this run"
    )
    (out / "ablation.md").write_text(f"{header}\n\n{md}\n", encoding="utf-8")
    (out / "ablation.json").write_text(
        json.dumps({"header": header, "rows": rows}, indent=1), encoding="utf-8"
    )
    print(f"\n{header}\n\n{md}\n\nwrote {out / 'ablation.md'}")


if __name__ == "__main__":
    main()
