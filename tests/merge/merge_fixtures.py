"""Builders for merge tests: synthetic checkpoints and perturbed copies of real ones (imported by tests)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

TINY_CONFIG = {
    "architectures": ["Qwen3Model"],
    "model_type": "qwen3",
    "num_hidden_layers": 3,
    "tie_word_embeddings": False,
    "hidden_size": 16,
}


def tiny_tensors(seed: int, hidden: int = 16, layers: int = 3, vocab: int = 40) -> dict[str, torch.Tensor]:
    """A small Qwen3-like state dict with seeded normal weights (norm weights around 1)."""
    g = torch.Generator().manual_seed(seed)
    out = {
        "embed_tokens.weight": torch.randn(vocab, hidden, generator=g) * 0.1,
        "norm.weight": 1 + 0.1 * torch.randn(hidden, generator=g),
    }
    for i in range(layers):
        p = f"layers.{i}."
        out[p + "self_attn.q_proj.weight"] = torch.randn(hidden, hidden, generator=g) * 0.1
        out[p + "self_attn.k_proj.weight"] = torch.randn(hidden // 2, hidden, generator=g) * 0.1
        out[p + "mlp.up_proj.weight"] = torch.randn(2 * hidden, hidden, generator=g) * 0.1
        out[p + "mlp.down_proj.weight"] = torch.randn(hidden, 2 * hidden, generator=g) * 0.1
        out[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(hidden, generator=g)
    return out


def write_checkpoint(folder: Path, tensors: dict[str, torch.Tensor], config: dict | None = None) -> Path:
    """A plain HF folder: config.json + model.safetensors."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        str(folder / "model.safetensors"),
        metadata={"format": "pt"},
    )
    (folder / "config.json").write_text(json.dumps(config or TINY_CONFIG))
    return folder


def read_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a folder's safetensors files (sharded or not)."""
    from safetensors.torch import load_file

    out = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def perturb_model(src: Path, dst: Path, seed: int, scale: float) -> Path:
    """Copy a model folder with every float tensor + ``scale`` x its std x seeded noise (streamed)."""
    from merge.shard_writer import ShardedWriter
    from merge.tensor_file import TensorFile

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors"))
    f = TensorFile(src / "model.safetensors")
    specs = sorted(f.specs.items())
    w = ShardedWriter(dst, specs, max_shard_bytes=1 << 40)
    for k, (name, _) in enumerate(specs):
        x = f.read(name)
        if x.is_floating_point() and x.numel() > 1:
            g = torch.Generator().manual_seed(seed * 100_003 + k)
            x = x + torch.randn(x.shape, generator=g) * scale * float(x.float().std())
        w.write(name, x)
    w.close()
    f.close()
    return dst
