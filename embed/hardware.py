"""What hardware this process runs on, and the one place that turns ``dtype: auto`` into a dtype.

``choose_dtype(requested, purpose)`` is used by synth's vLLM engines (``generate``), training (``train``),
``EmbeddingModel`` encoding (``encode``: synth's filter and mining, ``python -m embed``) and JMTEB scoring
(``evaluate``). ``auto`` picks bfloat16 only where it is native and fast:

- CUDA: bf16 on compute capability >= 8.0 (Ampere and later); before that fp16 for inference, fp32 for training.
- CPU: bf16 for generation only when the CPU has native bf16 (``avx512_bf16`` / ``amx_bf16`` on x86, ``bf16`` on
  Arm) *and* a measured bf16 matmul is at least as fast as fp32 here; fp32 otherwise. Without native bf16 a bf16
  matmul is emulated (~150x slower than fp32 on AVX2). Encoding goes bf16 only where a measured bf16 matmul is at
  least ``ENCODE_FAST_ENOUGH`` (2.5x) fp32's — AMX-class CPUs (3.7x measured on a 2-core Sapphire-Rapids-class
  VM, where me5-small encodes 2.75x faster at cosine >= 0.99995 against fp32); AVX-512-BF16 without AMX gains
  too little over fp32 to give up bit-for-bit agreement. Training and JMTEB scoring on CPU stay fp32 (gradients
  and scores match fp32 references and the official fp32 runs); a user may still pin bf16.
  ``TSUMUGI_CPU_ENCODE_DTYPE`` (``float32`` | ``bfloat16``) replaces the CPU ``encode`` rule (the test suite pins
  float32 so results do not depend on the host).

A pinned bf16 on a CPU without native bf16 is honoured with a loud warning that gives the measured slowdown.
``TSUMUGI_CPU_FLAGS`` (comma or space separated) replaces the detected CPU flags, to see what another machine
would get.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Literal

import torch

log = logging.getLogger(__name__)

Purpose = Literal["generate", "train", "encode", "evaluate"]
PURPOSES: tuple[str, ...] = ("generate", "train", "encode", "evaluate")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
"""CPU flags (``/proc/cpuinfo``) that mean bf16 arithmetic in hardware: x86 AVX-512 BF16 / AMX, Arm BF16."""
FAST_ENOUGH = 1.0
"""bf16 is chosen for generation on a native-bf16 CPU only when its measured matmul rate is at least this times fp32's."""
ENCODE_FAST_ENOUGH = 2.5
"""bf16 is chosen for CPU encoding only when a measured bf16 matmul is at least this times fp32's (AMX-class)."""
_NAMES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}
_CANONICAL = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


@dataclass(frozen=True)
class Hardware:
    """The device a stage computes on and what it can do."""

    device: str  # "cpu" | "cuda"
    cpu_model: str
    cores: int
    cpu_flags: frozenset[str] = field(default_factory=frozenset)
    gpu_name: str | None = None
    gpu_capability: tuple[int, int] | None = None

    @property
    def native_bf16(self) -> bool:
        """Whether bf16 arithmetic runs in hardware on this device."""
        if self.device == "cuda":
            return self.gpu_capability is not None and self.gpu_capability >= (8, 0)
        return any(f in self.cpu_flags for f in NATIVE_BF16_FLAGS)

    @property
    def vector_isa(self) -> str:
        """The widest x86 vector extension among the flags (``amx``, ``avx512``, ``avx2``, or ``baseline``)."""
        for isa, flag in (("amx", "amx_tile"), ("avx512", "avx512f"), ("avx2", "avx2")):
            if flag in self.cpu_flags:
                return isa
        return "baseline"

    def describe(self) -> str:
        """One line: CPU model, cores, the bf16-relevant flags, and the GPU when there is one."""
        flags = [f for f in ("avx2", "avx512f", *NATIVE_BF16_FLAGS, "amx_tile") if f in self.cpu_flags]
        cpu = f"CPU {self.cpu_model} ({self.cores} cores; flags: {' '.join(flags) or 'none of avx2/avx512/bf16'})"
        if self.device == "cuda":
            cap = ".".join(map(str, self.gpu_capability or ()))
            return f"GPU {self.gpu_name} (compute capability {cap}); {cpu}"
        return f"{cpu}; no GPU"


