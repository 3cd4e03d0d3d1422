"""Reranker losses against float64 references written out from their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from train.reranker.losses import RerankLossSpec, group_labels, listwise_loss, pointwise_loss, rerank_loss

N, G, V, YES, NO = 3, 4, 11, 7, 2


def _logsumexp(row) -> float:
    m = max(row)
    return m + math.log(sum(math.exp(x - m) for x in row))


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N * G, V, generator=g, dtype=torch.float64) * 3


def test_group_labels_are_sample_major() -> None:
    assert group_labels(2, 3).tolist() == [1, 0, 0, 1, 0, 0]


def test_two_way_pointwise(logits) -> None:
    two = logits[:, [NO, YES]]
    labels = group_labels(N, G)
    got = float(pointwise_loss(two.float(), labels, True, "two_way"))
    want = np.mean([_logsumexp(r) - r[int(y)] for r, y in zip(two.tolist(), labels.tolist())])
    assert got == pytest.approx(want, rel=1e-6)
    # = BCE on logit(yes) - logit(no) (ms-swift's pointwise form)
    bce = F.binary_cross_entropy_with_logits(two[:, 1] - two[:, 0], labels.double())
    assert got == pytest.approx(float(bce), rel=1e-6)


def test_full_vocab_pointwise(logits) -> None:
    labels = group_labels(N, G)
    got = float(pointwise_loss(logits.float(), labels, True, "full_vocab", YES, NO))
    want = np.mean([_logsumexp(r) - r[YES if y else NO] for r, y in zip(logits.tolist(), labels.tolist())])
    assert got == pytest.approx(want, rel=1e-6)


def test_cross_encoder_pointwise_bce(logits) -> None:
    x, labels = logits[:, 0], group_labels(N, G)
    got = float(pointwise_loss(x.float(), labels, False, "two_way"))
    want = np.mean(
        [
            -(y * math.log(1 / (1 + math.exp(-v))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-v))))
            for v, y in zip(x.tolist(), labels.tolist())
        ]
    )
    assert got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("loss", ["two_way", "full_vocab"])
def test_listwise_causal(logits, loss) -> None:
    spec = RerankLossSpec("listwise", loss, temperature=0.5)
    output = logits[:, [NO, YES]] if loss == "two_way" else logits
    got, scores = rerank_loss(output.float(), N, G, spec, True, YES, NO)
    rows = logits.tolist()
    rel = [r[YES] - r[NO] if loss == "two_way" else r[YES] - _logsumexp(r) for r in rows]
    groups = [[x / 0.5 for x in rel[i * G : (i + 1) * G]] for i in range(N)]
    want = np.mean([_logsumexp(g) - g[0] for g in groups])
    assert float(got) == pytest.approx(want, rel=1e-6)
    np.testing.assert_allclose(scores.numpy(), np.reshape(rel, (N, G)), rtol=1e-5)


def test_listwise_cross_encoder_and_spec_errors(logits) -> None:
    x = logits[:, 0].float()
    got, _ = rerank_loss(x, N, G, RerankLossSpec("listwise"), False)
    assert float(got) == pytest.approx(float(listwise_loss(x.view(N, G))), rel=1e-7)
    rows = x.view(N, G).double().tolist()
    assert float(got) == pytest.approx(np.mean([_logsumexp(r) - r[0] for r in rows]), rel=1e-6)
    with pytest.raises(ValueError, match="reranker.objective must be one of"):
        RerankLossSpec("pairwise")
    with pytest.raises(ValueError, match="reranker.loss must be one of"):
        RerankLossSpec(loss="vocab")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        RerankLossSpec(temperature=0)
