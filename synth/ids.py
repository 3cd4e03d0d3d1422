"""Deterministic ids: the same (task, source, variant, seed) always gives the same record id and RNG stream."""

from __future__ import annotations

import hashlib
import random


def stable_hash(*parts: object) -> str:
    """Hex SHA-1 of the parts joined by a separator that cannot occur in their str()."""
    joined = "\x1f".join(str(p) for p in parts)
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


def record_id(task: str, source_id: str, variant: int, seed: int = 0) -> str:
    """16-hex-digit id of one generation unit: the ``variant``-th sample of ``task`` for ``source_id``."""
    return stable_hash("tsumugi-synth-v1", task, source_id, variant, seed)[:16]


def rng_for(record: str, salt: str = "") -> random.Random:
    """A ``random.Random`` seeded from a record id (and a salt), identical across runs and resumes."""
    return random.Random(int(stable_hash(record, salt), 16))


def seed_for(record: str, step: str) -> int:
    """A 31-bit sampling seed for one LLM call (record id x step name), so resumed runs resample the same way."""
    return int(stable_hash(record, step)[:8], 16) & 0x7FFFFFFF


def shard_of(record: str, num_workers: int) -> int:
    """The data-parallel worker (``0 .. num_workers-1``) that owns a record id."""
    return int(record[:8], 16) % num_workers
