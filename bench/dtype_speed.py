"""bf16 vs fp32 on this CPU, natively and with the kernels limited to AVX2 (an AVX2-only machine's code paths).

    .venv/bin/python bench/dtype_speed.py [--model gemma3-270m] [--tokens 256]

For each ISA setting it runs, in a fresh process, a single-thread matmul in both dtypes and a forward pass of a
real causal LM (default gemma-3-270m, the synth generator, the bulk of the default run's bf16 compute) over one
sequence, and prints what ``embed.hardware.choose_dtype`` decides there. The AVX2 rows limit oneDNN, MKL and
ATen's own kernels to AVX2 (``ONEDNN_MAX_CPU_ISA`` / ``MKL_ENABLE_INSTRUCTIONS`` / ``ATEN_CPU_CAPABILITY``) and
fake the CPU flags (``TSUMUGI_CPU_FLAGS``) so the decision sees an AVX2 machine: that is how this bench measures
"the slower CPU" on a machine that has AVX-512.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AVX2_ENV = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "TSUMUGI_CPU_FLAGS": "fpu sse2 avx avx2 fma f16c",
}


def measure(model: str, tokens: int) -> dict:
    """(in the child) matmul GFLOP/s and LM forward seconds in fp32 and bf16, and the auto decision."""
    import time

    import torch
    from transformers import AutoModelForCausalLM

    from embed.bootstrap.registry import resolve_model
    from embed.hardware import choose_dtype, detect, matmul_gflops

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    out = {
        "isa": torch.backends.cpu.get_cpu_capability(),
        "flags": detect("cpu").describe(),
        "auto_generate": choose_dtype("auto", "generate").name,
    }
    lm = AutoModelForCausalLM.from_pretrained(resolve_model(model), dtype=torch.float32).eval()
    ids = torch.randint(100, 20000, (1, tokens), generator=torch.Generator().manual_seed(0))
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        out[f"matmul_{name}"] = matmul_gflops(dtype)
        m = lm.to(dtype)
        with torch.inference_mode():
            m(ids[:, :16])  # warm-up
            best = float("inf")
            for _ in range(2):
                t0 = time.perf_counter()
                m(ids)
                best = min(best, time.perf_counter() - t0)
        out[f"forward_{name}"] = best
    return out


def main() -> None:
    """Run both ISA settings in fresh processes and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.model, args.tokens)))
        return
    rows = {}
    for label, extra in (("native", {}), ("AVX2 only", AVX2_ENV)):
        env = {**os.environ, **extra, "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, __file__, "--child", "--model", args.model, "--tokens", str(args.tokens)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        rows[label] = json.loads(res.stdout.strip().splitlines()[-1])
    print(
        f"\ndtype_speed: {args.model}, one {args.tokens}-token forward (best of 2), matmul 256^3 on one thread"
    )
    print(f"{rows['native']['flags']}\n")
    print(
        "| kernels | ATen ISA | matmul fp32 GFLOP/s | matmul bf16 GFLOP/s | bf16/fp32 | forward fp32 s "
        "| forward bf16 s | bf16 speed-up | auto picks (synth) |"
    )
    print("|:--|:--|--:|--:|--:|--:|--:|--:|:--|")
    for label, r in rows.items():
        print(
            f"| {label} | {r['isa']} | {r['matmul_fp32']:.1f} | {r['matmul_bf16']:.1f} | "
            f"{r['matmul_bf16'] / r['matmul_fp32']:.3f}x | {r['forward_fp32']:.2f} | {r['forward_bf16']:.2f} | "
            f"{r['forward_fp32'] / r['forward_bf16']:.2f}x | {r['auto_generate']} |"
        )


if __name__ == "__main__":
    main()
