"""The dtype decision (embed.hardware): faked CPU-feature sets each way, CUDA capabilities, pinned dtypes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from embed.hardware import Hardware, bf16_speed_ratio, choose_dtype, cpu_flags, detect, matmul_gflops

REPO = Path(__file__).resolve().parents[2]
SAPPHIRE = frozenset("fpu sse2 avx2 fma avx512f avx512bw avx512_bf16 amx_bf16 amx_tile".split())
ZEN2 = frozenset("fpu sse2 avx2 fma".split())  # AVX2 only: bf16 is emulated


def cpu(flags: frozenset[str]) -> Hardware:
    return Hardware("cpu", "test CPU", 2, flags)


def gpu(capability: tuple[int, int]) -> Hardware:
    return Hardware("cuda", "test CPU", 16, ZEN2, "test GPU", capability)


def test_auto_on_native_bf16_cpu_picks_bf16_for_generation_only():
    hw = cpu(SAPPHIRE)
    assert hw.native_bf16 and hw.vector_isa == "amx"
    gen = choose_dtype("auto", "generate", hw, bf16_ratio=4.0)
    assert gen.dtype == torch.bfloat16 and gen.name == "bfloat16" and gen.warning is None
    assert "avx512_bf16/amx_bf16" in gen.reason and "4.0x" in gen.reason
    for purpose in ("train", "evaluate"):
        assert choose_dtype("auto", purpose, hw, bf16_ratio=4.0).dtype == torch.float32
    assert choose_dtype(None, "generate", hw, bf16_ratio=4.0).dtype == torch.bfloat16  # None means auto


AVX512_BF16 = frozenset("fpu sse2 avx2 fma avx512f avx512bw avx512_bf16 avx512_vnni".split())  # Zen 4: no AMX


def test_cpu_encoding_goes_bf16_only_where_bf16_is_much_faster(monkeypatch):
    monkeypatch.delenv("TSUMUGI_CPU_ENCODE_DTYPE", raising=False)
    amx = choose_dtype("auto", "encode", cpu(SAPPHIRE), bf16_ratio=3.7)
    assert amx.dtype == torch.bfloat16 and "3.7x" in amx.reason and "amx" in amx.reason
    # native bf16 but only ~2x fp32 (AVX-512 BF16 without AMX): not worth losing agreement with fp32 references
    slow = choose_dtype("auto", "encode", cpu(AVX512_BF16), bf16_ratio=2.0)
    assert slow.dtype == torch.float32 and "2.0x" in slow.reason and "< 2.5x" in slow.reason
    assert choose_dtype("auto", "encode", cpu(ZEN2), bf16_ratio=0.007).dtype == torch.float32
    # scoring and training stay fp32 on the same AMX CPU; a pinned dtype still wins
    for purpose in ("evaluate", "train"):
        assert choose_dtype("auto", purpose, cpu(SAPPHIRE), bf16_ratio=3.7).dtype == torch.float32
    assert choose_dtype("float32", "encode", cpu(SAPPHIRE), bf16_ratio=3.7).dtype == torch.float32
    assert choose_dtype("auto", "encode", gpu((9, 0))).dtype == torch.bfloat16


def test_cpu_encode_dtype_override(monkeypatch):
    monkeypatch.setenv("TSUMUGI_CPU_ENCODE_DTYPE", "bfloat16")
    choice = choose_dtype("auto", "encode", cpu(ZEN2), bf16_ratio=0.007)
    assert choice.dtype == torch.bfloat16 and choice.reason == "TSUMUGI_CPU_ENCODE_DTYPE"
    assert choose_dtype("auto", "evaluate", cpu(SAPPHIRE), bf16_ratio=3.7).dtype == torch.float32
    monkeypatch.setenv("TSUMUGI_CPU_ENCODE_DTYPE", "float32")
    assert choose_dtype("auto", "encode", cpu(SAPPHIRE), bf16_ratio=3.7).dtype == torch.float32
    monkeypatch.setenv("TSUMUGI_CPU_ENCODE_DTYPE", "auto")
    assert choose_dtype("auto", "encode", cpu(SAPPHIRE), bf16_ratio=3.7).dtype == torch.bfloat16
    monkeypatch.setenv("TSUMUGI_CPU_ENCODE_DTYPE", "int4")
    with pytest.raises(ValueError, match="TSUMUGI_CPU_ENCODE_DTYPE: unknown dtype 'int4'"):
        choose_dtype("auto", "encode", cpu(SAPPHIRE), bf16_ratio=3.7)


def test_auto_on_avx2_cpu_picks_fp32_everywhere():
    hw = cpu(ZEN2)
    assert not hw.native_bf16 and hw.vector_isa == "avx2"
    for purpose in ("generate", "train", "encode", "evaluate"):
        choice = choose_dtype("auto", purpose, hw, bf16_ratio=0.007)
        assert choice.dtype == torch.float32 and choice.warning is None
    assert "no native bf16" in choose_dtype("auto", "generate", hw).reason


def test_native_flags_but_slow_measured_bf16_falls_back_to_fp32():
    # a VM may advertise the flags while bf16 runs slowly (e.g. oneDNN limited to AVX2): the measurement decides
    choice = choose_dtype("auto", "generate", cpu(SAPPHIRE), bf16_ratio=0.02)
    assert choice.dtype == torch.float32 and "0.02x" in choice.reason


def test_pinned_bf16_without_native_bf16_warns_with_the_measured_slowdown():
    choice = choose_dtype("bfloat16", "generate", cpu(ZEN2), bf16_ratio=1 / 150)
    assert choice.dtype == torch.bfloat16  # honoured
    assert choice.warning and "150x slower" in choice.warning and "avx2" in choice.warning
    assert choose_dtype("bf16", "train", cpu(SAPPHIRE), bf16_ratio=4.0).warning is None
    assert choose_dtype("float32", "generate", cpu(ZEN2)).warning is None


def test_cuda_capabilities():
    for purpose in ("generate", "train", "encode", "evaluate"):
        assert choose_dtype("auto", purpose, gpu((9, 0))).dtype == torch.bfloat16
    assert choose_dtype("auto", "generate", gpu((7, 5))).dtype == torch.float16
    assert choose_dtype("auto", "train", gpu((7, 5))).dtype == torch.float32
    assert "GPU test GPU (compute capability 9.0)" in gpu((9, 0)).describe()


def test_bad_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown dtype 'int3'"):
        choose_dtype("int3", "encode", cpu(ZEN2))
    with pytest.raises(ValueError, match="unknown purpose"):
        choose_dtype("auto", "serve", cpu(ZEN2))  # type: ignore[arg-type]


def test_detected_flags_and_override(monkeypatch):
    monkeypatch.delenv("TSUMUGI_CPU_FLAGS", raising=False)
    hw = detect("cpu")
    assert hw.device == "cpu" and hw.cores >= 1
    if Path("/proc/cpuinfo").is_file():
        assert hw.cpu_flags and hw.cpu_model != "unknown"
    monkeypatch.setenv("TSUMUGI_CPU_FLAGS", "avx2, fma")
    assert cpu_flags() == frozenset({"avx2", "fma"})
    assert not detect("cpu").native_bf16


def test_measured_matmul_rates_are_positive_and_consistent_with_the_flags():
    f32, b16 = matmul_gflops(torch.float32), matmul_gflops(torch.bfloat16)
    assert f32 > 0 and b16 > 0
    assert bf16_speed_ratio() == pytest.approx(b16 / f32)


def test_preflight_of_the_pipeline_on_a_faked_avx2_cpu():
    env = {**os.environ, "TSUMUGI_CPU_FLAGS": "avx2 fma", "PYTHONPATH": str(REPO)}
    code = (
        "from hydra import compose, initialize_config_dir\n"
        "from omegaconf import OmegaConf\n"
        "from pipeline.preflight import preflight\n"
        f"with initialize_config_dir(config_dir={str(REPO / 'conf' / 'pipeline')!r}, version_base='1.3'):\n"
        "    cfg = OmegaConf.to_container(compose('config', overrides=['+synth.set.engine.dtype=bfloat16']))\n"
        "print('\\n'.join(preflight(cfg, bf16_ratio=0.01)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "flags: avx2" in out and "avx512" not in out.splitlines()[0]
    assert "synth vLLM bfloat16 (pinned in the config)" in out
    assert "WARNING bfloat16 was pinned but this CPU has no native bf16" in out and "100x slower" in out
    assert "expected ~30 min" in out  # the scale's figure for CPUs without native bf16
    assert "synth filter/mining embeddings float32" in out and out.rstrip().count("eval float32") == 1


def test_train_bf16_setting():
    from train.builders import train_bf16

    assert train_bf16("auto") is (torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    assert train_bf16(False) is False and train_bf16(True) is True
    with pytest.raises(ValueError, match="deepspeed.bf16 must be"):
        train_bf16("maybe")
