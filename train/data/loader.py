"""The training data stream: datasets mixed per :mod:`train.data.sampler`, samples materialised with K hard
negatives and prompts, each rank's share of every global batch, and a resumable position.

Hard negatives (``hard_negatives_k = K``): a record with more than K keeps a random K; one with fewer pads by
resampling its own (ms-swift ``INFONCE_HARD_NEGATIVES``); one with none draws random documents (positives of
other records of the same dataset) when ``missing_negatives: random``, or fails with ``error``. A record with
several positives uses one at random per draw. All choices come from ``(seed, epoch, batch, row)``, so the
stream is a pure function of the seed and its position: :meth:`TrainLoader.state_dict` is just the position.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from train.data.batch import TextBatch
from train.data.prompts import PromptFormatter
from train.data.readers import OnError, RecordSet, read_source
from train.data.records import TrainRecord
from train.data.sampler import SamplingConfig, epoch_rng, plan_epoch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSpec:
    """One training source and its per-dataset options."""

    path: str | Path | Any  # JSONL / parquet / save_to_disk folder, or a dataset object
    name: str | None = None
    format: str = "auto"
    weight: float = 1.0
    instruction: str | None = None  # default instruction of this dataset's records
    symmetric: bool = False  # instruction template on documents too (STS, bitext)
    split: str = "train"
    negatives: str = (
        "none"  # jmteb folders: none | same_title (answer-free documents of the positive's title)
    )


def load_datasets(specs: Sequence[DatasetSpec], on_error: OnError = "raise") -> list[RecordSet]:
    """Read and validate every source (names default to file stems and must be unique)."""
    sets = []
    for spec in specs:
        sets.append(read_source(spec.path, spec.format, on_error, spec.name, spec.split, spec.negatives))
        if not sets[-1].records:
            raise ValueError(f"training dataset {sets[-1].name!r} has no valid records")
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"training dataset names must be unique, got {names} (set `name:`)")
    return sets


class TrainLoader:
    """Iterator of this rank's :class:`TextBatch` (``batch_size // world`` rows of each global batch)."""

    def __init__(
        self,
        sets: Sequence[RecordSet],
        specs: Sequence[DatasetSpec],
        sampling: SamplingConfig,
        formatter: PromptFormatter,
        hard_negatives_k: int = 0,
        missing_negatives: Literal["random", "error"] = "random",
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(sets) != len(specs):
            raise ValueError("one DatasetSpec per RecordSet")
        if sampling.batch_size % world_size:
            raise ValueError(f"batch_size {sampling.batch_size} is not divisible by world size {world_size}")
        if hard_negatives_k < 0:
            raise ValueError(f"hard_negatives_k must be >= 0, got {hard_negatives_k}")
        if missing_negatives not in ("random", "error"):
            raise ValueError(f"missing_negatives must be 'random' or 'error', got {missing_negatives!r}")
        self.sets, self.specs, self.sampling, self.formatter = list(sets), list(specs), sampling, formatter
        self.k, self.missing_negatives = hard_negatives_k, missing_negatives
        self.rank, self.world_size = rank, world_size
        self.local_rows = slice(
            rank * sampling.batch_size // world_size, (rank + 1) * sampling.batch_size // world_size
        )
        self._keys = [[frozenset((r.query, *r.positives)) for r in s.records] for s in self.sets]
        self.epoch, self.position = 0, 0
        self._plan: list | None = None
        self._plan_epoch = -1
        if not self._epoch_plan():
            raise ValueError(
                f"no full batch of {sampling.batch_size} can be drawn from datasets of sizes "
                f"{[len(s) for s in self.sets]} with weights {[sp.weight for sp in self.specs]}"
            )

    # ------------------------------------------------------------------ position
    def _epoch_plan(self) -> list:
        if self._plan_epoch != self.epoch:
            sizes = [len(s) for s in self.sets]
            weights = [sp.weight for sp in self.specs]
            self._plan = plan_epoch(sizes, weights, self.sampling, self.epoch, self._keys)
            self._plan_epoch = self.epoch
        return self._plan

    @property
    def batches_per_epoch(self) -> int:
        """Global batches in the current epoch."""
        return len(self._epoch_plan())

    def state_dict(self) -> dict:
        """The position (next batch to serve) and what it is valid for."""
        return {"epoch": self.epoch, "position": self.position, "fingerprint": self.fingerprint()}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a saved position (the data, batch size and seed must be the same)."""
        if state.get("fingerprint") != self.fingerprint():
            raise ValueError(
                f"cannot resume the data stream: it was saved for {state.get('fingerprint')}, "
                f"this run has {self.fingerprint()}"
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def fingerprint(self) -> dict:
        """What the position refers to: dataset names and sizes, weights, sampling options, K."""
        return {
            "datasets": [[s.name, len(s), sp.weight] for s, sp in zip(self.sets, self.specs)],
            "batch_size": self.sampling.batch_size,
            "seed": self.sampling.seed,
            "batch_by_dataset": self.sampling.batch_by_dataset,
            "no_duplicates": self.sampling.no_duplicates,
            "hard_negatives_k": self.k,
        }

    # ------------------------------------------------------------------ batches
    def __iter__(self) -> Iterator[TextBatch]:
        return self

    def __next__(self) -> TextBatch:
        plan = self._epoch_plan()
        for _ in range(1000):  # fractional weights can leave an epoch without a full batch
            if self.position < len(plan):
                break
            self.epoch, self.position = self.epoch + 1, 0
            plan = self._epoch_plan()
        else:
            raise RuntimeError("1000 consecutive epochs without a full batch: raise the dataset weights")
        draws = plan[self.position]
        batch = self._materialise(draws, self.epoch, self.position)
        self.position += 1
        return batch.slice(self.local_rows)

    def _materialise(self, draws: Sequence[tuple[int, int]], epoch: int, index: int) -> TextBatch:
        queries, positives, negatives, names = [], [], [], []
        for row, (d, r) in enumerate(draws):
            rng = epoch_rng(self.sampling.seed, epoch, 3, index, row)
            rec, spec = self.sets[d].records[r], self.specs[d]
            positive = rec.positives[int(rng.integers(len(rec.positives)))]
            chosen = self._negatives(rec, positive, d, rng)
            instruction = self.formatter.instruction(rec.instruction, spec.instruction)
            queries.append(self.formatter.query(rec.query, instruction))
            positives.append(self.formatter.document(positive, instruction, spec.symmetric))
            negatives.append([self.formatter.document(t, instruction, spec.symmetric) for t in chosen])
            names.append(self.sets[d].name)
        return TextBatch(queries, positives, negatives, names)

    def _negatives(self, rec: TrainRecord, positive: str, d: int, rng: np.random.Generator) -> list[str]:
        k, own = self.k, rec.negatives
        if k == 0:
            return []
        if len(own) >= k:
            return [own[i] for i in rng.choice(len(own), size=k, replace=False)]
        if own:
            return list(own) + [own[i] for i in rng.integers(len(own), size=k - len(own))]
        if self.missing_negatives == "error":
            raise ValueError(
                f"a record of dataset {self.sets[d].name!r} has no hard negatives but hard_negatives_k={k} "
                "(set missing_negatives: random to draw random documents)"
            )
        return self._random_documents(d, positive, rec.query, k, rng)

    def _random_documents(
        self, d: int, positive: str, query: str, k: int, rng: np.random.Generator
    ) -> list[str]:
        records = self.sets[d].records
        out: list[str] = []
        for _ in range(64 * k):
            other = records[int(rng.integers(len(records)))]
            text = other.positives[int(rng.integers(len(other.positives)))]
            if text != positive and text != query:
                out.append(text)
                if len(out) == k:
                    return out
        raise ValueError(
            f"dataset {self.sets[d].name!r} has too few distinct documents to draw random negatives"
        )