@dataclass(frozen=True)
class DtypeChoice:
    """A dtype decision and why it was made (``warning`` is set when the choice will be slow)."""

    dtype: torch.dtype
    reason: str
    warning: str | None = None

    @property
    def name(self) -> str:
        """The dtype's canonical name (``float32`` | ``bfloat16`` | ``float16``), as vLLM and configs spell it."""
        return _CANONICAL[self.dtype]


def _cpu_flags_from_proc() -> tuple[str, frozenset[str]]:
    """CPU model name and feature flags from ``/proc/cpuinfo`` (empty on systems without it)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model") and model in (
                    "",
                    platform.machine(),
                    platform.processor(),
                ):
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model or "unknown", frozenset(flags)


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags, or those of ``TSUMUGI_CPU_FLAGS`` when it is set."""
    override = os.environ.get("TSUMUGI_CPU_FLAGS")
    if override is not None:
        return frozenset(override.replace(",", " ").split())
    return _cpu_flags_from_proc()[1]


def detect(device: str | torch.device | None = None) -> Hardware:
    """The hardware of ``device`` (default: CUDA when available, else CPU)."""
    dev = torch.device(device) if device is not None else None
    use_cuda = dev.type == "cuda" if dev is not None else torch.cuda.is_available()
    model, _ = _cpu_flags_from_proc()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if use_cuda and torch.cuda.is_available():
        index = dev.index if dev is not None and dev.index is not None else torch.cuda.current_device()
        return Hardware(
            "cuda",
            model,
            cores,
            cpu_flags(),
            torch.cuda.get_device_name(index),
            tuple(torch.cuda.get_device_capability(index)),
        )
    return Hardware("cpu", model, cores, cpu_flags())


@functools.lru_cache(maxsize=4)
def matmul_gflops(dtype: torch.dtype, n: int = 256, reps: int = 5) -> float:
    """Measured single-thread CPU matmul rate of an ``n x n`` product in ``dtype`` (GFLOP/s, best of ``reps``).

    One thread, so the number says what the kernel can do, not how busy the other cores are. About 0.1 s with
    native bf16 (or in fp32); ~0.2 s for emulated bf16 at n=256."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=g).to(dtype)
        b = torch.randn(n, n, generator=g).to(dtype)
        torch.mm(a[:32, :32], b[:32, :32])  # warm-up: first-call dispatch and kernel selection
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return 2 * n**3 / max(best, 1e-9) / 1e9


def bf16_speed_ratio() -> float:
    """Measured bf16 / fp32 matmul rate on this CPU (> 1: bf16 is faster)."""
    return matmul_gflops(torch.bfloat16) / matmul_gflops(torch.float32)


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    """A dtype name (``float32``, ``bf16``, ...) or torch.dtype as a torch.dtype; a clear error otherwise."""
    if isinstance(name, torch.dtype):
        return name
    key = str(name).lower()
    if key not in _NAMES:
        raise ValueError(f"unknown dtype {name!r}; use auto or one of {', '.join(sorted(_NAMES))}")
    return _NAMES[key]


def choose_dtype(
    requested: str | torch.dtype | None,
    purpose: Purpose,
    hardware: Hardware | None = None,
    *,
    bf16_ratio: float | None = None,
) -> DtypeChoice:
    """The dtype for ``purpose`` on ``hardware``: ``requested`` when pinned, else the ``auto`` rule above.

    ``bf16_ratio`` is the bf16/fp32 matmul rate (measured here when needed and not given)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; use one of {PURPOSES}")
    hw = hardware or detect()
    if requested is not None and str(requested).lower() != "auto":
        dtype = parse_dtype(requested)
        warning = None
        if dtype == torch.bfloat16 and hw.device == "cpu" and not hw.native_bf16:
            ratio = bf16_ratio if bf16_ratio is not None else bf16_speed_ratio()
            warning = (
                f"bfloat16 was pinned but this CPU has no native bf16 ({hw.vector_isa}; none of "
                f"{'/'.join(NATIVE_BF16_FLAGS)}): a bf16 matmul measured {1 / max(ratio, 1e-9):.0f}x slower than "
                "fp32 here. Use dtype auto or float32 unless that is what you want."
            )
        return DtypeChoice(dtype, "pinned in the config", warning)
    if hw.device == "cuda":
        if hw.native_bf16:
            return DtypeChoice(torch.bfloat16, f"GPU compute capability {hw.gpu_capability} has bf16")
        if purpose == "train":
            return DtypeChoice(torch.float32, f"GPU compute capability {hw.gpu_capability} has no bf16")
        return DtypeChoice(torch.float16, f"GPU compute capability {hw.gpu_capability} has no bf16: fp16")
    if purpose == "encode":
        return _cpu_encode_dtype(hw, bf16_ratio)
    if purpose != "generate":
        return DtypeChoice(torch.float32, f"CPU {purpose}: fp32 keeps results equal to the fp32 references")
    if not hw.native_bf16:
        return DtypeChoice(
            torch.float32,
            f"CPU has no native bf16 ({hw.vector_isa}): bf16 would be emulated, far slower than fp32",
        )
    ratio = bf16_ratio if bf16_ratio is not None else bf16_speed_ratio()
    if ratio < FAST_ENOUGH:
        return DtypeChoice(
            torch.float32, f"CPU flags say native bf16 but a bf16 matmul measured {ratio:.2f}x fp32 here"
        )
    native = "/".join(f for f in NATIVE_BF16_FLAGS if f in hw.cpu_flags)
    return DtypeChoice(
        torch.bfloat16, f"CPU has native bf16 ({native}); bf16 matmul measured {ratio:.1f}x fp32"
    )


