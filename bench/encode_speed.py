"""Encode throughput: ``EmbeddingModel.encode`` vs ``SentenceTransformer.encode``, same model, same texts, one run.

    .venv/bin/python bench/encode_speed.py                    # me5-small, 2,120 JSTS / JaQuAD texts, 3 rounds
    .venv/bin/python bench/encode_speed.py --ablate           # also the intermediate steps (what made the gain)
    .venv/bin/python bench/encode_speed.py --short 600 --queries 400 --docs 100 --rounds 5 --threads 1
    .venv/bin/python bench/encode_speed.py --bf16             # also both sides in bf16 (CPUs with native bf16)

Texts: unique JSTS (valid) sentences, JaQuAD (dev) questions with ``query: ``, JaQuAD passages with
``passage: `` (17, 23 and ~245 tokens on average; 2% of passages exceed 512 tokens and are truncated), shuffled
with a fixed seed. Both sides get the same strings, the same max length (512) and batch_size 32, fp32 on CPU, and
their timed runs alternate within each round (the order flips every round) so that load from other processes hits
both alike; the table shows the median of the rounds and the ratio of medians. Agreement: max |ours - theirs| and
the minimum cosine over all texts (pass: cosine >= 0.9999). The exit status is 1 when ours is below the target
ratio (``--target``, 1.2) or the embeddings disagree.

What makes the difference (``--ablate`` times each step in the same run; 2026-11-27, 2 shared EPYC cores, default
texts, medians of 3 rounds, vs sentence-transformers: step 0 0.92x, step 1 0.99x, token budget 1.93x, budget x4
1.87x; embeddings within 1.4e-7, min cosine 1.0000000):
- sentence-transformers cuts the character-sorted list into batches of exactly ``batch_size`` texts and tokenises
  each batch. ``EmbeddingModel.encode`` tokenises chunks of texts (512, 1,024, 2,048, then 4,096 per fast-tokenizer
  call), orders them by token count and cuts batches by *padded tokens* instead of by count: ``batch_size x 128``
  = 4,096 on CPU.
  JSTS sentences (17 tokens) then go ~240 to a batch instead of 32, passages (~245 tokens) ~16 instead of 32,
  and every batch is padded only to its own longest text (often no padding at all, which also lets SDPA drop
  the attention mask). The FLOPs barely change: character sorting already keeps padding low.
- Small batches of short texts are slow on CPU: a (32 x 20)-token forward is dominated by per-operator overhead
  and by OpenMP synchronisation between torch's intra-op threads (much worse on a shared machine).
- Big batches of long texts are slow too: at 32 passages (~8,000 tokens) the 1,536-wide MLP activation is ~48 MB,
  above glibc's mmap threshold (32 MB at most), so every such tensor is a fresh mapping that is page-faulted in
  again. At 16,384 tokens we measured ~30x the minor page faults of 4,096 tokens, ~1.3x the time on passages
  alone and about the same on the mixed default set; 4,096 tokens keeps every activation of me5-small under the
  threshold (the budget is ``batch_size x 512`` on GPUs, where bigger batches fill the device).
- Kept as they were (both sides already do it): ``torch.inference_mode``, SDPA attention (the transformers default
  for BERT). Added: one gather and one device copy per chunk instead of per batch, one output copy per chunk.
- Measured and dropped: choosing our own thread count (one thread beat two on this loaded machine, but the best
  setting depends on the load and a library must not change process-wide torch state), a bigger budget (above).
  Pooling already reads only the mask and the last hidden state; fp32 stays fp32 (no quantisation, no bf16).
- ``--bf16`` adds both sides with bf16 weights (ratios still against sentence-transformers in fp32; agreement
  against its fp32 embeddings). Only worth it on CPUs with native bf16 (``avx512_bf16`` / AMX): elsewhere bf16
  matmuls are emulated and far slower (``bench/dtype_speed.py``). The bf16 pair is always timed where tsumugi's
  ``dtype: auto`` picks bf16 for encoding (AMX-class CPUs, ``embed.hardware``); the verdict line compares the
  two defaults (tsumugi auto vs sentence-transformers fp32) and gives the same-dtype ratios beside it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def load_texts(data: Path, n_short: int, n_queries: int, n_docs: int, seed: int = 0) -> list[str]:
    """JSTS sentences, ``query: `` + JaQuAD questions, ``passage: `` + JaQuAD passages, shuffled."""
    short: list[str] = []
    with open(data / "jsts" / "original" / "valid-v1.3.json", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            short += [row["sentence1"], row["sentence2"]]
    short = list(dict.fromkeys(short))[:n_short]
    jaquad = data / "jaquad" / "jmteb_format" / "dev"
    with open(jaquad / "retrieval_queries.jsonl", encoding="utf-8") as f:
        queries = ["query: " + json.loads(line)["query"] for line in f][:n_queries]
    with open(jaquad / "corpus.jsonl", encoding="utf-8") as f:
        docs = ["passage: " + json.loads(line)["text"] for line in f][:n_docs]
    texts = short + queries + docs
    random.Random(seed).shuffle(texts)
    return texts


def old_encode(model, texts: list[str], batch_size: int) -> np.ndarray:
    """Step 0, our encode before token batching (and sentence-transformers' scheme): char-sorted, fixed count."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.empty((len(texts), model.dim), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            out[idx] = model(model._tokenize([texts[i] for i in idx], None)).numpy()
    return out


def token_sorted_encode(model, texts: list[str], batch_size: int) -> np.ndarray:
    """Step 1: tokenise once, sort by token count, fixed-count batches padded to their own longest text."""
    from embed.batching import length_order, trim_columns
    from embed.pooling import l2_normalize

    feats = model._tokenize(texts, None)
    lengths = feats["attention_mask"].sum(1).numpy()
    perm = length_order(lengths)
    feats = {k: v[torch.from_numpy(perm)] for k, v in feats.items()}
    out = np.empty((len(texts), model.dim), dtype=np.float32)
    left = model.tokenizer.padding_side == "left"
    with torch.inference_mode():
        for s in range(0, len(perm), batch_size):
            e = min(s + batch_size, len(perm))
            batch = trim_columns(feats, s, e, int(lengths[perm[s]]), left)
            out[perm[s:e]] = l2_normalize(model._embed(batch, None)).numpy()
    return out


def with_packing(model, mode: str, texts: list[str], batch_size: int) -> np.ndarray:
    """``encode`` with the packing switch set to ``mode`` (restored afterwards)."""
    before, model.packing = model.packing, mode
    try:
        return model.encode(texts, batch_size=batch_size, show_progress=False)
    finally:
        model.packing = before


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max absolute difference, minimum cosine) between matching rows."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = (a64 * b64).sum(1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))
    return float(np.abs(a64 - b64).max()), float(cos.min())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", default="me5-small", help="short name or folder (sentence-transformers layout)"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--short", type=int, default=1200, help="JSTS sentences (~17 tokens)")
    parser.add_argument("--queries", type=int, default=800, help="JaQuAD questions (~23 tokens + prefix)")
    parser.add_argument("--docs", type=int, default=120, help="JaQuAD passages (~245 tokens + prefix)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--batch-size", type=int, default=32, help="both sides (sentence-transformers default)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads for both sides")
    parser.add_argument("--ablate", action="store_true", help="also time the intermediate steps")
    parser.add_argument("--target", type=float, default=1.2)
    parser.add_argument(
        "--bf16", action="store_true", help="also time both sides with bf16 weights (ratios still vs ST fp32)"
    )
    args = parser.parse_args(argv)

    import transformers
    from sentence_transformers import SentenceTransformer

    from embed import EmbeddingModel
    from embed.bootstrap.registry import resolve_model
    from embed.hardware import choose_dtype, detect

    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    path = resolve_model(args.model)
    auto = choose_dtype("auto", "encode", detect("cpu"))
    # fp32 beside sentence-transformers' fp32 default; eval(): the ablation steps call forward directly
    ours = EmbeddingModel.load(path, device="cpu", dtype=torch.float32).eval()
    theirs = SentenceTransformer(str(path), device="cpu")
    texts = load_texts(args.data, args.short, args.queries, args.docs)
    n_tokens = int(sum(min(len(ids), ours.max_length) for ids in ours.tokenizer(texts)["input_ids"]))
    bs = args.batch_size
    variants = {
        "sentence-transformers": lambda: theirs.encode(
            texts, batch_size=bs, convert_to_numpy=True, normalize_embeddings=False
        ),
        "tsumugi encode, float32": lambda: ours.encode(texts, batch_size=bs, show_progress=False),
        "tsumugi encode, padded (packing=false)": lambda: with_packing(ours, "false", texts, bs),
        "tsumugi encode, packed (packing=true)": lambda: with_packing(ours, "true", texts, bs),
    }
    if args.bf16 or auto.dtype == torch.bfloat16:
        ours_bf16 = EmbeddingModel.load(path, device="cpu", dtype=torch.bfloat16).eval()
        theirs_bf16 = SentenceTransformer(
            str(path), device="cpu", model_kwargs={"torch_dtype": torch.bfloat16}
        )
        theirs_bf16.encode(texts[:64], batch_size=bs)  # warm-up, as for the fp32 pair below
        ours_bf16.encode(texts[:64], batch_size=bs)
        variants["sentence-transformers, bfloat16"] = lambda: theirs_bf16.encode(
            texts, batch_size=bs, convert_to_numpy=True, normalize_embeddings=False
        ).astype(np.float32)
        variants["tsumugi encode, bfloat16"] = lambda: ours_bf16.encode(
            texts, batch_size=bs, show_progress=False
        )
    if args.ablate:
        variants["  step 0: char-sorted, fixed count"] = lambda: old_encode(ours, texts, bs)
        variants["  step 1: + token-sorted, tokenise once"] = lambda: token_sorted_encode(ours, texts, bs)
        variants[f"  budget x4 (batch_size {4 * bs}: as on GPU)"] = lambda: ours.encode(
            texts, batch_size=4 * bs, show_progress=False
        )
    warm = texts[:64]
    theirs.encode(warm, batch_size=bs)
    ours.encode(warm, batch_size=bs)
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, np.ndarray] = {}
    names = list(variants)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            outputs[name] = variants[name]()
            times[name].append(time.perf_counter() - t0)
            print(f"round {r + 1}: {name.strip():45s} {times[name][-1]:8.2f} s", file=sys.stderr, flush=True)

    med = {name: statistics.median(t) for name, t in times.items()}
    base = med["sentence-transformers"]
    default = "tsumugi encode, bfloat16" if auto.dtype == torch.bfloat16 else "tsumugi encode, float32"
    print(
        f"\n{len(texts)} texts, {n_tokens} tokens (max_length {ours.max_length}), model {args.model}, "
        f"batch_size {bs}, torch threads {torch.get_num_threads()}, {args.rounds} alternating rounds (medians)"
    )
    print(f"{detect('cpu').describe()}")
    print(
        f"tsumugi dtype auto (encode) here: {auto.name} ({auto.reason}); sentence-transformers default: float32\n"
    )
    print(f"| {'encoder':45s} | texts/s | tokens/s | median s | vs ST |")
    print(f"|:{'-' * 45}|--------:|---------:|---------:|------:|")
    for name, t in med.items():
        print(f"| {name:45s} | {len(texts) / t:7.1f} | {n_tokens / t:8.0f} | {t:8.2f} | {base / t:5.2f} |")
    print("\nagreement with sentence-transformers (fp32):")
    for name in names[1:]:
        d, c = agreement(outputs[name], outputs["sentence-transformers"])
        print(f"  {name.strip()}: max |diff| {d:.2e}, min cosine {c:.7f}")
    same = base / med["tsumugi encode, float32"]
    line = f"same dtype: float32 {same:.2f}x"
    if "sentence-transformers, bfloat16" in med:
        line += f", bfloat16 {med['sentence-transformers, bfloat16'] / med['tsumugi encode, bfloat16']:.2f}x"
    ratio = base / med[default]
    _, min_cos = agreement(outputs[default], outputs["sentence-transformers"])
    ok = ratio >= args.target and min_cos >= 0.9999
    print(
        f"default vs default (tsumugi {auto.name} vs sentence-transformers float32): {ratio:.2f}x "
        f"(target {args.target}x), min cosine {min_cos:.7f} (>= 0.9999): {'PASS' if ok else 'FAIL'}; {line}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
