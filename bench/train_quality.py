"""Training quality: me5-small fine-tuned on JaQuAD train by tsumugi's trainer (Qwen3 loss) and by the
sentence-transformers trainer (MultipleNegativesRankingLoss), scored before and after on local JMTEB tasks.

    .venv/bin/python bench/train_quality.py                      # defaults below (~30 min training on 2 loaded cores)
    .venv/bin/python bench/train_quality.py --quick              # smoke test: 4 steps, batch 8, quick suite
    .venv/bin/python bench/train_quality.py --steps 60 --batch 32 --out runs/bench/tq60 --extra jsick

Same for both methods (the comparison is fair by construction):
- data: one epoch of ``steps x batch`` seeded JaQuAD-train records (../shared/data/jaquad/jmteb_format/train;
  never the eval sets JSQuAD, JSTS, JSICK, JaQuAD dev), each (query, positive, ``--hard-negatives`` negatives);
  no text occurs twice in the file, so every no-duplicate batching keeps every record and both trainers see each
  record exactly once. A negative is another paragraph of the positive's article containing none of the
  query's answers (the retrieval distractors of JSQuAD and JaQuAD are mostly paragraphs of the same article);
- model me5-small, prompts ``query: `` / ``passage: ``, one ``--max-length`` for queries and passages (prompt and
  special tokens included); the run stops unless sentence-transformers' data collator and our tokenisation give
  identical ids for every training text; how many passages (and answers) the limit cuts is reported;
- frozen word-embedding matrix (96 M of 118 M parameters), AdamW (weight decay 0.01), linear schedule with the
  same warmup steps, grad-norm clip 1.0, seed 42, fp32, dropout on, gradient checkpointing (both; memory);
  both trained at once, one torch thread each, so both see the same machine load.
Different on purpose — the loss: ours is the ``qwen3`` preset (five-term improved InfoNCE with the false-negative
mask, margin 0.1, duplicate-text rule) at temperature ``--temperature`` (0.01, the temperature multilingual-e5
was trained at and in recipe.md's sweep; at recipe.md's default 0.02 the budget below is spent spreading e5's
narrow similarity band — on training batches in-batch negatives fell from cosine ~0.78 to ~0.39 and positives
from 0.89 to 0.72 — and JSQuAD *valid* nDCG@10 fell 1.95 points; see bench/RESULTS.md); theirs is MNRL at
``--mnrl-scale`` (default 20 = temperature 0.05, sentence-transformers' default, i.e. the baseline as people run
it; ``--mnrl-scale 100`` gives the same temperature as ours).

Eval: ``eval.evaluate`` on the ``local`` suite (``quick`` with ``--quick``), tasks ``jsquad_retrieval`` (stand-in
for JAQKET, nDCG@10, all queries) and ``jsts`` (Spearman) plus ``--extra`` tasks, e5 prefixes for every model,
max length 512 for every model, embeddings cached (``--cache-dir``) so a re-run only re-scores. JSTS's
validation split (12,451 pairs, only used to pick the similarity function) is capped at ``--sts-val-rows``.
Dev metrics (reported beside the test scores, the only ones used to diagnose a failed run): JSQuAD *valid*
nDCG@10 and Spearman on the JSTS validation sample. Pass criteria (issue 4): our test retrieval score rises; our
test JSTS falls by at most 1 point.

Resumable: a method whose ``<out>/<method>/final`` exists is not retrained (``--retrain`` forces it); an
interrupted run continues from its last checkpoint (every ``--save-every`` steps; ours keeps them all for
merge ranking). Train time = the sum of the per-step seconds (data, forward, backward, optimizer; model load,
checkpoint saves and export excluded), from ours ``metrics.jsonl`` and a step clock on the sentence-transformers
trainer; tokens/s = the epoch's real tokens / train time. Results: ``<out>/results.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("TSUMUGI_SHARED", REPO.parent / "shared"))
JAQUAD_TRAIN = SHARED / "data" / "jaquad" / "jmteb_format" / "train"
QUERY_PROMPT, DOC_PROMPT = "query: ", "passage: "
BASE_TASKS = ("jsquad_retrieval", "jsts")
SHORT = {
    "jsquad_retrieval": "jsquad retr. nDCG@10",
    "jsts": "JSTS spearman",
    "jsick": "JSICK spearman",
    "amazon_counterfactual_classification": "amazon CF F1",
    "jaquad_retrieval": "jaquad-dev retr. nDCG@10",
}
METHODS = ("tsumugi", "st_mnrl")
THREADS = 1  # torch threads of every process (set in main from --threads)


def _log(msg: str) -> None:
    print(f"[train_quality {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------- data
def write_pairs(path: Path, n: int, hard_negatives: int, seed: int) -> int:
    """A seeded sample of ``n`` JaQuAD-train (query, positive[, negatives]) records; no text occurs twice in the
    file (so both trainers see each record exactly once in one epoch, whatever their no-duplicate batching).
    Negatives: other paragraphs of the positive's article (JSQuAD/JaQuAD retrieval distractors are mostly such
    paragraphs) that contain none of the query's answers; another article's paragraph when none is left.
    Writes the sampled qids beside it (``<path>.qids.json``). Returns the count."""
    if path.is_file():
        return sum(1 for _ in path.open(encoding="utf-8"))
    corpus = {}
    with (JAQUAD_TRAIN / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            corpus[d["docid"]] = d["text"]
    ids = sorted(corpus)
    by_article: dict[str, list[str]] = {}
    for d in ids:  # docid tr-<article>-<paragraph>
        by_article.setdefault(d.split("-")[1], []).append(d)
    with (JAQUAD_TRAIN / "retrieval_queries.jsonl").open(encoding="utf-8") as f:
        queries = [json.loads(line) for line in f]
    rng = random.Random(seed)
    picked, used = [], set()
    for i in rng.sample(range(len(queries)), len(queries)):
        q = queries[i]
        pos = q["relevant_docs"][0]
        if q["query"] in used or corpus[pos] in used:
            continue
        used.update((q["query"], corpus[pos]))
        picked.append(q)
        if len(picked) == n:
            break
    if len(picked) < n:
        raise SystemExit(f"{JAQUAD_TRAIN}: only {len(picked)} pairs with distinct passages, {n} asked")
    records, fallback = [], 0
    for q in picked:
        pos = q["relevant_docs"][0]
        rec = {"query": q["query"], "positive": corpus[pos]}
        if hard_negatives:
            same = [
                corpus[d]
                for d in by_article[pos.split("-")[1]]
                if corpus[d] not in used and not any(a in corpus[d] for a in q["answers"])
            ]
            negs = rng.sample(same, min(hard_negatives, len(same)))
            while len(negs) < hard_negatives:
                text = corpus[ids[rng.randrange(len(ids))]]
                if text not in used and text not in negs:
                    negs.append(text)
                    fallback += 1
            used.update(negs)
            rec["negatives"] = negs
        records.append(rec)
    if fallback:
        _log(
            f"{fallback} negative(s) from another article (the positive's article had no answer-free paragraph)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for rec in records:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    Path(f"{path}.qids.json").write_text(json.dumps([q["qid"] for q in picked]) + "\n")
    tmp.replace(path)
    return n


def _lengths(model, texts: list[str], max_length: int) -> tuple[list[int], list[int]]:
    """Tokens of each prompted text untruncated and as trained (ours: ``EmbeddingModel.tokenize``)."""
    full = [len(ids) for ids in model.tokenizer(texts, truncation=False)["input_ids"]]
    kept = []
    for start in range(0, len(texts), 256):
        mask = model.tokenize(texts[start : start + 256], prompt="", max_length=max_length)["attention_mask"]
        kept += mask.sum(1).tolist()
    return full, kept


def length_report(data: Path, max_length: int) -> dict:
    """How much truncation at ``max_length`` costs: JaQuAD-train passages (all, and the sampled positives) over
    the limit, sampled positives whose answer string starts past the kept text, and the tokens one epoch feeds
    a trainer (queries + positives + negatives as truncated; the same for both methods)."""
    out = data.with_name(data.stem + f".len{max_length}.json")
    if out.is_file():
        return json.loads(out.read_text())
    from embed import EmbeddingModel

    model = EmbeddingModel.load("me5-small")
    rows = [json.loads(line) for line in data.open(encoding="utf-8")]
    qids = set(json.loads(Path(f"{data}.qids.json").read_text()))
    answers = {}
    with (JAQUAD_TRAIN / "retrieval_queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            if q["qid"] in qids:
                answers[q["query"]] = q["answers"]
    with (JAQUAD_TRAIN / "corpus.jsonl").open(encoding="utf-8") as f:
        corpus = [json.loads(line)["text"] for line in f]
    full_corpus, _ = _lengths(model, [DOC_PROMPT + t for t in corpus], max_length)
    q_full, q_kept = _lengths(model, [QUERY_PROMPT + r["query"] for r in rows], max_length)
    p_texts = [DOC_PROMPT + r["positive"] for r in rows]
    p_full, p_kept = _lengths(model, p_texts, max_length)
    negs = [DOC_PROMPT + t for r in rows for t in r.get("negatives", [])]
    n_kept = _lengths(model, negs, max_length)[1] if negs else []
    enc = model.tokenizer(p_texts, truncation=True, max_length=max_length, return_offsets_mapping=True)
    lost = missing = 0
    for r, offsets in zip(rows, enc["offset_mapping"]):
        end = max(e for _, e in offsets) - len(DOC_PROMPT)  # characters of the passage kept
        found = [(i, len(a)) for a in answers[r["query"]] if (i := r["positive"].find(a)) >= 0]
        missing += not found
        lost += bool(found) and all(i + n > end for i, n in found)
    report = {
        "max_length": max_length,
        "jaquad_train_passages": len(full_corpus),
        "jaquad_train_passages_over": sum(n > max_length for n in full_corpus),
        "pairs": len(rows),
        "positives_over": sum(n > max_length for n in p_full),
        "queries_over": sum(n > max_length for n in q_full),
        "answer_cut_off": lost,
        "answer_not_in_passage": missing,
        "passage_tokens_median": sorted(full_corpus)[len(full_corpus) // 2],
        "epoch_tokens": sum(q_kept) + sum(p_kept) + sum(n_kept),
    }
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report


def same_inputs_check(collator, rows: list[dict], max_length: int, hard_negatives: int) -> dict:
    """Tokenise every training text through sentence-transformers' data collator and through ours
    (``EmbeddingModel.tokenize`` of the prompted text, as ``train.step`` does); any difference stops the run."""
    import torch

    from embed import EmbeddingModel

    ours = EmbeddingModel.load("me5-small")
    cols = [("anchor", QUERY_PROMPT, lambda r: [r["query"]])]
    cols.append(("positive", DOC_PROMPT, lambda r: [r["positive"]]))
    for k in range(hard_negatives):
        name = "negative" if hard_negatives == 1 else f"negative_{k + 1}"
        cols.append((name, DOC_PROMPT, lambda r, k=k: [r["negatives"][k]]))
    checked = 0
    for start in range(0, len(rows), 64):
        chunk = rows[start : start + 64]
        features = [{name: get(r)[0] for name, _, get in cols} for r in chunk]
        theirs = collator(features)
        for name, prompt, get in cols:
            mine = ours.tokenize([prompt + get(r)[0] for r in chunk], prompt="", max_length=max_length)
            a, b = theirs[f"{name}_input_ids"], mine["input_ids"]
            width = min(a.shape[1], b.shape[1])  # padding to the longest of the batch on both sides
            same = a.shape == b.shape and torch.equal(a, b)
            if not same or not torch.equal(theirs[f"{name}_attention_mask"], mine["attention_mask"]):
                raise SystemExit(
                    f"rows {start}-{start + len(chunk)} column {name}: sentence-transformers and tsumugi "
                    f"tokenise differently (shapes {tuple(a.shape)} vs {tuple(b.shape)}, "
                    f"first {width} columns equal: {torch.equal(a[:, :width], b[:, :width])})"
                )
            checked += len(chunk)
    return {"texts_checked": checked, "identical": True, "max_length": max_length}


def _done(run: Path) -> bool:
    return (run / "final" / "config.json").is_file()


def _warmup(args) -> int:
    return max(1, round(args.warmup_ratio * args.steps))


# --------------------------------------------------------------------------------------------------- ours
def tsumugi_command(args, data: Path, run: Path) -> list[str]:
    """``python -m train`` (the Hydra CLI): qwen3 loss, the shared budget."""
    overrides = [
        "model=me5-small",
        "loss=qwen3",
        f"loss.temperature={args.temperature}",
        f"data.datasets=[{{path: '{data}', name: jaquad, format: tsumugi}}]",
        f"data.batch_size={args.batch}",
        f"data.hard_negatives_k={args.hard_negatives}",
        "data.no_duplicates=true",
        f"data.max_query_length={args.max_length}",
        f"data.max_document_length={args.max_length}",
        "finetune.freeze_input_embeddings=true",
        f"finetune.gradient_checkpointing={str(args.grad_checkpointing).lower()}",
        f"optim.lr={args.lr}",
        "optim.weight_decay=0.01",
        "optim.scheduler=linear",
        f"optim.warmup_steps={_warmup(args)}",
        "optim.max_grad_norm=1.0",
        f"trainer.max_steps={args.steps}",
        f"trainer.save_every={args.save_every}",
        "trainer.keep_last=null",  # every checkpoint stays (the merge-ranking run uses them)
        "trainer.resume=auto",
        f"seed={args.seed}",
        "wandb.mode=disabled",
        "run_name=train_quality-tsumugi",
        f"output_dir={run}",
    ]
    return [sys.executable, "-m", "train", *overrides]


class Training:
    """One training subprocess (its own process: no process group or thread settings leak between methods)."""

    def __init__(self, cmd: list[str], run: Path) -> None:
        run.mkdir(parents=True, exist_ok=True)
        self.run, self.began = run, time.perf_counter()
        env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}
        self.log = (run / "train.log").open("a", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self) -> None:
        """Block until it ends; a failure stops the benchmark."""
        code = self.proc.wait()
        self.log.close()
        if code:
            raise SystemExit(f"training failed (exit {code}); see {self.run / 'train.log'}")
        wall = {"process_wall_s": round(time.perf_counter() - self.began, 1)}
        (self.run / "wall.json").write_text(json.dumps(wall) + "\n")


def step_seconds(run: Path, method: str) -> list[float]:
    """Seconds of each optimizer step (last record per step, so resumed runs count each step once)."""
    name = "metrics.jsonl" if method == "tsumugi" else "steps.jsonl"
    by_step: dict[int, float] = {}
    path = run / name
    if path.is_file():
        for line in path.open(encoding="utf-8"):
            if line.strip():
                m = json.loads(line)
                by_step[int(m["step"])] = float(m["step_seconds"])
    return [by_step[k] for k in sorted(by_step)]


# --------------------------------------------------------------------------------------------------- theirs
def st_command(args, data: Path, run: Path) -> list[str]:
    """This file's ``--st-worker`` mode."""
    cfg = {**vars(args), "data": str(data), "run": str(run), "warmup_steps": _warmup(args)}
    return [sys.executable, str(Path(__file__).resolve()), "--st-worker", json.dumps(cfg)]