def _cpu_encode_dtype(hw: Hardware, bf16_ratio: float | None) -> DtypeChoice:
    """The CPU ``encode`` rule: ``TSUMUGI_CPU_ENCODE_DTYPE`` when set, else bf16 only where it is much faster."""
    override = os.environ.get("TSUMUGI_CPU_ENCODE_DTYPE", "").strip()
    if override and override.lower() != "auto":
        try:
            dtype = parse_dtype(override)
        except ValueError as err:
            raise ValueError(f"TSUMUGI_CPU_ENCODE_DTYPE: {err}") from None
        return DtypeChoice(dtype, "TSUMUGI_CPU_ENCODE_DTYPE")
    if not hw.native_bf16:
        return DtypeChoice(torch.float32, f"CPU has no native bf16 ({hw.vector_isa}): fp32 encoding")
    ratio = bf16_ratio if bf16_ratio is not None else bf16_speed_ratio()
    if ratio < ENCODE_FAST_ENOUGH:
        return DtypeChoice(
            torch.float32,
            f"bf16 matmul measured {ratio:.1f}x fp32 here (< {ENCODE_FAST_ENOUGH}x): fp32 encoding keeps "
            "results equal to the fp32 references",
        )
    return DtypeChoice(
        torch.bfloat16, f"bf16 matmul measured {ratio:.1f}x fp32 here ({hw.vector_isa}): bf16 encoding"
    )


def resolve(
    requested: str | torch.dtype | None,
    purpose: Purpose,
    device: str | torch.device | None = None,
    *,
    who: str = "",
) -> DtypeChoice:
    """:func:`choose_dtype` on ``device``'s hardware, logged (what and why) and warned about when slow."""
    choice = choose_dtype(requested, purpose, detect(device))
    label = f"{who}: " if who else ""
    log.info("%sdtype %s for %s (%s)", label, choice.name, purpose, choice.reason)
    if choice.warning:
        log.warning("%s%s", label, choice.warning)
        print(f"WARNING: {label}{choice.warning}", flush=True)
    return choice
