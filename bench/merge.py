"""Benchmark: slerp of two checkpoints with tsumugi's merge/ and with mergekit, side by side.

    .venv/bin/python bench/merge.py [--pairs me5,qwen3-0.6b] [--t 0.3] [--work .cache/bench-merge]

Pairs: ``me5``: me5-small (BertModel, 118M params, plus the BERT pooler mergekit requires) + seeded noise, two
copies; ``qwen3-0.6b``: random weights in the
Qwen3-0.6B shape (28 layers, hidden 1024, vocab 151936, tied embeddings; 596M params, 2.4 GB in fp32), in
Qwen3ForCausalLM naming (``model.layers.N``), which mergekit's qwen3 architecture needs. Noise is 10% of each
tensor's scale, so the pair's cosines (~0.99) take slerp's spherical branch, not the linear fallback.
Each tool runs as its own subprocess: wall time and peak resident memory (``wait4`` ru_maxrss), then the largest
absolute difference between the two outputs (fp32), tensor by tensor. mergekit lives in its own venv
(``.cache/venv-mergekit``; see ``--mergekit``), never in the project's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from merge.shard_writer import ShardedWriter  # noqa: E402
from merge.tensor_file import TensorFile, TensorSpec  # noqa: E402

QWEN3_06B = {
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 40960,
    "rope_theta": 1000000.0,
    "hidden_act": "silu",
    "attention_bias": False,
    "dtype": "float32",
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}


def qwen3_specs(cfg: dict) -> list[tuple[str, TensorSpec]]:
    """Tensor names and shapes of a Qwen3ForCausalLM with tied embeddings (no lm_head stored)."""
    h, i, hd = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    f32 = torch.float32
    specs = [
        ("model.embed_tokens.weight", TensorSpec(f32, (cfg["vocab_size"], h))),
        ("model.norm.weight", TensorSpec(f32, (h,))),
    ]
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        specs += [
            (p + "input_layernorm.weight", TensorSpec(f32, (h,))),
            (p + "post_attention_layernorm.weight", TensorSpec(f32, (h,))),
            (p + "mlp.gate_proj.weight", TensorSpec(f32, (i, h))),
            (p + "mlp.up_proj.weight", TensorSpec(f32, (i, h))),
            (p + "mlp.down_proj.weight", TensorSpec(f32, (h, i))),
            (p + "self_attn.q_proj.weight", TensorSpec(f32, (q, h))),
            (p + "self_attn.k_proj.weight", TensorSpec(f32, (kv, h))),
            (p + "self_attn.v_proj.weight", TensorSpec(f32, (kv, h))),
            (p + "self_attn.o_proj.weight", TensorSpec(f32, (h, q))),
            (p + "self_attn.q_norm.weight", TensorSpec(f32, (hd,))),
            (p + "self_attn.k_norm.weight", TensorSpec(f32, (hd,))),
        ]
    return sorted(specs)


def _pair_writers(dirs: list[Path], specs: list[tuple[str, TensorSpec]]) -> list[ShardedWriter]:
    return [ShardedWriter(d, specs, max_shard_bytes=2 * 1024**3) for d in dirs]


def _noisy(base: torch.Tensor, seed: int, scale: float = 0.1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    std = float(base.float().std()) if base.numel() > 1 else 0.0
    return base + torch.randn(base.shape, generator=g) * scale * (std or 0.02)


def build_me5_pair(work: Path) -> tuple[Path, Path]:
    """Two noisy copies of me5-small (sentence-transformers folders), written once."""
    from embed.bootstrap.registry import resolve_model

    src = Path(resolve_model("me5-small"))
    dirs = [work / "me5-a", work / "me5-b"]
    if all((d / "model.safetensors").is_file() for d in dirs):
        return dirs[0], dirs[1]
    base = TensorFile(src / "model.safetensors")
    h = base.specs["embeddings.LayerNorm.weight"].shape[0]
    pooler = {
        "pooler.dense.weight": 0.02 * torch.randn(h, h, generator=torch.Generator().manual_seed(7)),
        "pooler.dense.bias": torch.zeros(h),
    }  # BertModel's pooler: mergekit's bert.json requires it
    specs = sorted(
        [*base.specs.items(), *((n, TensorSpec(t.dtype, tuple(t.shape))) for n, t in pooler.items())]
    )
    writers = _pair_writers(dirs, specs)
    for k, (name, _) in enumerate(specs):
        x = pooler[name] if name in pooler else base.read(name)
        for j, w in enumerate(writers):
            w.write(name, _noisy(x, 1000 * j + k))
    for d, w in zip(dirs, writers):
        w.close()
        for f in src.iterdir():
            if f.is_file() and not f.name.endswith(".safetensors"):
                shutil.copy2(f, d / f.name)
            elif f.is_dir():
                shutil.copytree(f, d / f.name, dirs_exist_ok=True)
    return dirs[0], dirs[1]


def build_qwen3_pair(work: Path) -> tuple[Path, Path]:
    """Two random Qwen3-0.6B-shaped checkpoints (B = A + 10% noise), streamed to disk."""
    dirs = [work / "qwen3-0.6b-a", work / "qwen3-0.6b-b"]
    if all((d / "config.json").is_file() for d in dirs):
        return dirs[0], dirs[1]
    specs = qwen3_specs(QWEN3_06B)
    writers = _pair_writers(dirs, specs)
    for k, (name, spec) in enumerate(specs):
        g = torch.Generator().manual_seed(k)
        if len(spec.shape) == 1:
            a = 1.0 + 0.1 * torch.randn(spec.shape, generator=g)
        else:
            a = 0.02 * torch.randn(spec.shape, generator=g)
        writers[0].write(name, a)
        writers[1].write(name, _noisy(a, 10_000 + k))
        del a
    for d, w in zip(dirs, writers):
        w.close()
        (d / "config.json").write_text(json.dumps(QWEN3_06B, indent=2) + "\n")
    return dirs[0], dirs[1]


def timed(cmd: list[str], log: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit code) of a subprocess, measured by GNU time.

    A child's ru_maxrss starts at its parent's resident size (fork/vfork + exec keep the high-water mark), so
    this process, which holds tensors, cannot measure its own children; ``/usr/bin/time`` is small and can.
    """
    rss_file = log.with_suffix(".rss")
    start = time.perf_counter()
    with log.open("w") as f:
        code = subprocess.call(
            ["/usr/bin/time", "-q", "-f", "%M", "-o", str(rss_file), *cmd],
            stdout=f,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    wall = time.perf_counter() - start
    lines = rss_file.read_text().split() if rss_file.is_file() else []
    rss = int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else float("nan")
    return wall, rss, code


def _tensor_files(folder: Path) -> dict[str, TensorFile]:
    out = {}
    for path in sorted(folder.glob("*.safetensors")):
        f = TensorFile(path)
        out.update({n: f for n in f.specs})
    return out


def max_abs_diff(a: Path, b: Path) -> tuple[float, list[str], int]:
    """Largest |a - b| over the tensors both folders have (fp32), names only in one, tensors compared."""
    fa, fb = _tensor_files(a), _tensor_files(b)
    only = sorted(set(fa) ^ set(fb))
    worst = 0.0
    common = sorted(set(fa) & set(fb))
    for name in common:
        x, y = fa[name].read(name).float(), fb[name].read(name).float()
        worst = max(worst, float((x - y).abs().max()) if x.numel() else 0.0)
    return worst, only, len(common)


def mergekit_config(a: Path, b: Path, t: float, path: Path) -> Path:
    """A mergekit slerp recipe equivalent to ours (t=0 is ``a``)."""
    path.write_text(
        f"merge_method: slerp\nbase_model: {a}\nmodels:\n  - model: {a}\n  - model: {b}\n"
        f"parameters:\n  t: {t}\ndtype: float32\n"
    )
    return path


def bench_pair(label: str, a: Path, b: Path, t: float, work: Path, mergekit: Path) -> list[dict]:
    """Run both tools on one pair; rows of the table."""
    ours_out, mk_out = work / f"out-{label}-tsumugi", work / f"out-{label}-mergekit"
    for d in (ours_out, mk_out):
        shutil.rmtree(d, ignore_errors=True)
    ours = [
        str(REPO / ".venv/bin/python"),
        "-m",
        "merge",
        "slerp",
        str(a),
        str(b),
        "--t",
        str(t),
        "--out",
        str(ours_out),
    ]
    cfg = mergekit_config(a, b, t, work / f"mergekit-{label}.yml")
    theirs = [
        str(mergekit.parent / "python"),
        str(REPO / "bench" / "merge_mergekit_shim.py"),
        str(cfg),
        str(mk_out),
        "--no-copy-tokenizer",
        "--quiet",
        "--no-write-model-card",
    ]
    rows = []
    for tool, cmd, out in (("tsumugi", ours, ours_out), ("mergekit", theirs, mk_out)):
        wall, rss, code = timed(cmd, work / f"log-{label}-{tool}.txt")
        if code:
            print(
                f"{tool} failed on {label} (exit {code}); see {work / f'log-{label}-{tool}.txt'}",
                file=sys.stderr,
            )
        rows.append(
            {"pair": label, "tool": tool, "wall_s": wall, "rss_mib": rss, "ok": code == 0, "out": out}
        )
    if all(r["ok"] for r in rows):
        diff, only, n = max_abs_diff(ours_out, mk_out)
        rows[0]["diff"] = rows[1]["diff"] = diff
        rows[0]["compared"] = n
        if only:
            print(f"{label}: tensors in only one output: {only[:6]}", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: one line per pair and tool, ratios against mergekit."""
    out = [
        "| pair | tool | wall (s) | peak RSS (MiB) | time ratio | RSS ratio | max abs diff (fp32) |",
        "|:--|:--|--:|--:|--:|--:|--:|",
    ]
    by_pair: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_pair.setdefault(r["pair"], {})[r["tool"]] = r
    for pair, tools in by_pair.items():
        mk = tools.get("mergekit")
        for tool, r in tools.items():
            tr = f"{r['wall_s'] / mk['wall_s']:.2f}" if mk and mk["ok"] else "-"
            rr = f"{r['rss_mib'] / mk['rss_mib']:.2f}" if mk and mk["ok"] else "-"
            diff = f"{r['diff']:.2e}" if "diff" in r else "-"
            ok = "" if r["ok"] else " (failed)"
            out.append(
                f"| {pair} | {tool}{ok} | {r['wall_s']:.1f} | {r['rss_mib']:.0f} | {tr} | {rr} | {diff} |"
            )
    return "\n".join(out)


def main() -> None:
    """Build the pairs (cached), run both tools, print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", default="me5,qwen3-0.6b")
    ap.add_argument("--t", type=float, default=0.3)
    ap.add_argument("--work", type=Path, default=REPO / ".cache" / "bench-merge")
    ap.add_argument(
        "--mergekit", type=Path, default=REPO / ".cache" / "venv-mergekit" / "bin" / "mergekit-yaml"
    )
    ap.add_argument("--keep-outputs", action="store_true")
    args = ap.parse_args()
    if not args.mergekit.is_file():
        sys.exit(
            f"mergekit not found at {args.mergekit}: python3.11 -m venv .cache/venv-mergekit && "
            ".cache/venv-mergekit/bin/pip install torch==2.13.0 mergekit"
        )
    args.work.mkdir(parents=True, exist_ok=True)
    builders = {"me5": build_me5_pair, "qwen3-0.6b": build_qwen3_pair}
    rows = []
    for label in args.pairs.split(","):
        a, b = builders[label](args.work)
        rows += bench_pair(label, a, b, args.t, args.work, args.mergekit)
        if not args.keep_outputs:
            for r in rows:
                shutil.rmtree(r["out"], ignore_errors=True)
    print(
        f"slerp t={args.t}, fp32, CPU ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}); "
        f"mergekit {_version(args.mergekit)}"
    )
    print(table(rows))
    worst = max((r.get("diff", 0.0) for r in rows), default=0.0)
    if any(not r["ok"] for r in rows) or worst > 1e-6:
        sys.exit(1)


def _version(mergekit: Path) -> str:
    py = mergekit.parent / "python"
    try:
        out = subprocess.run(
            [str(py), "-c", "import importlib.metadata as m; print(m.version('mergekit'))"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


if __name__ == "__main__":
    main()