def st_worker(cfg: dict) -> None:
    """SentenceTransformerTrainer + MultipleNegativesRankingLoss on the same triples, budget and frozen params."""
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    from transformers import TrainerCallback

    from embed.bootstrap.registry import resolve_model

    run = Path(cfg["run"])
    steps_file = run / "steps.jsonl"

    class StepClock(TrainerCallback):
        """Seconds between consecutive optimizer steps (data loading included, as in ours)."""

        def on_train_begin(self, args, state, control, **kw):  # noqa: D102
            self.last = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):  # noqa: D102
            now = time.perf_counter()
            with steps_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, "step_seconds": now - self.last}) + "\n")
            self.last = now

        def on_save(self, args, state, control, **kw):  # noqa: D102
            self.last = time.perf_counter()  # checkpoint writing is not step time (ours excludes it too)

    torch.manual_seed(cfg["seed"])
    st = SentenceTransformer(str(resolve_model("me5-small")), device="cpu")
    eval_max_length = st.max_seq_length
    st.max_seq_length = cfg["max_length"]
    st[0].auto_model.get_input_embeddings().weight.requires_grad_(False)
    rows = [json.loads(line) for line in open(cfg["data"], encoding="utf-8")]
    columns = {"anchor": [r["query"] for r in rows], "positive": [r["positive"] for r in rows]}
    prompts = {"anchor": QUERY_PROMPT, "positive": DOC_PROMPT}
    for k in range(cfg["hard_negatives"]):
        name = "negative" if cfg["hard_negatives"] == 1 else f"negative_{k + 1}"
        columns[name] = [r["negatives"][k] for r in rows]
        prompts[name] = DOC_PROMPT
    dataset = Dataset.from_dict(columns)
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(run / "checkpoints"),
        per_device_train_batch_size=cfg["batch"],
        max_steps=cfg["steps"],
        learning_rate=cfg["lr"],
        weight_decay=0.01,
        lr_scheduler_type="linear",
        warmup_steps=cfg["warmup_steps"],
        max_grad_norm=1.0,
        gradient_checkpointing=cfg["grad_checkpointing"],
        gradient_checkpointing_kwargs={"use_reentrant": False},  # as ours
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        dataloader_drop_last=True,
        prompts=prompts,
        save_strategy="steps",
        save_steps=cfg["save_every"] or cfg["steps"],
        save_total_limit=1,
        logging_steps=max(1, cfg["steps"] // 20),
        report_to=[],
        use_cpu=True,
        seed=cfg["seed"],
        data_seed=cfg["seed"],
    )
    loss = MultipleNegativesRankingLoss(st, scale=cfg["mnrl_scale"])
    trainer = SentenceTransformerTrainer(
        model=st, args=targs, train_dataset=dataset, loss=loss, callbacks=[StepClock()]
    )
    check = same_inputs_check(trainer.data_collator, rows, cfg["max_length"], cfg["hard_negatives"])
    (run / "same_inputs.json").write_text(json.dumps(check) + "\n")
    resume = any((run / "checkpoints").glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume else None)
    st.max_seq_length = eval_max_length  # the export keeps the model's own max length, like ours
    st.save(str(run / "final"))


