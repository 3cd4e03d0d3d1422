"""Export from a DeepSpeed engine to the sentence-transformers layout: ZeRO-3 partitions gathered, LoRA merged;
the folder loads in embed.EmbeddingModel and sentence_transformers.SentenceTransformer with the same vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embed import EmbeddingModel
from train.engine import EngineSpec, deepspeed_config, initialize_engine
from train.export import export_model, gathered_state_dict
from train.model_setup import FinetuneSpec, LoraSpec, apply_finetune, is_lora, load_model

pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.distributed\.\w+` is deprecated:FutureWarning")

TEXTS = ["first text", "a second, longer text to embed", "三番目"]


def _trained_engine(folder, zero_stage: int, spec: FinetuneSpec):
    torch.manual_seed(0)
    model = apply_finetune(load_model(folder, pooling="mean"), spec)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    engine = initialize_engine(model, optimizer, None, deepspeed_config(EngineSpec(zero_stage), 2, 1, 0.0))
    for _ in range(2):  # move the weights (and LoRA B away from zero)
        e = engine(model.tokenize(TEXTS))
        loss = -10 * (e[0] * e[1]).sum() - 10 * (e[1] * e[2]).sum()  # pull the texts together
        engine.backward(loss, scale_wrt_gas=False)
        engine.step()
    return engine, model


@pytest.mark.parametrize(
    ("zero_stage", "spec"),
    [
        (3, FinetuneSpec()),
        (2, FinetuneSpec(method="lora", lora=LoraSpec(r=4, target_modules=("query", "value")))),
        (0, FinetuneSpec(freeze_input_embeddings=True)),
    ],
    ids=["zero3-full", "zero2-lora", "zero0-frozen-embeddings"],
)
def test_export_loads_everywhere_with_the_same_vectors(
    gloo_world_of_one, tiny_bert, tmp_path, zero_stage, spec
):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    engine, model = _trained_engine(tiny_bert, zero_stage, spec)
    assert is_lora(model) == (spec.method == "lora")
    path = export_model(engine, model, tmp_path / "export")
    model.eval()
    with torch.no_grad():
        expected = engine(model.tokenize(TEXTS)).numpy()
    loaded = EmbeddingModel.load(path)
    np.testing.assert_allclose(loaded.encode(TEXTS), expected, atol=1e-5)
    st = sentence_transformers.SentenceTransformer(str(path), device="cpu")
    np.testing.assert_allclose(st.encode(TEXTS), expected, atol=1e-5)
    base = EmbeddingModel.load(tiny_bert, pooling="mean")
    assert np.abs(base.encode(TEXTS) - expected).max() > 1e-4  # training did change the model
    if spec.freeze_input_embeddings:
        state = gathered_state_dict(engine)
        torch.testing.assert_close(
            state["model.embeddings.word_embeddings.weight"], base.model.embeddings.word_embeddings.weight
        )


@pytest.mark.parametrize("zero_stage", [0, 3], ids=["module-save", "gathered-copy"])
def test_a_checkpoint_without_pooler_exports_the_same_tensor_names(gloo_world_of_one, tmp_path, zero_stage):
    """multilingual-e5 ships no BERT pooler: a fine-tuned copy must not gain a random one (it would no longer
    merge with its base, and would carry dead weights)."""
    from _train_helpers import write_tiny_bert
    from safetensors import safe_open

    source = write_tiny_bert(tmp_path / "no_pooler", pooler=False)
    engine, model = _trained_engine(source, zero_stage, FinetuneSpec())
    assert model.model.pooler is None
    path = export_model(engine, model, tmp_path / "export")

    def names(folder):
        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            return set(f.keys())

    assert names(path) == names(source)
    assert not any(k.startswith("pooler.") for k in names(path))
