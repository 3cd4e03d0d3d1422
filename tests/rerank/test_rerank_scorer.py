"""The batched scorer against float64 references from raw logits; cross-encoder against sentence-transformers;
save / load round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _rerank_refs import PAIRS, reference_scores

from embed.rerank import Reranker, RerankTemplate


@pytest.mark.parametrize("sep", ["\n", "\n\n"])
def test_causal_score_equals_float64_reference(qwen3_tiny_lm_path, qwen3_f64, sep) -> None:
    reranker = Reranker.load(qwen3_tiny_lm_path, device="cpu", dtype="float32", field_sep=sep)
    got = reranker.score(PAIRS, batch_size=2)  # several length-sorted, left-padded batches
    want = reference_scores(*qwen3_f64, PAIRS, RerankTemplate(sep))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    assert np.ptp(want) > 1e-3  # the pairs really score differently
    one_by_one = np.concatenate([reranker.score([p]) for p in PAIRS])
    np.testing.assert_allclose(got, one_by_one, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_gemma3_batched_score_equals_the_unpadded_official_procedure(gemma3_path) -> None:
    """<bos> first, pieces tokenised apart (Gemma has no <|im_end|> special token: "。<" would merge), and left
    padding in mixed-length batches changes nothing."""
    reranker = Reranker.load(gemma3_path, device="cpu", dtype="float32", max_length=256)
    pairs = [PAIRS[0], PAIRS[2]]  # one left-padded batch of two lengths
    got = reranker.score(pairs, batch_size=4)
    want = reference_scores(reranker.model, reranker.tokenizer, pairs, RerankTemplate(), bos=True)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


def test_forward_outputs_and_full_vocab(qwen3_tiny_lm_path) -> None:
    reranker = Reranker.load(qwen3_tiny_lm_path, device="cpu")
    features = reranker.features([q for q, _ in PAIRS], [d for _, d in PAIRS])
    two, full = reranker(features), reranker(features, full_vocab=True)
    assert two.shape == (len(PAIRS), 2) and full.shape == (len(PAIRS), len(reranker.tokenizer))
    torch.testing.assert_close(two, full[:, [2152, 9693]])
    torch.testing.assert_close(reranker.probabilities(two), torch.sigmoid(reranker.relevance_logits(two)))


def test_causal_save_load_round_trip(qwen3_tiny_lm_path, tmp_path) -> None:
    reranker = Reranker.load(
        qwen3_tiny_lm_path, device="cpu", field_sep="\n\n", max_length=96, instruction="X"
    )
    folder = reranker.save(tmp_path / "r")
    saved = json.loads((folder / "tsumugi_reranker.json").read_text())
    assert saved == {
        "kind": "causal_lm",
        "field_sep": "\n\n",
        "instruction": "X",
        "yes_token": "yes",
        "no_token": "no",
        "max_length": 96,
    }
    again = Reranker.load(folder, device="cpu")
    assert again.config == reranker.config
    np.testing.assert_array_equal(again.score(PAIRS), reranker.score(PAIRS))
    (folder / "tsumugi_reranker.json").write_text('{"kind": "causal_lm", "sep": 1}')
    with pytest.raises(ValueError, match=r"tsumugi_reranker.json: unknown field\(s\) \['sep'\]"):
        Reranker.load(folder)


@pytest.mark.slow
def test_cross_encoder_score_equals_float64reference_scores(me5_small_path) -> None:
    """me5-small with a fresh one-logit head: sigmoid of the float64 logit of the tokenizer's pair encoding.
    (The saved folder loading in sentence-transformers' CrossEncoder: tests/train/test_reranker_runs.py.)"""
    import copy

    torch.manual_seed(0)  # the fresh head
    reranker = Reranker.load(me5_small_path, device="cpu", max_length=64)
    assert reranker.kind == "cross_encoder"
    assert reranker.fresh_parameters == {
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "classifier.weight",
        "classifier.bias",
    }
    got = reranker.score(PAIRS, batch_size=2)
    model, tok = copy.deepcopy(reranker.model).double().eval(), reranker.tokenizer
    want = []
    for q, d in PAIRS:
        enc = tok(q, d, truncation=True, max_length=64, return_tensors="pt")
        with torch.no_grad():
            want.append(1.0 / (1.0 + np.exp(-float(model(**enc).logits[0, 0]))))
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    assert np.ptp(want) > 1e-4
