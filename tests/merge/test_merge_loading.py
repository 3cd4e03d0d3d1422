"""Merged folders load where checkpoints load: embed.EmbeddingModel (eval/, train/) and sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest

from merge import run

TEXTS = ["今日は良い天気です。", "東京は日本の首都である。", "A merged embedding model."]


@pytest.mark.slow
def test_merged_me5_loads_in_embedding_model_and_sentence_transformers(tmp_path, me5_pair, me5_small_path):
    from sentence_transformers import SentenceTransformer

    from embed import EmbeddingModel

    out = tmp_path / "merged"
    run({"method": "slerp", "models": [str(p) for p in me5_pair], "parameters": {"t": 0.5}, "out": str(out)})
    for name in (
        "modules.json",
        "1_Pooling/config.json",
        "2_Normalize/config.json",
        "tokenizer.json",
        "config_sentence_transformers.json",
        "NOTICE.md",
        "merge_recipe.yaml",
    ):
        assert (out / name).is_file(), name
    assert not (out / "tsumugi_manifest.json").exists()
    ours = EmbeddingModel.load(out, device="cpu")
    assert ours.pooling == "mean" and ours.normalize
    e1 = ours.encode(TEXTS, prompt="query: ")
    st = SentenceTransformer(str(out), device="cpu")
    e2 = st.encode(TEXTS, prompt="query: ", normalize_embeddings=False)
    np.testing.assert_allclose(e1, e2, atol=1e-5)
    # the merge sits between its parents
    ea, eb = (EmbeddingModel.load(p, device="cpu").encode(TEXTS, prompt="query: ") for p in me5_pair)
    assert np.all(np.sum(e1 * ea, 1) > 0.9) and np.all(np.sum(e1 * eb, 1) > 0.9)


@pytest.mark.slow
def test_merging_qwen3_with_itself_keeps_its_embeddings(tmp_path, qwen3_tiny_path, qwen3_pair):
    from embed import EmbeddingModel

    run({"method": "karcher", "models": [str(qwen3_tiny_path)] * 3, "out": str(tmp_path / "self")})
    a = EmbeddingModel.load(qwen3_tiny_path, device="cpu").encode(TEXTS)
    b = EmbeddingModel.load(tmp_path / "self", device="cpu")
    assert b.pooling == "lasttoken"
    np.testing.assert_array_equal(a, b.encode(TEXTS))
    run({"method": "chain", "models": [str(p) for p in qwen3_pair], "out": str(tmp_path / "pair")})
    assert EmbeddingModel.load(tmp_path / "pair", device="cpu").encode(TEXTS).shape == a.shape
