"""Reranker quality: a reranker trained on JaQuAD train re-ranks me5-small's ranking of the local
``jsquad_reranking`` stand-in; nDCG@10 of the embedding-only ranking (the peer, same run) vs after reranking.

    .venv/bin/python bench/reranker_quality.py                              # me5-small cross-encoder (defaults)
    .venv/bin/python bench/reranker_quality.py --model gemma3-270m --method lora --max-length 320 --lr 2e-4
    .venv/bin/python bench/reranker_quality.py --quick                      # smoke test: 6 steps, 30 queries

Data (never the eval data: JSQuAD is the eval stand-in, JaQuAD train the only training source):
- ``--articles`` seeded JaQuAD train articles; their paragraphs and queries encoded with me5-small
  (``query: `` / ``passage: ``); each query's hard negatives = its article's paragraphs ranked highest by
  me5-small after the gold one (the candidates the reranker will face: jsquad_reranking ranks the paragraphs of
  the question's article); ``--queries`` seeded queries written as tsumugi records (query, positive, negatives).
Training: ``python -m train.reranker`` (a subprocess, conf/rerank/train.yaml) with the overrides printed in the
log; resumable (an existing ``final/`` is kept unless ``--retrain``).
Eval: ``eval.rerank.evaluate_reranker`` on jsquad_reranking test (``--eval-queries`` seeded queries, all their
candidates): me5-small ranks every candidate (prefix preset ``model``, cosine), the reranker re-scores the
top ``--top-k`` (10, 5 and 3; each pair is scored once); the same nDCG code (eval.scoring.metrics, JMTEB v1
reranking) scores both orders.

Defaults = the run in bench/RESULTS.md: me5-small cross-encoder, listwise (1 positive + 3 negatives), 4 groups per
step, 200 steps, lr 2e-4 (x5 on the fresh head), frozen word embeddings and bottom 4 blocks, max length 192.
At lr 5e-5 (x20 head) the listwise loss stayed near ln 4 for 60 steps: too slow for a CPU budget.
Results: ``<out>/results-<tag>.{md,json}``; the table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("TSUMUGI_SHARED", REPO.parent / "shared"))
JAQUAD_TRAIN = SHARED / "data" / "jaquad" / "jmteb_format" / "train"
PRESETS = {"me5-small": "me5-small-ce", "gemma3-270m": "gemma3-270m", "qwen3-tiny-lm": "qwen3-tiny-lm"}


def _log(msg: str) -> None:
    print(f"[reranker_quality {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------- data
def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_records(path: Path, articles: int, queries: int, negatives: int, seed: int, threads: int) -> dict:
    """JaQuAD train records with me5-small-mined same-article hard negatives (cached in ``path``)."""
    meta_path = path.with_suffix(".meta.json")
    if path.is_file() and meta_path.is_file():
        return json.loads(meta_path.read_text(encoding="utf-8"))
    import numpy as np
    import torch

    from embed import EmbeddingModel
    from embed.atomic import atomic_file

    torch.set_num_threads(threads)
    corpus = {d["docid"]: d["text"] for d in _read_jsonl(JAQUAD_TRAIN / "corpus.jsonl")}
    rows = _read_jsonl(JAQUAD_TRAIN / "retrieval_queries.jsonl")

    def article(docid: str) -> str:  # tr-<article>-<paragraph>
        return docid.rsplit("-", 1)[0]

    rng = random.Random(seed)
    chosen = set(rng.sample(sorted({article(d) for d in corpus}), articles))
    docs = sorted(d for d in corpus if article(d) in chosen)
    rows = [r for r in rows if article(r["relevant_docs"][0]) in chosen]
    rows = sorted(rng.sample(rows, min(queries, len(rows))), key=lambda r: r["qid"])
    model = EmbeddingModel.load("me5-small", device="cpu")
    t0 = time.perf_counter()
    d_emb = model.encode([corpus[d] for d in docs], prompt="passage: ", batch_size=32, show_progress=True)
    q_emb = model.encode([r["query"] for r in rows], prompt="query: ", batch_size=32, show_progress=True)
    encode_s = time.perf_counter() - t0
    row_of = {d: i for i, d in enumerate(docs)}
    by_article: dict[str, list[int]] = {}
    for d in docs:
        by_article.setdefault(article(d), []).append(row_of[d])
    gold_rank = []
    with atomic_file(path, "w") as out:
        for qi, r in enumerate(rows):
            gold = r["relevant_docs"][0]
            cands = by_article[article(gold)]
            sims = d_emb[cands] @ q_emb[qi]
            order = [cands[j] for j in np.argsort(-sims, kind="stable")]
            gold_rank.append([docs[j] for j in order].index(gold))
            negs = [corpus[docs[j]] for j in order if docs[j] != gold][:negatives]
            record = {"query": r["query"], "positive": corpus[gold], "negatives": negs}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    meta = {
        "articles": articles,
        "paragraphs": len(docs),
        "queries": len(rows),
        "negatives_per_query": negatives,
        "me5_gold_at_rank1": round(sum(g == 0 for g in gold_rank) / len(rows), 4),
        "encode_s": round(encode_s, 1),
        "seed": seed,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


# -------------------------------------------------------------------------------------------------- train
def train(args, records: Path, out: Path) -> tuple[Path, float]:
    """``python -m train.reranker`` in a subprocess; returns the final folder and the summed step seconds."""
    final = out / "final"
    if not final.is_dir() or args.retrain:
        overrides = [
            f"model={PRESETS[args.model]}",
            f"model.max_length={args.max_length}",
            f"data.datasets=[{{path: '{records}', name: jaquad_hn}}]",
            f"data.batch_size={args.batch}",
            f"data.hard_negatives_k={args.k}",
            f"reranker.objective={args.objective}",
            f"reranker.loss={args.loss}",
            f"finetune.method={args.method}",
            f"finetune.freeze_input_embeddings={str(args.freeze_embeddings).lower()}",
            f"finetune.freeze_layers={args.freeze_layers}",
            f"finetune.lora.r={args.lora_r}",
            f"finetune.lora.alpha={2 * args.lora_r}",
            f"optim.lr={args.lr}",
            f"reranker.head_lr_scale={args.head_lr_scale}",
            f"optim.warmup_ratio={args.warmup}",
            "optim.scheduler=linear",
            f"trainer.max_steps={args.steps}",
            f"trainer.save_every={args.save_every}",
            "trainer.keep_last=1",
            "wandb.mode=disabled",
            f"seed={args.seed}",
            f"output_dir={out}",
            f"run_name=bench-{out.name}",
        ]
        _log("train: python -m train.reranker " + " ".join(overrides))
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
        subprocess.run([sys.executable, "-m", "train.reranker", *overrides], cwd=REPO, env=env, check=True)
    from train.monitor import read_metrics

    metrics = read_metrics(out / "metrics.jsonl")
    return final, sum(m["step_seconds"] for m in metrics)


# --------------------------------------------------------------------------------------------------- eval
class MemoScorer:
    """Scores each (query, document) pair once across several top-k evaluations (bench-side memo)."""

    def __init__(self, reranker) -> None:
        self.reranker, self.memo, self.seconds, self.scored = reranker, {}, 0.0, 0

    def score(self, pairs, **kwargs):
        import numpy as np

        todo = list(dict.fromkeys(p for p in pairs if p not in self.memo))
        if todo:
            t0 = time.perf_counter()
            for pair, s in zip(todo, self.reranker.score(todo, **kwargs)):
                self.memo[pair] = float(s)
            self.seconds += time.perf_counter() - t0
            self.scored += len(todo)
        return np.asarray([self.memo[p] for p in pairs])


def evaluate(args, reranker_path: Path) -> dict[int, dict]:
    """Embedding-only vs reranked nDCG on the jsquad_reranking test subsample, for each ``--top-k``."""
    import torch

    from embed.rerank import Reranker
    from eval.rerank import evaluate_reranker

    torch.set_num_threads(args.threads)
    scorer = MemoScorer(Reranker.load(reranker_path, device="cpu"))
    out = {}
    for k in sorted(args.top_k, reverse=True):  # the largest first: smaller heads are memo hits
        out[k] = evaluate_reranker(
            scorer,
            embedder="me5-small",
            task="jsquad_reranking",
            top_k=k,
            max_queries=args.eval_queries,
            batch_size=16,
            cache_dir=args.cache_dir,
            show_progress=True,
        )
    out["rerank_s"], out["pairs_scored"] = scorer.seconds, scorer.scored
    return out


def table(rows: list[dict]) -> str:
    """Markdown table with the ratio to the embedding-only ranking."""
    lines = [
        "| ranking | nDCG@10 | nDCG@20 | ratio (nDCG@10) | rerank pairs/s |",
        "|:--|--:|--:|--:|--:|",
    ]
    base = rows[0]["ndcg@10"]
    for r in rows:
        pps = f"{r['pairs_per_s']:.1f}" if r.get("pairs_per_s") else "—"
        lines.append(
            f"| {r['name']} | {100 * r['ndcg@10']:.2f} | {100 * r['ndcg@20']:.2f} | {r['ndcg@10'] / base:.3f} | {pps} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="me5-small", choices=sorted(PRESETS))
    p.add_argument("--method", default="full", choices=["full", "lora"])
    p.add_argument("--objective", default="listwise", choices=["pointwise", "listwise"])
    p.add_argument("--loss", default="two_way", choices=["two_way", "full_vocab"])
    p.add_argument("--articles", type=int, default=80)
    p.add_argument("--queries", type=int, default=1500)
    p.add_argument("--negatives", type=int, default=7, help="mined negatives stored per record")
    p.add_argument("--k", type=int, default=3, help="negatives per training group")
    p.add_argument("--batch", type=int, default=4, help="groups per step")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=float, default=0.05)
    p.add_argument(
        "--head-lr-scale", type=float, default=5.0, help="lr multiplier of a fresh cross-encoder head"
    )
    p.add_argument("--max-length", type=int, default=192)
    p.add_argument("--freeze-embeddings", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--freeze-layers", type=int, default=4)
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--save-every", type=int, default=20)
    p.add_argument("--top-k", type=int, nargs="+", default=[10, 5, 3])
    p.add_argument("--eval-queries", type=int, default=400)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--cache-dir", default="~/.cache/tsumugi/eval-embeddings")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "reranker")
    p.add_argument("--stage", default="all", choices=["data", "train", "eval", "all"])
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke test: 6 steps, 30 eval queries, 10 articles")
    args = p.parse_args()
    if args.quick:
        args.steps, args.eval_queries, args.articles, args.queries, args.save_every = 6, 30, 10, 60, 0
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    records = args.out / f"jaquad_hn_a{args.articles}_q{args.queries}_s{args.seed}.jsonl"
    meta = write_records(records, args.articles, args.queries, args.negatives, args.seed, args.threads)
    _log(f"data: {meta}")
    if args.stage == "data":
        return
    tag = f"{args.model}-{args.method}-{args.objective}-{args.loss}-k{args.k}-b{args.batch}-s{args.steps}"
    tag += f"-lr{args.lr:g}-h{args.head_lr_scale:g}-len{args.max_length}-fl{args.freeze_layers}"
    final, train_s = train(args, records, args.out / tag)
    _log(f"trained {final} in {train_s:.0f} s of steps")
    if args.stage == "train":
        return
    result = evaluate(args, final)
    pps = result["pairs_scored"] / max(result["rerank_s"], 1e-9)
    first = result[max(args.top_k)]
    rows = [{"name": "me5-small embeddings only (peer)", **first["before"]}]
    for k in sorted(args.top_k):
        rows.append({"name": f"me5-small top-{k} → reranker", **result[k]["after"], "pairs_per_s": pps})
    md = table(rows)
    summary = {
        "tag": tag,
        "data": meta,
        "train_step_seconds": round(train_s, 1),
        "eval": result,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    (args.out / f"results-{tag}.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    (args.out / f"results-{tag}.md").write_text(md + "\n")
    print(md)
    _log(f"done in {summary['elapsed_s']:.0f} s (results in {args.out})")


if __name__ == "__main__":
    main()
