"""Persona retrieval (recipe §7): the top-k personas of each passage by cosine with the shared embedding model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from synth.corpus import Passage
from synth.embedding import QUERY_SIDE, Side, encode
from synth.ids import stable_hash
from synth.personas import Persona


def topk_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first (ties broken by lower index)."""
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")
    return order[:, :k]


def retrieve_personas(
    passages: list[Passage],
    personas: list[Persona],
    model,
    k: int = 5,
    passage_side: Side = QUERY_SIDE,
    persona_side: Side = QUERY_SIDE,
    batch_size: int = 32,
) -> dict[str, list[tuple[str, float]]]:
    """``{passage id: [(persona id, cosine), ...]}``, the k best personas per passage, best first."""
    p_emb = encode(model, [p.text for p in passages], passage_side, batch_size)
    c_emb = encode(model, [c.text for c in personas], persona_side, batch_size)
    scores = p_emb @ c_emb.T
    top = topk_indices(scores, k)
    return {
        p.id: [(personas[j].id, round(float(scores[i, j]), 4)) for j in top[i]]
        for i, p in enumerate(passages)
    }


def cached_retrieve_personas(
    cache_path: str | Path,
    passages: list[Passage],
    personas: list[Persona],
    model_name: str,
    load_model,
    **kwargs,
) -> dict[str, list[tuple[str, float]]]:
    """``retrieve_personas`` for passages not yet in the cache file (keyed by model, personas and k); saves it."""
    settings = sorted((k, repr(v)) for k, v in kwargs.items() if k != "batch_size")
    key = stable_hash(model_name, settings, *(f"{p.id}={p.text}" for p in personas))
    cache_path = Path(cache_path)
    cached: dict = {}
    if cache_path.exists():
        data = json.loads(cache_path.read_text(encoding="utf-8"))
        if data.get("key") == key:
            cached = data["topk"]
    missing = [p for p in passages if p.id not in cached]
    if missing:
        cached.update(retrieve_personas(missing, personas, load_model(), **kwargs))
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"key": key, "model": model_name, "topk": cached}, ensure_ascii=False), "utf-8"
        )
        tmp.replace(cache_path)
    return {p.id: [tuple(x) for x in cached[p.id]] for p in passages}