# --------------------------------------------------------------------------------------------------- eval
def eval_suite(args):
    """The eval tasks as an ``eval.Suite``: JSTS's validation split (12,451 pairs, used only to pick the
    similarity function, JMTEB's selection) capped at ``--sts-val-rows`` seeded pairs (``max_val_rows``: the test
    split is never capped); JSQuAD retrieval in full (its validation scores serve as the dev metric)."""
    from eval import Suite, get_suite

    suite = get_suite(args.suite).only([*BASE_TASKS, *args.extra])
    tasks = [
        t.with_subsample(max_val_rows=args.sts_val_rows)
        if t.name == "jsts" and args.sts_val_rows and not t.subsample
        else t
        for t in suite.tasks
    ]
    return Suite(suite.name, tasks, suite.skipped, suite.data_root)


def evaluate_model(path: str, name: str, args) -> dict[str, float]:
    """``{task: main metric x100}`` through eval's public API (cached embeddings), plus the dev metrics
    ``jsquad_dev`` (JSQuAD valid nDCG@10) and ``jsts_dev`` (Spearman on the JSTS validation sample), read from
    the validation scores the scorers select on."""
    from embed import EmbeddingModel
    from eval import evaluate

    model = EmbeddingModel.load(path)
    if model.max_length != 512:  # every model encodes at 512 tokens (the ST export keeps its original length)
        raise SystemExit(f"{path}: max_length {model.max_length}, expected 512")
    run_dir = Path(args.out) / "eval" / name
    res = evaluate(
        model,
        eval_suite(args),
        prefixes="e5",
        out_dir=run_dir,
        cache_dir=args.cache_dir,
        name=name,
        print_table=False,
    )
    scores = {ds: 100 * next(iter(m.values())) for cat in res.summary().values() for ds, m in cat.items()}
    details = json.loads((run_dir / "Retrieval" / "scores_jsquad_retrieval.json").read_text())["details"]
    scores["jsquad_dev"] = 100 * details["val_scores"][details["optimal_distance_metric"]]["ndcg@10"]
    details = json.loads((run_dir / "STS" / "scores_jsts.json").read_text())["details"]
    scores["jsts_dev"] = 100 * details["val_scores"][details["optimal_similarity_metric"]]["spearman"]
    return scores


