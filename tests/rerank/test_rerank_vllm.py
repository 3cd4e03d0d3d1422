"""The vLLM reranker path on the real CPU build of vLLM: the same token ids as the transformers scorer, the yes
and no log-probabilities read by id, so the scores agree with the float64 reference of the raw logits."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vllm")

from _rerank_refs import PAIRS, reference_scores  # noqa: E402

from embed.rerank import RerankTemplate, VllmReranker  # noqa: E402

pytestmark = pytest.mark.slow


def test_vllm_scores_equal_the_float64reference_scores(qwen3_tiny_lm_path, qwen3_f64) -> None:
    reranker = VllmReranker(
        qwen3_tiny_lm_path,
        max_length=512,
        dtype="float32",
        enforce_eager=True,
        enable_chunked_prefill=False,
        max_num_batched_tokens=8192,
    )
    try:
        got = reranker.score(PAIRS)
        instructed = reranker.score(PAIRS[:2], instruction="Judge relevance.")
    finally:
        del reranker.llm
    want = reference_scores(*qwen3_f64, PAIRS, RerankTemplate())
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    assert np.ptp(want) > 1e-3  # the pairs really score differently
    assert not np.allclose(instructed, got[:2], rtol=0, atol=1e-7)  # the instruction reaches the prompt
