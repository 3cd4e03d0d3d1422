"""LoRA adapters: folded while streaming exactly as peft's merge_and_unload, or merged adapter-to-adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from merge_fixtures import read_tensors

from merge import MergeError, run
from merge.lora import open_folded


def _adapter(base_path: Path, out: Path, seed: int, **kwargs) -> dict[str, torch.Tensor]:
    """Save a random (non-zero) LoRA adapter on qwen3-tiny; return peft's merge_and_unload state dict."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    torch.manual_seed(seed)
    model = AutoModel.from_pretrained(str(base_path), dtype=torch.float32)
    cfg = LoraConfig(init_lora_weights=False, **kwargs)
    peft_model = get_peft_model(model, cfg)
    if kwargs.get("modules_to_save"):
        with torch.no_grad():
            peft_model.base_model.model.norm.modules_to_save["default"].weight.add_(0.5)
    peft_model.save_pretrained(str(out))
    return {k: v.detach().clone() for k, v in peft_model.merge_and_unload().state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs",
    [
        {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj", "down_proj"]},
        {
            "r": 4,
            "lora_alpha": 8,
            "use_rslora": True,
            "target_modules": ["q_proj", "v_proj", "embed_tokens"],
            "rank_pattern": {"q_proj": 2},
            "alpha_pattern": {"v_proj": 16},
            "modules_to_save": ["norm"],
        },
    ],
    ids=["linear", "rslora+patterns+embedding+modules_to_save"],
)
def test_fold_matches_peft_merge_and_unload(tmp_path, qwen3_tiny_path, kwargs):
    expected = _adapter(qwen3_tiny_path, tmp_path / "adapter", 0, **kwargs)
    ckpt = open_folded(tmp_path / "adapter")
    changed = 0
    base = read_tensors(qwen3_tiny_path)
    for name in ckpt.names():
        got = ckpt.read(name).float()
        torch.testing.assert_close(got, expected[name], atol=2e-6, rtol=0, msg=name)
        changed += not torch.equal(base[name], expected[name])
    ckpt.close()
    assert changed >= 4
    # a folded adapter is a merge input like any checkpoint: merged with itself it is the folded model
    run(
        {
            "method": "slerp",
            "models": [str(tmp_path / "adapter")] * 2,
            "parameters": {"t": 0.5},
            "out": str(tmp_path / "out"),
        }
    )
    out = read_tensors(tmp_path / "out")
    assert all(torch.allclose(out[k], expected[k], atol=2e-6, rtol=0) for k in out)
    assert (tmp_path / "out" / "modules.json").is_file()  # sentence-transformers files from the base


@pytest.mark.slow
def test_adapters_merged_directly(tmp_path, qwen3_tiny_path):
    kw = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    _adapter(qwen3_tiny_path, tmp_path / "a1", 1, **kw)
    _adapter(qwen3_tiny_path, tmp_path / "a2", 2, **kw)
    run(
        {
            "method": "linear",
            "models": [str(tmp_path / "a1"), str(tmp_path / "a2")],
            "lora": "adapter",
            "out": str(tmp_path / "out"),
        }
    )
    a1, a2, out = (read_tensors(tmp_path / d) for d in ("a1", "a2", "out"))
    assert out.keys() == a1.keys() and (tmp_path / "out" / "adapter_model.safetensors").is_file()
    for k in out:
        torch.testing.assert_close(out[k], (a1[k] + a2[k]) / 2)
    assert json.loads((tmp_path / "out" / "adapter_config.json").read_text())["r"] == 4
    with pytest.raises(MergeError, match="every input must be a LoRA adapter"):
        run(
            {
                "method": "linear",
                "models": [str(tmp_path / "a1"), str(qwen3_tiny_path)],
                "lora": "adapter",
                "out": str(tmp_path / "bad"),
            }
        )


def test_dora_is_refused(tmp_path, qwen3_tiny_path):
    from safetensors.torch import save_file

    d = tmp_path / "dora"
    d.mkdir()
    (d / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "use_dora": True,
                "r": 2,
                "lora_alpha": 2,
                "base_model_name_or_path": str(qwen3_tiny_path),
            }
        )
    )
    save_file(
        {"base_model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(2, 128)},
        str(d / "adapter_model.safetensors"),
    )
    with pytest.raises(MergeError, match="DoRA"):
        open_folded(d)
