"""Run the full ``local`` suite on one model and print our JMTEB v1 table beside the published reference.

    .venv/bin/python bench/jmteb_local.py                       # me5-small vs intfloat/multilingual-e5-small
    .venv/bin/python bench/jmteb_local.py --model PATH --reference cl-nagoya/ruri-small --prefix e5

Comparable rows: JSTS and AmazonCounterfactual (same data and split as JMTEB), JSICK (same data, approximate
split: comparable in distribution only). Stand-in rows have no published counterpart. Embeddings are cached, so a
second run only re-scores. Budget: under 15 minutes on 2 idle CPU cores for me5-small.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval.runner import evaluate  # noqa: E402
from eval.suite import default_data_root, get_suite  # noqa: E402
from eval.summary import dataset_scores, read_summary  # noqa: E402

COMPARABLE = {"jsts": "exact", "amazon_counterfactual_classification": "exact", "jsick": "approx. split"}


def comparison_table(ours: dict, ref: dict, labels: dict[str, str], ref_name: str) -> str:
    """Markdown: dataset | ours | published | diff | comparability (x100)."""
    mine, theirs = dataset_scores(ours), dataset_scores(ref)
    lines = [f"| dataset | ours | {ref_name} (published) | diff | comparable |", "|:--|--:|--:|--:|:--|"]
    for ds, v in mine.items():
        status = COMPARABLE.get(
            ds, "stand-in, no published value" if "stand-in" in labels.get(ds, "") else "-"
        )
        if ds in theirs and ds in COMPARABLE:
            lines.append(
                f"| {labels.get(ds, ds)} | {100 * v:.2f} | {100 * theirs[ds]:.2f} | "
                f"{100 * (v - theirs[ds]):+.2f} | {status} |"
            )
        else:
            lines.append(f"| {labels.get(ds, ds)} | {100 * v:.2f} | | | {status} |")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run the suite, print both tables and the timing."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="me5-small")
    ap.add_argument(
        "--reference",
        default="intfloat/multilingual-e5-small",
        help="org/model under jmteb_fixtures/reference_results",
    )
    ap.add_argument("--prefix", default="model", help="prefix preset: model | e5 | qwen3 | none")
    ap.add_argument("--suite", default="local")
    ap.add_argument("--tasks", nargs="*", default=None)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out-dir", default=str(REPO / "runs" / "bench" / "jmteb_local"))
    ap.add_argument("--cache-dir", default="~/.cache/tsumugi/eval-embeddings")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=None)
    args = ap.parse_args()

    root = Path(args.data_root) if args.data_root else default_data_root()
    t0 = time.perf_counter()
    res = evaluate(
        args.model,
        get_suite(args.suite, root),
        prefixes=args.prefix,
        out_dir=args.out_dir,
        cache_dir=args.cache_dir,
        batch_size=args.batch_size,
        max_length=args.max_length,
        tasks=args.tasks,
        print_table=True,
    )
    elapsed = time.perf_counter() - t0
    ref = read_summary(root / "jmteb_fixtures" / "reference_results" / args.reference)
    print(f"\n## {args.model} vs published {args.reference} (x100)\n")
    print(comparison_table(res.summary(), ref, res.labels, args.reference))
    encoded = sum(o.timing["texts_encoded"] for o in res.outcomes)
    print(
        f"\nwall time {elapsed:.0f}s ({encoded} texts encoded; the rest from the cache); run folder {args.out_dir}"
    )


if __name__ == "__main__":
    main()
