"""GPU encode throughput and model FLOP utilisation: a Qwen3-0.6B-shaped embedder, ours vs sentence-transformers.

    python bench/encode_speed_gpu.py                     # H100: 4,096 texts of 128-384 tokens, bf16, 3 rounds
    python bench/encode_speed_gpu.py --compile           # also torch.compile(dynamic=True) on our backbone
    python bench/encode_speed_gpu.py --tiny --device cpu # smoke test of the whole script without a GPU

Needs only torch, transformers, sentence-transformers and this repository (no hub, no data): the model is a
randomly initialised Qwen3 backbone of Qwen3-0.6B's shape (28 layers, hidden 1024, 16 query / 8 KV heads of 128,
MLP 3072, vocab 151,669) with last-token pooling and L2 normalisation, saved once in the sentence-transformers
layout (bf16 safetensors in a temporary folder) and loaded by both sides from that folder. The tokenizer is a
word-level one over the same vocabulary (``w<id>`` words, Qwen's special tokens, ``<|endoftext|>`` appended by
the tokenizer itself), so a text of n words is exactly n + 1 tokens and both sides see identical ids. Texts have
128-384 tokens, uniformly, in random order.

Model FLOPs per text of n tokens: ``2 * N_nonemb * n + 2 * L * H * n^2`` (N_nonemb: backbone parameters without
the embedding table; L = 28 layers; H = 16 heads x 128 = 2,048, the attention width; the second term is QK^T and
AV with the causal half counted). Utilisation = model FLOPs / time / peak, the peak being measured first as the
best of 20 bf16 8192^3 matmuls. Padding is not counted as useful work.

Sides, timed alternately within each round (order flipped every round), medians reported:
- sentence-transformers: ``SentenceTransformer.encode(texts, batch_size=128)``, bf16 weights (the anchor: 9.7% of
  the bf16 matmul peak measured on an H100).
- tsumugi: ``EmbeddingModel.encode(texts, batch_size=128)``, bf16 weights (the GPU default): texts tokenised in
  chunks of 512, 1,024, 2,048, then 4,096, each chunk on a worker thread while the previous one runs on the GPU;
  batches ordered by token count and cut at 128 x 512 = 65,536 padded tokens (~170-510 texts), each padded only
  to its own longest text; one host-to-device and one device-to-host copy per chunk.
- ``--compile``: tsumugi with the backbone compiled by ``torch.compile(dynamic=True)`` (one graph for all batch
  shapes; warm-up compiles it before timing). Fixed-shape padding buckets were considered and left out: in eager
  mode they only add padding, and with ``dynamic=True`` the shapes need no bucketing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

QWEN3_06B = dict(
    vocab_size=151669,
    hidden_size=1024,
    intermediate_size=3072,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
)
TINY = dict(
    vocab_size=1000,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=1024,
)
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def word_tokenizer(vocab_size: int):
    """Word-level tokenizer over ``vocab_size`` ids: ``w<i>`` words, Qwen specials, appends ``<|endoftext|>``."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    n_words = vocab_size - 26  # Qwen3: 151,643 words, then 26 special / added tokens
    extra = [f"<|extra_{i}|>" for i in range(26 - len(SPECIALS) - 1)]
    specials = [*SPECIALS, *extra, "<unk>"]
    vocab = {f"w{i}": i for i in range(n_words)}
    vocab.update({tok: n_words + i for i, tok in enumerate(specials)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([AddedToken(t, special=True) for t in specials])
    eot = vocab["<|endoftext|>"]
    tok.post_processor = processors.TemplateProcessing(
        single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", eot)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        unk_token="<unk>",
        model_max_length=40960,
        padding_side="left",
    ), n_words


def build_model(folder: Path, shape: dict, device: str) -> Path:
    """Random Qwen3 backbone of ``shape`` + word tokenizer, saved as a sentence-transformers folder (bf16)."""
    from transformers import Qwen3Config, Qwen3Model

    from embed import EmbeddingModel

    tokenizer, _ = word_tokenizer(shape["vocab_size"])
    config = Qwen3Config(
        **shape,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    with torch.device(device):
        backbone = Qwen3Model(config)
    backbone.to(torch.bfloat16).eval()
    model = EmbeddingModel(backbone, tokenizer, pooling="lasttoken", normalize=True)
    assert model.eos_token == "<|endoftext|>" and not model.appends_eos
    model.save(folder)
    del model, backbone
    return folder


def make_texts(n: int, n_words: int, lo: int, hi: int, seed: int = 0) -> list[str]:
    """``n`` texts of ``lo..hi`` tokens (``lo-1..hi-1`` words + the appended EOS), random order."""
    rng = random.Random(seed)
    return [
        " ".join(f"w{rng.randrange(n_words)}" for _ in range(rng.randint(lo - 1, hi - 1))) for _ in range(n)
    ]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, size: int, reps: int = 20) -> float:
    """Best bf16 ``size^3`` matmul throughput over ``reps`` runs, in FLOP/s."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    del a, b
    return 2 * size**3 / best


def model_flops(lengths: np.ndarray, n_nonemb: int, layers: int, attn_width: int) -> float:
    """Useful forward FLOPs: 2 N_nonemb per token + 2 L H n^2 attention per text."""
    n = lengths.astype(np.float64)
    return float((2 * n_nonemb * n).sum() + (2 * layers * attn_width * n**2).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=4096, help="texts")
    parser.add_argument("--min-tokens", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--st-batch-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128, help="ours: budget = batch_size x 512 tokens")
    parser.add_argument(
        "--compile", action="store_true", help="also time ours with torch.compile(dynamic=True)"
    )
    parser.add_argument(
        "--tiny", action="store_true", help="a 2-layer model, 64 texts: smoke test (CPU is fine)"
    )
    parser.add_argument("--peak-size", type=int, default=8192)
    args = parser.parse_args(argv)

    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer

    from embed import EmbeddingModel

    transformers.logging.set_verbosity_error()
    device = torch.device(args.device)
    shape = TINY if args.tiny else QWEN3_06B
    n_texts = min(args.n, 64) if args.tiny else args.n
    peak_size = min(args.peak_size, 512) if args.tiny else args.peak_size
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"{datetime.date.today()} | {name} | torch {torch.__version__} | transformers {transformers.__version__}"
        f" | sentence-transformers {sentence_transformers.__version__}",
        flush=True,
    )
    peak = matmul_peak(device, peak_size)
    print(f"bf16 {peak_size}^3 matmul peak: {peak / 1e12:.1f} TFLOP/s", flush=True)

    tmp = tempfile.TemporaryDirectory(prefix="tsumugi_gpu_bench_")
    folder = build_model(Path(tmp.name) / "qwen3_shape", shape, args.device)
    ours = EmbeddingModel.load(folder, device=device, dtype=torch.bfloat16)
    theirs = SentenceTransformer(str(folder), device=str(device), model_kwargs={"dtype": torch.bfloat16})
    theirs.eval()
    st_dtype = next(theirs.parameters()).dtype
    if st_dtype != torch.bfloat16:  # whatever this version did with model_kwargs: the same dtype as ours
        theirs.to(torch.bfloat16)
        st_dtype = next(theirs.parameters()).dtype
    st_backbone = getattr(theirs[0], "auto_model", None) or getattr(theirs[0], "model", None)
    st_attn = getattr(getattr(st_backbone, "config", None), "_attn_implementation", "?")
    print(
        f"ours: {ours.dtype}, attention {ours.model.config._attn_implementation}; sentence-transformers: "
        f"{st_dtype}, attention {st_attn}, max_seq_length {theirs.max_seq_length}; "
        f"TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', '(unset: parallel)')}",
        flush=True,
    )
    n_nonemb = sum(p.numel() for n, p in ours.model.named_parameters() if "embed_tokens" not in n)
    layers = shape["num_hidden_layers"]
    attn_width = shape["num_attention_heads"] * shape["head_dim"]

    _, n_words = word_tokenizer(shape["vocab_size"])
    texts = make_texts(n_texts, n_words, args.min_tokens, args.max_tokens)
    t0 = time.perf_counter()
    ids = ours.tokenizer(texts)["input_ids"]
    tokenize_s = time.perf_counter() - t0
    lengths = np.array([len(x) for x in ids])
    assert lengths.min() >= args.min_tokens and lengths.max() <= args.max_tokens
    flops = model_flops(lengths, n_nonemb, layers, attn_width)
    print(
        f"{n_texts} texts, {lengths.sum()} tokens ({lengths.min()}-{lengths.max()} per text), non-embedding "
        f"parameters {n_nonemb / 1e6:.1f}M, {flops / n_texts / 1e9:.2f} GFLOP per text; one tokenizer pass "
        f"over all texts takes {tokenize_s:.2f} s",
        flush=True,
    )

    def run_st():
        emb = theirs.encode(texts, batch_size=args.st_batch_size, convert_to_tensor=True)
        return emb.float().cpu().numpy()

    def run_ours():
        return ours.encode(texts, batch_size=args.batch_size, show_progress=False)

    variants = {"sentence-transformers (bf16, batch 128)": run_st, "tsumugi encode (bf16)": run_ours}
    warm = texts[: min(len(texts), 256)]
    theirs.encode(warm, batch_size=args.st_batch_size, convert_to_tensor=True)
    ours.encode(warm, batch_size=args.batch_size, show_progress=False)
    if args.compile:
        compiled = EmbeddingModel.load(folder, device=device, dtype=torch.bfloat16)
        try:
            compiled.model.compile(dynamic=True)  # in place: forward's signature (our input filter) unchanged
            t0 = time.perf_counter()
            compiled.encode(
                texts, batch_size=args.batch_size, show_progress=False
            )  # compiles every shape seen
            print(f"torch.compile warm-up: {time.perf_counter() - t0:.1f} s", flush=True)
            variants["tsumugi encode (bf16, torch.compile)"] = lambda: compiled.encode(
                texts, batch_size=args.batch_size, show_progress=False
            )
        except Exception as err:  # noqa: BLE001 - report and go on with the eager numbers
            print(f"torch.compile failed, skipped: {type(err).__name__}: {err}", flush=True)

    times: dict[str, list[float]] = {k: [] for k in variants}
    outputs: dict[str, np.ndarray] = {}
    names = list(variants)
    for r in range(args.rounds):
        for key in names if r % 2 == 0 else names[::-1]:
            sync(device)
            t0 = time.perf_counter()
            outputs[key] = variants[key]()
            sync(device)
            times[key].append(time.perf_counter() - t0)
            print(f"round {r + 1}: {key:40s} {times[key][-1]:7.2f} s", flush=True)

    st_key = names[0]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        "\n| encoder | texts/s | tokens/s | model TFLOP/s | % of bf16 peak | vs ST |\n|:--|--:|--:|--:|--:|--:|"
    )
    for key, t in med.items():
        print(
            f"| {key} | {n_texts / t:.0f} | {lengths.sum() / t:.0f} | {flops / t / 1e12:.1f} | "
            f"{100 * flops / t / peak:.1f}% | {med[st_key] / t:.2f}x |"
        )
    ref = outputs[st_key].astype(np.float64)
    for key in names[1:]:
        got = outputs[key].astype(np.float64)
        cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
        print(f"{key} vs sentence-transformers: min cosine {cos.min():.5f}, mean {cos.mean():.6f}")
    print(
        f"(peak {peak / 1e12:.1f} TFLOP/s; anchor: sentence-transformers bf16 encode = 9.7% of peak on an H100)"
    )
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
