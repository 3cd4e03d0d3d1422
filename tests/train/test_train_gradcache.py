"""GradCache under DeepSpeed: cached and uncached gradients agree within fp32 tolerance (ZeRO 0, 2, 3), and the
dropout RNG replay makes the cached gradients exact.

Gradients are read as ``θ_before - θ_after`` of one SGD step with lr 1 and no clipping, i.e. after DeepSpeed's
own reduction, partitioning and accumulation across the GradCache micro-steps.
"""

from __future__ import annotations

import pytest
import torch

from train.data import TextBatch
from train.engine import EngineSpec, deepspeed_config, initialize_engine
from train.export import gathered_state_dict
from train.losses import QWEN3
from train.model_setup import FinetuneSpec, apply_finetune, load_model
from train.objective import ObjectiveSpec, contrastive_loss, split_documents
from train.runtime import TorchRngState
from train.step import StepConfig, caches, chunks_per_batch, engine_micro_steps, make_chunks, train_step

pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.distributed\.\w+` is deprecated:FutureWarning")

SPEC = ObjectiveSpec(infonce=QWEN3.replace(temperature=0.05))
N, K = 4, 2


def _batch() -> TextBatch:
    queries = [f"query number {i} about topic {i % 3}" for i in range(N)]
    positives = [f"a passage that answers query {i}" + " with more words" * i for i in range(N)]
    negatives = [[f"unrelated passage {i}-{k}" for k in range(K)] for i in range(N)]
    negatives[1][0] = positives[2]  # a planted duplicate: the loss's text rule masks it
    return TextBatch(queries, positives, negatives, ["toy"] * N)


def _model(folder, checkpointing: bool = False):
    torch.manual_seed(0)
    return apply_finetune(
        load_model(folder, pooling="mean"), FinetuneSpec(gradient_checkpointing=checkpointing)
    )


def _sgd_gradients(
    folder, zero_stage: int, config: StepConfig, seed: int = 123, checkpointing: bool = False
) -> dict[str, torch.Tensor]:
    """θ_before - θ_after of one DeepSpeed SGD(lr=1) step = the gradient DeepSpeed applied."""
    model = _model(folder, checkpointing)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    micro = engine_micro_steps(N, K, config)
    engine = initialize_engine(
        model, optimizer, None, deepspeed_config(EngineSpec(zero_stage), N, micro, 0.0)
    )
    torch.manual_seed(seed)
    train_step(engine, model, [_batch()], config, SPEC)
    after = gathered_state_dict(engine)
    return {k: before[k] - after[k] for k in before if before[k].is_floating_point()}


def _reference_gradients(folder, config: StepConfig, seed: int = 123) -> dict[str, torch.Tensor]:
    """Plain torch, no DeepSpeed: every chunk embedded with gradients in order, one backward."""
    model = _model(folder)
    batch = _batch()
    torch.manual_seed(seed)
    chunks = make_chunks(model, batch, config)
    embeddings = [model(c.features) for c in chunks]
    q = torch.cat([e for e, c in zip(embeddings, chunks) if c.role == "query"])
    docs = torch.cat([e for e, c in zip(embeddings, chunks) if c.role == "document"])
    d_pos, d_neg = split_documents(docs, N, K)
    contrastive_loss(q, d_pos, d_neg, batch.ids(), SPEC).backward()
    return {
        f"{name}": p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
        for name, p in model.named_parameters()
    }


def _assert_close(a: dict, b: dict, atol: float = 2e-5) -> None:
    keys = sorted(set(a) & set(b))
    assert keys, "no common parameters"
    assert max(float(b[k].abs().max()) for k in keys) > 1e-3  # the step did move the weights
    for k in keys:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=1e-4, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.parametrize(
    ("zero_stage", "checkpointing"),
    [(0, False), (2, False), (3, True)],
    ids=["zero0", "zero2", "zero3-checkpointing"],
)
def test_cached_equals_uncached_gradients(
    gloo_world_of_one, tiny_bert, zero_stage: int, checkpointing: bool
) -> None:
    plain = StepConfig(grad_cache=False)
    cached = StepConfig(
        grad_cache=True, mini_batch_size=4
    )  # 1 query chunk + 3 document chunks: 4 micro-steps
    g_plain = _sgd_gradients(tiny_bert, zero_stage, plain)
    g_cached = _sgd_gradients(tiny_bert, zero_stage, cached, checkpointing=checkpointing)
    _assert_close(g_cached, g_plain)
    _assert_close(g_plain, _reference_gradients(tiny_bert, plain))


def test_gradcache_replays_dropout_exactly(gloo_world_of_one, tiny_bert_dropout, monkeypatch) -> None:
    cached = StepConfig(grad_cache=True, mini_batch_size=3)
    reference = _reference_gradients(tiny_bert_dropout, cached)  # the same dropout masks, chunk by chunk
    _assert_close(_sgd_gradients(tiny_bert_dropout, 2, cached), reference)
    # without the replay the second pass draws new dropout masks: the gradients are no longer the loss's
    monkeypatch.setattr(TorchRngState, "restore", lambda self: None)
    wrong = _sgd_gradients(tiny_bert_dropout, 2, cached)
    assert max(float((wrong[k] - reference[k]).abs().max()) for k in reference if k in wrong) > 1e-3


def test_micro_steps_match_chunks() -> None:
    config = StepConfig(grad_cache=True, mini_batch_size=3, accumulation=2)
    assert chunks_per_batch(4, 2, StepConfig(grad_cache=False)) == 2
    # 4 queries -> 2 chunks; 4 * (1 + 2) documents -> 4 chunks; times 2 accumulated batches
    assert engine_micro_steps(4, 2, config) == 12
    assert engine_micro_steps(4, 2, StepConfig(accumulation=3)) == 3
    # a batch whose 4 * (2 + 2) = 16 texts fit one mini-batch takes the plain step: one micro-step per batch
    fits = StepConfig(grad_cache=True, mini_batch_size=16, accumulation=2)
    assert not caches(4, 2, fits) and caches(4, 2, StepConfig(grad_cache=True, mini_batch_size=15))
    assert engine_micro_steps(4, 2, fits) == 2 and chunks_per_batch(4, 2, fits) == 2


def test_gradcache_skips_its_extra_pass_when_the_batch_fits(
    gloo_world_of_one, tiny_bert, monkeypatch
) -> None:
    """GradCache on, but all 16 texts fit ``mini_batch_size``: no no-grad pre-pass (two forwards, not four), and
    the gradients of the chunked GradCache step and of plain training."""
    import train.step as step_module

    calls = []
    monkeypatch.setattr(step_module, "cached_micro_batch", lambda *a, **k: calls.append(1) or 0.0)
    fits = _sgd_gradients(tiny_bert, 0, StepConfig(grad_cache=True, mini_batch_size=16))
    assert calls == []  # the cached path never ran
    monkeypatch.undo()
    _assert_close(fits, _sgd_gradients(tiny_bert, 0, StepConfig(grad_cache=True, mini_batch_size=4)))
    _assert_close(fits, _sgd_gradients(tiny_bert, 0, StepConfig(grad_cache=False)))


def test_rng_state_round_trip() -> None:
    state = TorchRngState.capture()
    a = torch.rand(3)
    state.restore()
    assert torch.equal(torch.rand(3), a)