def _fmt(v: float | None, base: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if base is None else f"{v:.2f} ({v - base:+.2f})"


def table(rows: list[dict], tasks: list[str], epoch_tokens: int) -> str:
    """Markdown: model | test scores (delta vs base) | dev scores | train time | tokens/s."""
    dev = ["*dev:* jsquad-valid nDCG@10", "*dev:* JSTS-val spearman"]
    head = ["model", *[SHORT.get(t, t) for t in tasks], *dev, "train s (s/step)", "tokens/s"]
    lines = ["| " + " | ".join(head) + " |", "|:--" + "|--:" * (len(head) - 1) + "|"]
    base = rows[0]["scores"]
    for r in rows:
        cells = [r["label"]]
        for t in [*tasks, "jsquad_dev", "jsts_dev"]:
            cells.append(_fmt(r["scores"].get(t), None if r is rows[0] else base.get(t)))
        secs = sum(r.get("step_seconds") or [])
        n = len(r.get("step_seconds") or [])
        cells.append(f"{secs:.0f} ({secs / n:.1f})" if n else "-")
        cells.append(f"{epoch_tokens / secs:.0f}" if n else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ours_tokens(run: Path) -> int:
    """Real tokens our trainer reports having fed (sum over steps of tokens/s x seconds)."""
    by_step = {}
    for line in (run / "metrics.jsonl").open(encoding="utf-8"):
        if line.strip():
            m = json.loads(line)
            by_step[m["step"]] = m["tokens_per_s"] * m["step_seconds"]  # a resumed step counts once
    return round(sum(by_step.values()))


# --------------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--quick`` fills in a tiny budget unless a flag is given explicitly)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--steps", type=int, default=None, help="optimizer steps per method (default 30; quick 4)"
    )
    ap.add_argument("--batch", type=int, default=None, help="queries per batch (default 16; quick 8)")
    ap.add_argument(
        "--max-length", type=int, default=None, help="tokens, queries and passages (256; quick 128)"
    )
    ap.add_argument("--out", default=None, help="run folder (runs/bench/train_quality[_quick])")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny budget, eval suite 'quick'")
    ap.add_argument("--lr", type=float, default=5e-5, help="peak learning rate")
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--temperature", type=float, default=0.01, help="ours (qwen3 loss)")
    ap.add_argument("--mnrl-scale", type=float, default=20.0, help="theirs (MNRL scale = 1/temperature)")
    ap.add_argument(
        "--hard-negatives", type=int, default=1, help="answer-free same-article paragraphs per query"
    )
    ap.add_argument("--save-every", type=int, default=None, help="checkpoint period (default steps // 3)")
    ap.add_argument(
        "--grad-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="both methods (~1/4 of the activation memory, one more forward: two runs fit beside the others)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for training and eval, both methods (0: 1 when the machine is loaded, else all)",
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--extra", nargs="*", default=[], help="more eval tasks, e.g. jsick jaquad_retrieval")
    ap.add_argument(
        "--sts-val-rows",
        type=int,
        default=1457,
        help="JSTS val pairs (similarity selection only; 0: all 12,451 as JMTEB); test is always full",
    )
    ap.add_argument("--cache-dir", default="~/.cache/tsumugi/eval-embeddings")
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    ap.add_argument(
        "--parallel",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train both methods at once (same machine load for both) while the base model is evaluated",
    )
    ap.add_argument("--retrain", action="store_true", help="train again even if <out>/<method>/final exists")
    ap.add_argument("--st-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    tiny = args.quick
    args.steps = args.steps or (4 if tiny else 30)
    args.batch = args.batch or (8 if tiny else 16)
    args.max_length = args.max_length or (128 if tiny else 256)
    args.out = args.out or str(REPO / "runs" / "bench" / ("train_quality_quick" if tiny else "train_quality"))
    args.suite = "quick" if tiny else "local"
    args.save_every = args.save_every if args.save_every is not None else max(1, args.steps // 3)
    return args


def main(argv: list[str] | None = None) -> None:
    """Prepare data, evaluate the base model, train and evaluate each method, print the table."""
    args = parse_args(argv)
    if args.st_worker:
        st_worker(json.loads(args.st_worker))
        return
    os.environ.setdefault("WANDB_MODE", "disabled")
    global THREADS
    cpus = os.cpu_count() or 1
    # oversubscribed cores: OpenMP threads spin at barriers, and 2 threads ran 2-3x slower than 1 (load ~8, 2 CPUs)
    THREADS = args.threads or (1 if os.getloadavg()[0] > cpus else cpus)
    args.threads = THREADS
    import torch

    torch.set_num_threads(THREADS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = args.steps * args.batch
    data = out / "data" / f"jaquad_train_n{n}_hn{args.hard_negatives}_seed{args.seed}.jsonl"
    write_pairs(data, n, args.hard_negatives, args.seed)
    lengths = length_report(data, args.max_length)
    budget = (
        f"{args.steps} steps x batch {args.batch} = one epoch of {n} seeded JaQuAD-train pairs (distinct "
        f"queries and passages), {args.hard_negatives} answer-free same-article negative(s), max_length "
        f"{args.max_length}, lr {args.lr:g}, linear, warmup {_warmup(args)}, frozen word embeddings; ours qwen3 "
        f"loss tau {args.temperature:g}; theirs MNRL scale {args.mnrl_scale:g} (tau {1 / args.mnrl_scale:g}); "
        f"{THREADS} torch thread(s) each"
        + (", both trained at once" if args.parallel else "")
        + (", gradient checkpointing" if args.grad_checkpointing else "")
    )
    truncation = (
        f"max_length {args.max_length} (prompt and special tokens included): "
        f"{lengths['jaquad_train_passages_over']} of {lengths['jaquad_train_passages']} JaQuAD-train passages "
        f"are longer (median {lengths['passage_tokens_median']} tokens); of the {n} training positives "
        f"{lengths['positives_over']} are truncated and {lengths['answer_cut_off']} lose their answer string "
        f"({lengths['answer_not_in_passage']} answers not found verbatim); queries truncated: "
        f"{lengths['queries_over']}; one epoch = {lengths['epoch_tokens']} tokens"
    )
    _log(budget)
    _log(truncation)
    (out / "budget.json").write_text(json.dumps({k: v for k, v in vars(args).items() if k != "st_worker"}))
    tasks = [*BASE_TASKS, *args.extra]
    load0 = os.getloadavg()

    labels = {"tsumugi": f"tsumugi qwen3 (tau {args.temperature:g})", "st_mnrl": "sentence-transformers MNRL"}
    labels["st_mnrl"] += f" (scale {args.mnrl_scale:g})"
    jobs: dict[str, Training | None] = {}
    for method in args.methods:
        run = out / method
        if not args.retrain and _done(run):
            _log(f"{method}: {run / 'final'} exists, not retrained")
            jobs[method] = None
            continue
        if args.retrain and run.exists():
            shutil.rmtree(run)
        _log(f"training {method} -> {run} (log: {run / 'train.log'})")
        jobs[method] = Training(
            (tsumugi_command if method == "tsumugi" else st_command)(args, data, run), run
        )
        if not args.parallel:
            jobs[method].wait()
    _log("evaluating the base model")
    rows = [{"label": "me5-small (base)", "scores": evaluate_model("me5-small", "base", args)}]
    for method, job in jobs.items():
        run = out / method
        if job is not None and args.parallel:
            job.wait()
        _log(f"evaluating {method}")
        scores = evaluate_model(str(run / "final"), method, args)
        rows.append({"label": labels[method], "scores": scores, "step_seconds": step_seconds(run, method)})
    load1 = os.getloadavg()

    consistency = []
    if (out / "tsumugi" / "metrics.jsonl").is_file():
        fed = ours_tokens(out / "tsumugi")
        consistency.append(f"tokens fed by ours {fed} vs one epoch {lengths['epoch_tokens']}")
    same = out / "st_mnrl" / "same_inputs.json"
    if same.is_file():
        consistency.append(
            f"sentence-transformers' collator and ours tokenise all {json.loads(same.read_text())['texts_checked']}"
            " training texts identically"
        )
    for method in METHODS:
        secs = step_seconds(out / method, method)
        if secs:
            consistency.append(
                f"{method}: {len(secs)} steps timed (max {max(secs):.1f} s, min {min(secs):.1f} s)"
            )
    text = table(rows, tasks, lengths["epoch_tokens"])
    base, checks = rows[0]["scores"], []
    for r in rows[1:]:
        d_ret = r["scores"]["jsquad_retrieval"] - base["jsquad_retrieval"]
        d_sts = r["scores"]["jsts"] - base["jsts"]
        ok = d_ret > 0 and d_sts >= -1.0
        checks.append(
            f"{r['label']}: retrieval {d_ret:+.2f} (must rise), JSTS {d_sts:+.2f} (>= -1.00): "
            + ("PASS" if ok else "FAIL")
        )
    loads = f"load average (1/5/15 min) at start {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f}, "
    loads += f"at end {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f} on {os.cpu_count()} CPU(s)"
    report = "\n".join(
        [
            f"suite {args.suite}, e5 prefixes, eval max length 512; {budget}",
            "",
            text,
            "",
            *checks,
            truncation,
            *consistency,
            loads,
        ]
    )
    print(report, flush=True)
    (out / "results.md").write_text(report + "\n", encoding="utf-8")
    payload = {
        "budget": budget,
        "rows": rows,
        "checks": checks,
        "lengths": lengths,
        "consistency": consistency,
        "load": [load0, load1],
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
