"""Training throughput: tsumugi's trainer vs the sentence-transformers trainer, same model, data and batch.

Both fine-tune the same model (default me5-small) with in-batch InfoNCE at the same temperature (ours: the
``mnrl`` loss preset; theirs: ``MultipleNegativesRankingLoss(scale=1/τ)``) on the same (query, passage) pairs of
../shared/data/jaquad train, with the same batch size, max length, prompts, AdamW and fp32, in one process.
Throughput is real (non-pad) tokens per second over the timed steps (warm-up steps excluded), each trainer
counting the tokens it actually embedded; steps include data loading and tokenisation.

    python bench/train_speed.py [--model me5-small] [--batch 16] [--steps 4] [--warmup 1] [--max-length 128]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = (
    Path(os.environ.get("TSUMUGI_SHARED", REPO.parent / "shared"))
    / "data"
    / "jaquad"
    / "jmteb_format"
    / "train"
)


def _pairs(n: int) -> list[tuple[str, str]]:
    from train.data import read_source

    records = read_source(DATA, fmt="jmteb").records[:n]
    return [(r.query, r.positives[0]) for r in records]


def bench_tsumugi(model: str, pairs, args, workdir: Path) -> dict:
    """Our recipe (ZeRO-0, one process), tokens/s over the timed steps from its metrics."""
    from train.cli import compose_config
    from train.monitor import read_metrics
    from train.recipe import train

    data = workdir / "pairs.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for q, p in pairs:
            handle.write(json.dumps({"query": q, "positive": p}, ensure_ascii=False) + "\n")
    out = workdir / "tsumugi"
    c = compose_config(
        [
            f"model={model}",
            "loss=mnrl",
            f"loss.temperature={1 / args.scale}",
            f"data.datasets=[{data}]",
            f"data.batch_size={args.batch}",
            "data.batch_by_dataset=true",
            "data.no_duplicates=false",
            f"data.max_query_length={args.max_length}",
            f"data.max_document_length={args.max_length}",
            f"trainer.max_steps={args.warmup + args.steps}",
            f"optim.lr={args.lr}",
            "optim.warmup_ratio=0.0",
            "optim.scheduler=constant",
            "wandb.mode=disabled",
            f"output_dir={out}",
        ]
    )
    train(c)
    timed = read_metrics(out / "metrics.jsonl")[args.warmup :]
    seconds = sum(m["step_seconds"] for m in timed)
    tokens = sum(m["tokens_per_s"] * m["step_seconds"] for m in timed)
    return {"tokens": tokens, "seconds": seconds}


def bench_sentence_transformers(model: str, pairs, args, workdir: Path) -> dict:
    """The sentence-transformers trainer with MultipleNegativesRankingLoss; tokens counted inside the loss."""
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    from embed.bootstrap.registry import resolve_model

    class CountingMNRL(MultipleNegativesRankingLoss):
        tokens = 0

        def forward(self, sentence_features, labels):  # noqa: D102
            CountingMNRL.tokens += int(sum(int(f["attention_mask"].sum()) for f in sentence_features))
            return super().forward(sentence_features, labels)

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.marks: list[tuple[float, int]] = []

        def on_step_end(self, *_, **__):  # noqa: D102
            self.marks.append((time.perf_counter(), CountingMNRL.tokens))

    st = SentenceTransformer(resolve_model(model), device="cpu")
    st.max_seq_length = args.max_length
    dataset = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
    clock = Clock()
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(workdir / "st"),
        per_device_train_batch_size=args.batch,
        max_steps=args.warmup + args.steps,
        learning_rate=args.lr,
        warmup_ratio=0.0,
        lr_scheduler_type="constant",
        max_grad_norm=1.0,
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        dataloader_drop_last=True,
        prompts={"anchor": "query: ", "positive": "passage: "},
        seed=42,
    )
    trainer = SentenceTransformerTrainer(
        model=st,
        args=training_args,
        train_dataset=dataset,
        loss=CountingMNRL(st, scale=args.scale),
        callbacks=[clock],
    )
    trainer.train()
    (t0, n0), (t1, n1) = clock.marks[args.warmup - 1], clock.marks[-1]
    return {"tokens": n1 - n0, "seconds": t1 - t0}


def main() -> None:
    """Run both trainers and print one table with the ratio."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="me5-small")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--scale", type=float, default=20.0, help="MNRL scale = 1/temperature")
    parser.add_argument("--lr", type=float, default=2e-5)
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "disabled")
    pairs = _pairs(args.batch * (args.warmup + args.steps + 2))
    with tempfile.TemporaryDirectory(prefix="train_speed-") as tmp:
        workdir = Path(tmp)
        # sentence-transformers first: once our recipe has initialised a process group, the HF Trainer would
        # wrap its model in DistributedDataParallel (a world of one, but all-reduce overhead all the same)
        theirs = bench_sentence_transformers(args.model, pairs, args, workdir)
        ours = bench_tsumugi(args.model, pairs, args, workdir)
    rows = [("tsumugi (DeepSpeed ZeRO-0)", ours), ("sentence-transformers trainer (MNRL)", theirs)]
    print(
        f"\nmodel {args.model}, batch {args.batch} pairs, max_length {args.max_length}, {args.steps} timed steps"
    )
    print(f"| {'trainer':<38} | {'tokens':>8} | {'seconds':>8} | {'tokens/s':>9} |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 10}|{'-' * 11}|")
    for name, r in rows:
        print(
            f"| {name:<38} | {r['tokens']:>8.0f} | {r['seconds']:>8.2f} | {r['tokens'] / r['seconds']:>9.1f} |"
        )
    ratio = (ours["tokens"] / ours["seconds"]) / (theirs["tokens"] / theirs["seconds"])
    print(f"\nratio tsumugi / sentence-transformers: {ratio:.2f}")


if __name__ == "__main__":
    main()
