"""Gemma-3 as an embedding backbone (the decoder path of gemma-3-270m, on a tiny random Gemma-3 built in code):
last-token pooling at the appended <eos> equals a float64 re-computation, left and right padding agree, and
the saved checkpoint loads in sentence-transformers with the same embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_gemma3 import write_tiny_gemma3

from embed import EmbeddingModel, qwen3_instruct

# lengths from 2 to ~60 tokens: past the 8-token sliding window, so left padding meets the sliding layer
TEXTS = ["猫", "今日は良い天気です。", "株価が急落した。" * 3, "ab", "窓辺で眠っている猫を見た。" * 2]
PROMPTS = {"query": qwen3_instruct("Given a web search query, retrieve relevant passages"), "document": ""}


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory):
    return write_tiny_gemma3(tmp_path_factory.mktemp("gemma3") / "tiny")


def _float64_reference(folder, texts: list[str], prompt: str = "") -> np.ndarray:
    """Each text alone (no padding) through the HF model in float64; the state at its last token (the
    appended <eos>), L2-normalised in float64."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, dtype=torch.float64).eval()
    rows = []
    for t in texts:
        ids = tok(prompt + t)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            h = model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
        rows.append((h / h.norm()).numpy())
    return np.stack(rows)


def test_defaults_are_the_qwen3_embedding_way(gemma_dir):
    m = EmbeddingModel.load(gemma_dir)
    assert m.pooling == "lasttoken" and m.normalize and m.appends_eos
    assert m.tokenizer.padding_side == "left"
    ids = m.tokenize(["abc"])["input_ids"][0].tolist()
    assert ids[0] == m.tokenizer.bos_token_id and ids[-1] == m.tokenizer.eos_token_id


def test_last_token_pooling_equals_float64_recomputation(gemma_dir):
    m = EmbeddingModel.load(gemma_dir, prompts=PROMPTS)
    got = m.encode(TEXTS, prompt_name="query", batch_size=3)  # padded batches of mixed lengths
    want = _float64_reference(gemma_dir, TEXTS, PROMPTS["query"])
    np.testing.assert_allclose(got, want, atol=1e-5)
    docs = m.encode(TEXTS, prompt_name="document")
    np.testing.assert_allclose(docs, _float64_reference(gemma_dir, TEXTS), atol=1e-5)
    assert np.abs(got - docs).max() > 1e-3  # the instruction is on queries only


def test_left_and_right_padding_give_the_same_vectors(gemma_dir):
    left = EmbeddingModel.load(gemma_dir)
    right = EmbeddingModel.load(gemma_dir)
    right.tokenizer.padding_side = "right"
    feats = right.tokenize(TEXTS)
    assert (feats["attention_mask"][:, -1] == 0).any()  # right padding really happened
    np.testing.assert_allclose(right.encode(TEXTS), left.encode(TEXTS), atol=1e-5)
    alone = np.stack([left.encode([t])[0] for t in TEXTS])  # and no batch mate changes a vector
    np.testing.assert_allclose(left.encode(TEXTS), alone, atol=1e-5)


def test_saved_checkpoint_loads_in_sentence_transformers_with_the_same_embeddings(gemma_dir, tmp_path):
    st_cls = pytest.importorskip("sentence_transformers").SentenceTransformer
    ours = EmbeddingModel.load(gemma_dir, prompts=PROMPTS, max_length=48)
    folder = ours.save(tmp_path / "gemma_st")
    st = st_cls(str(folder), device="cpu")
    assert st.tokenizer.padding_side == "left" and st.max_seq_length == 48
    for name in ("query", "document"):
        a = ours.encode(TEXTS, prompt_name=name)
        b = st.encode(TEXTS, prompt_name=name, convert_to_numpy=True)
        np.testing.assert_allclose(a, b, atol=1e-5)
    again = EmbeddingModel.load(folder)
    np.testing.assert_allclose(
        again.encode(TEXTS, prompt_name="query"), ours.encode(TEXTS, prompt_name="query"), atol=1e-6
    )


@pytest.mark.slow
def test_real_gemma3_270m_matches_sentence_transformers(tmp_path):
    """The bootstrapped gemma-3-270m (skipped where its GGUF package is not installed)."""
    pytest.importorskip("gguf")
    st_cls = pytest.importorskip("sentence_transformers").SentenceTransformer
    from embed.bootstrap.registry import resolve_model

    ours = EmbeddingModel.load(resolve_model("gemma3-270m"), prompts=PROMPTS, max_length=64)
    assert type(ours.model).__name__ == "Gemma3TextModel" and ours.appends_eos
    folder = ours.save(tmp_path / "gemma3_270m_st")
    st = st_cls(str(folder), device="cpu")
    np.testing.assert_allclose(
        ours.encode(TEXTS, prompt_name="query"), st.encode(TEXTS, prompt_name="query"), atol=1e-5
    )
