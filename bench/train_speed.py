"""Training throughput: tsumugi's trainer, packed and padded, vs the sentence-transformers trainer.

Both fine-tune the same model (default me5-small) with in-batch InfoNCE at the same temperature (ours: the
``mnrl`` loss preset; theirs: ``MultipleNegativesRankingLoss(scale=1/τ)``) on the same (query, passage) pairs of
../shared/data/jaquad train, with the same batch size, max length, prompts, AdamW and fp32, in one process.
Throughput is real (non-pad) tokens per second over the timed steps (warm-up steps excluded), each trainer
counting the tokens it actually embedded; steps include data loading and tokenisation.

Each measurement runs in its own process (a fresh process group, no DDP wrapping of the HF Trainer), and the
three trainers alternate over ``--rounds`` rounds (order rotated each round) so that shared-CPU noise hits all
alike; the table sums tokens and seconds over the rounds and gives the median of the per-round ratios.

    python bench/train_speed.py [--model me5-small] [--batch 16] [--steps 4] [--warmup 1] [--max-length 128]
        [--rounds 3] [--device cpu|cuda] [--liger] [--compile]

``--device cuda`` (see bench/gpu_check.sh): the model defaults to a Qwen3-0.6B shape (28 layers, hidden 1024,
random init from the config, the real Qwen3 tokenizer), bf16, and the table adds model FLOP utilisation
(:func:`train_flops_per_token` against ``--peak-tflops``, 989 for an H100 SXM's dense bf16).
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
    preset, path = ("qwen3-tiny", model) if Path(model).is_dir() else (model, None)
    c = compose_config(
        [
            f"model={preset}",
            *([f"model.path={path}"] if path else []),
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
            f"trainer.packing={args.packing}",
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

    st = SentenceTransformer(str(resolve_model(model)), device=args.device)
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
        use_cpu=args.device == "cpu",
        bf16=args.device == "cuda",
        torch_compile=args.compile,
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


VARIANTS = ("st", "padded", "packed")
NAMES = {
    "packed": "tsumugi, packed (DeepSpeed ZeRO-0)",
    "padded": "tsumugi, padded (DeepSpeed ZeRO-0)",
    "st": "sentence-transformers trainer (MNRL)",
}


def qwen3_shape_folder(folder: Path, layers: int = 28, hidden: int = 1024) -> Path:
    """A random Qwen3-0.6B-shaped model (from its config, no weights downloaded) with the real Qwen3 tokenizer."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3Model

    from embed.bootstrap.registry import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("qwen3-tokenizer")))
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=3 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    Qwen3Model(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def train_flops_per_token(folder: Path, mean_len: float) -> float:
    """Forward + backward FLOPs per real token: 6 x non-embedding parameters + 12 x layers x width x the mean
    attended length (attention scores and values, causal halving ignored: the packed mask is dense per row)."""
    from transformers import AutoConfig

    from embed.bootstrap.registry import resolve_model

    cfg = AutoConfig.from_pretrained(str(resolve_model(str(folder))))
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    h, layers = cfg.hidden_size, cfg.num_hidden_layers
    heads, kv = cfg.num_attention_heads, getattr(cfg, "num_key_value_heads", cfg.num_attention_heads)
    head_dim = getattr(cfg, "head_dim", None) or h // heads
    attn = h * head_dim * (2 * heads + 2 * kv)
    mlp = 3 * h * cfg.intermediate_size if hasattr(cfg, "hidden_act") and "silu" in str(cfg.hidden_act) else 0
    mlp = mlp or 2 * h * cfg.intermediate_size
    return 6 * layers * (attn + mlp) + 12 * layers * heads * head_dim * mean_len


def run_one(variant: str, args) -> dict:
    """One trainer in this process; returns its tokens and seconds."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.liger:
        from liger_kernel.transformers import apply_liger_kernel_to_qwen3

        apply_liger_kernel_to_qwen3(rope=True, rms_norm=True, swiglu=True, cross_entropy=False)
    pairs = _pairs(args.batch * (args.warmup + args.steps + 2))
    with tempfile.TemporaryDirectory(prefix="train_speed-") as tmp:
        if variant == "st":
            return bench_sentence_transformers(args.model, pairs, args, Path(tmp))
        args.packing = "true" if variant == "packed" else "false"
        return bench_tsumugi(args.model, pairs, args, Path(tmp))


def main() -> None:
    """Alternate the three trainers over rounds (each in a fresh process) and print one table with ratios."""
    import statistics
    import subprocess
    import sys

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=None, help="preset or folder (default me5-small; cuda: Qwen3-0.6B shape)"
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--scale", type=float, default=20.0, help="MNRL scale = 1/temperature")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--liger", action="store_true", help="Liger kernels for Qwen3 (RMSNorm, RoPE, SwiGLU)"
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile (sentence-transformers trainer)"
    )
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for MFU (H100 SXM)")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "disabled")
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, args)), flush=True)
        return
    variants = args.variants.split(",")
    with tempfile.TemporaryDirectory(prefix="train_speed-model-") as tmp:
        if args.model is None:
            args.model = (
                str(qwen3_shape_folder(Path(tmp) / "qwen3-0.6b-shape"))
                if args.device == "cuda"
                else "me5-small"
            )
        results: dict[str, list[dict]] = {v: [] for v in variants}
        for r in range(args.rounds):
            for v in variants[r % len(variants) :] + variants[: r % len(variants)]:
                cmd = [
                    sys.executable,
                    __file__,
                    *_strip_model(sys.argv[1:]),
                    "--model",
                    args.model,
                    "--one",
                    v,
                ]
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
                if done.returncode or not line:
                    raise SystemExit(f"{v} failed (rc {done.returncode}):\n{done.stderr[-4000:]}")
                results[v].append(json.loads(line[-1][7:]))
                print(
                    f"round {r + 1} {v}: {results[v][-1]['tokens'] / results[v][-1]['seconds']:.1f} tokens/s",
                    flush=True,
                )
        flops = (
            train_flops_per_token(Path(args.model), args.max_length / 2) if args.device == "cuda" else None
        )
    print(
        f"\nmodel {Path(args.model).name}, device {args.device}, batch {args.batch} pairs, max_length "
        f"{args.max_length}, {args.steps} timed steps x {args.rounds} rounds"
    )
    mfu_head = " MFU |" if flops else ""
    print(f"| {'trainer':<38} | {'real tokens':>11} | {'seconds':>8} | {'tokens/s':>9} |{mfu_head}")
    print(f"|{'-' * 40}|{'-' * 13}|{'-' * 10}|{'-' * 11}|{'-----|' if flops else ''}")
    rate = {}
    for v in variants:
        tokens = sum(x["tokens"] for x in results[v])
        seconds = sum(x["seconds"] for x in results[v])
        rate[v] = tokens / seconds
        mfu = f" {100 * rate[v] * flops / (args.peak_tflops * 1e12):.1f}% |" if flops else ""
        print(f"| {NAMES[v]:<38} | {tokens:>11.0f} | {seconds:>8.2f} | {rate[v]:>9.1f} |{mfu}")
    print()
    for a, b in (("packed", "st"), ("padded", "st"), ("packed", "padded")):
        if a in results and b in results:
            per_round = [
                (x["tokens"] / x["seconds"]) / (y["tokens"] / y["seconds"])
                for x, y in zip(results[a], results[b])
            ]
            print(
                f"ratio {a} / {b}: {rate[a] / rate[b]:.2f} (pooled), median per round "
                f"{statistics.median(per_round):.2f}, rounds {', '.join(f'{x:.2f}' for x in per_round)}"
            )


def _strip_model(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--model":
            skip = True
        elif not a.startswith("--model="):
            out.append(a)
    return out


if __name__ == "__main__":
    main()
