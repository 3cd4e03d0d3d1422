"""The data stream: mixture weights, same-dataset batches, no duplicates, hard-negative sampling and padding,
instruction precedence, rank shares, determinism and resumable position."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from train.data import (
    QWEN3_TEMPLATE,
    DatasetSpec,
    PromptFormatter,
    RecordSet,
    SamplingConfig,
    TrainLoader,
    TrainRecord,
    plan_epoch,
    template_from_prompt,
)
from train.data.sampler import cut_batches, draw_indices

FMT = PromptFormatter(QWEN3_TEMPLATE, "", "Default task")


def _set(name: str, n: int, negatives: int = 0, dup_every: int = 0) -> RecordSet:
    records = []
    for i in range(n):
        positive = f"{name} doc {i // dup_every if dup_every else i}"
        negs = tuple(f"{name} neg {i}-{k}" for k in range(negatives))
        records.append(TrainRecord(f"{name} query {i}", (positive,), negs))
    return RecordSet(name, records)


def _loader(sets, specs=None, batch=4, k=0, rank=0, world=1, **sampling) -> TrainLoader:
    specs = specs or [DatasetSpec(path=s.name) for s in sets]
    config = SamplingConfig(batch_size=batch, seed=sampling.pop("seed", 0), **sampling)
    return TrainLoader(sets, specs, config, FMT, hard_negatives_k=k, rank=rank, world_size=world)


def test_weights_are_per_epoch_repeat_factors() -> None:
    rng = np.random.default_rng(0)
    twice = draw_indices(10, 2.0, rng)
    assert sorted(Counter(twice.tolist()).values()) == [2] * 10  # every record exactly twice
    assert len(set(draw_indices(10, 0.5, rng).tolist())) == 5  # a random half, no repeats
    plan = plan_epoch([40, 40], [1.0, 0.25], SamplingConfig(batch_size=5, no_duplicates=False), epoch=0)
    counts = Counter(d for batch in plan for d, _ in batch)
    assert counts == {0: 40, 1: 10}


def test_batch_by_dataset_and_mixed() -> None:
    sets = [_set("a", 16), _set("b", 16)]
    by_dataset = _loader(sets, batch=4, batch_by_dataset=True)
    for _ in range(by_dataset.batches_per_epoch):
        assert len(set(next(by_dataset).datasets)) == 1
    mixed = _loader(sets, batch=8, batch_by_dataset=False)
    assert any(len(set(next(mixed).datasets)) == 2 for _ in range(mixed.batches_per_epoch))


def test_no_duplicates_keeps_texts_unique_within_a_batch() -> None:
    sets = [_set("a", 32, dup_every=4)]  # 4 records share each positive
    loader = _loader(sets, batch=4, no_duplicates=True)
    assert loader.batches_per_epoch >= 6
    for _ in range(loader.batches_per_epoch):
        batch = next(loader)
        assert len(set(batch.positives)) == len(batch.positives)
    draws = [(0, i) for i in range(7)]
    keys = [[frozenset({t}) for t in "xxyzxwv"]]
    # draw 1 conflicts with draw 0 and waits for the next batch; draw 4 conflicts again and is left over
    assert cut_batches(draws, 3, keys) == [[(0, 0), (0, 2), (0, 3)], [(0, 1), (0, 5), (0, 6)]]


def test_hard_negatives_sampled_padded_or_random() -> None:
    many = _loader([_set("a", 8, negatives=5)], batch=4, k=3)
    batch = next(many)
    assert batch.k == 3 and all(len(set(row)) == 3 for row in batch.negatives)
    few = _loader([_set("a", 8, negatives=1)], batch=4, k=3)
    batch = next(few)
    assert all(len(set(row)) == 1 for row in batch.negatives)  # padded by resampling its own negative
    none = _loader([_set("a", 8)], batch=4, k=2)
    batch = next(none)
    for p, row in zip(batch.positives, batch.negatives):
        assert p not in row and all(d.startswith("a doc") for d in row)  # random other documents
    strict = TrainLoader(
        [_set("a", 8)],
        [DatasetSpec("a")],
        SamplingConfig(4),
        FMT,
        hard_negatives_k=2,
        missing_negatives="error",
    )
    with pytest.raises(ValueError, match="no hard negatives"):
        next(strict)


def test_instruction_precedence_and_symmetric_datasets() -> None:
    records = [TrainRecord("q0", ("p0",), instruction="Record task"), TrainRecord("q1", ("p1",))] * 2
    sets = [RecordSet("x", records[:2]), RecordSet("y", records[:2])]
    specs = [DatasetSpec("x", instruction="Dataset task"), DatasetSpec("y", symmetric=True)]
    loader = _loader(sets, specs, batch=2, no_duplicates=False)
    seen = set()
    for _ in range(loader.batches_per_epoch):
        batch = next(loader)
        seen.update(zip(batch.queries, batch.positives))
    assert ("Instruct: Record task\nQuery:q0", "p0") in seen
    assert ("Instruct: Dataset task\nQuery:q1", "p1") in seen
    assert ("Instruct: Default task\nQuery:q1", "Instruct: Default task\nQuery:p1") in seen  # symmetric


def test_template_from_model_prompts() -> None:
    qwen = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
    assert template_from_prompt(qwen) == QWEN3_TEMPLATE
    assert template_from_prompt("query: ") == "query: "
    assert PromptFormatter("query: ", "passage: ").query("x", "ignored") == "query: x"


def test_ranks_share_each_global_batch() -> None:
    sets = [_set("a", 16, negatives=2)]
    whole = _loader(sets, batch=4, k=2)
    parts = [_loader(sets, batch=4, k=2, rank=r, world=2) for r in range(2)]
    for _ in range(6):  # across an epoch boundary
        full = next(whole)
        a, b = (next(p) for p in parts)
        assert a.queries + b.queries == full.queries and a.negatives + b.negatives == full.negatives


def test_deterministic_and_resumable() -> None:
    sets = [_set("a", 12, negatives=4), _set("b", 9, negatives=1)]
    kwargs = {"batch": 3, "k": 2, "seed": 5}
    run = _loader(sets, **kwargs)
    stream = [next(run) for _ in range(15)]  # several epochs
    again = _loader(sets, **kwargs)
    assert [next(again) for _ in range(15)] == stream
    resumed = _loader(sets, **kwargs)
    partial = _loader(sets, **kwargs)
    for _ in range(7):
        next(partial)
    resumed.load_state_dict(partial.state_dict())
    assert [next(resumed) for _ in range(8)] == stream[7:]
    assert stream[0] != next(_loader(sets, batch=3, k=2, seed=6))
    other = _loader([_set("a", 11)], batch=3)
    with pytest.raises(ValueError, match="cannot resume"):
        other.load_state_dict(partial.state_dict())


def test_epochs_reshuffle_and_cover_every_record() -> None:
    loader = _loader([_set("a", 12)], batch=4, no_duplicates=False)
    epochs = [[next(loader).queries for _ in range(3)] for _ in range(2)]
    assert epochs[0] != epochs[1]
    for epoch in epochs:
        assert sorted(q for batch in epoch for q in batch) == sorted(
            f"Instruct: Default task\nQuery:a query {i}" for i in range(12)
        )


def test_too_small_data_is_an_error() -> None:
    with pytest.raises(ValueError, match="no full batch"):
        _loader([_set("a", 3)], batch=4)
    with pytest.raises(ValueError, match="not divisible"):
        _loader([_set("a", 8)], batch=3, world=2)
