"""Packed training: the plain step with packing gives the padded step's gradients, and GradCache with packing
gives the plain padded step's gradients (tiny BERT, no dropout); with dropout, GradCache's RNG replay stays exact
under packing (cached = uncached packed)."""

from __future__ import annotations

import torch
from _train_helpers import write_tiny_bert

from train.data import TextBatch
from train.losses import QWEN3
from train.model_setup import load_model
from train.objective import ObjectiveSpec
from train.step import StepConfig, cached_micro_batch, make_chunks, plain_micro_batch

SPEC = ObjectiveSpec(infonce=QWEN3.replace(temperature=0.05))
N, K = 4, 1


class _Engine:
    """The slice of a DeepSpeed engine the step functions use: call, backward, step (a no-op here)."""

    def __init__(self, model) -> None:
        self.module = model

    def __call__(self, features):
        return self.module(features)

    def backward(self, loss, scale_wrt_gas: bool = True) -> None:
        loss.backward()

    def step(self) -> None:
        pass


def _batch() -> TextBatch:
    queries = [f"query {i}" + " more" * (3 * i) for i in range(N)]
    positives = [f"a passage that answers query {i}" + " with more words" * (2 * i) for i in range(N)]
    negatives = [[f"unrelated passage {i}-{k}" + " x" * i for k in range(K)] for i in range(N)]
    return TextBatch(queries, positives, negatives, ["toy"] * N)


def _gradients(folder, packing: str, config: StepConfig, cached: bool, seed: int = 7) -> dict:
    model = load_model(folder, pooling="mean", packing=packing)
    torch.manual_seed(seed)
    batch = _batch()
    chunks = make_chunks(model, batch, config)
    run = cached_micro_batch if cached else plain_micro_batch
    run(_Engine(model), batch, chunks, SPEC, 1.0)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert grads and max(float(g.abs().max()) for g in grads.values()) > 1e-4
    return grads


def _close(a: dict, b: dict, atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for name in a:
        scale = max(1.0, float(b[name].abs().max()))  # fp32 summation order: atol of the largest entry
        torch.testing.assert_close(a[name], b[name], atol=atol * scale, rtol=1e-4, msg=name)


def test_packed_plain_and_gradcache_steps_equal_the_padded_step(tmp_path):
    folder = write_tiny_bert(tmp_path / "bert", dropout=0.0)
    plain = StepConfig()
    cached = StepConfig(grad_cache=True, mini_batch_size=3)
    padded = _gradients(folder, "false", plain, cached=False)
    _close(_gradients(folder, "true", plain, cached=False), padded)
    _close(_gradients(folder, "true", cached, cached=True), padded)
    _close(_gradients(folder, "false", cached, cached=True), padded)


def test_gradcache_replay_is_exact_under_packing_with_dropout(tmp_path):
    folder = write_tiny_bert(tmp_path / "bert", dropout=0.1)
    config = StepConfig(grad_cache=True, mini_batch_size=3)
    cached = _gradients(folder, "true", config, cached=True)
    uncached = _gradients(folder, "true", config, cached=False)  # same chunks, all with gradients
    _close(cached, uncached)
