"""Test doubles for synth: a scripted chat engine and a character-n-gram embedding model (no weights)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np

from synth.engines.base import ChatRequest, Completion, EngineCounters


def fill_schema(schema: dict, seed: int, text: Callable[[str, int], str]) -> dict:
    """A JSON object satisfying a flat object schema: enums picked by seed, strings from ``text(key, seed)``."""
    out = {}
    for key, prop in schema["properties"].items():
        if "enum" in prop:
            out[key] = prop["enum"][seed % len(prop["enum"])]
        else:
            out[key] = text(key, seed)
    return out


JA_TEXTS = {
    "Query": "{n}番目の話題について詳しく知りたい",
    "text": "これは分類用の{n}番目の日本語の文章です",
    "paraphrase": "言い換えた{n}番目の日本語の文です",
    "related": "関連する{n}番目の日本語の文です",
    "hard_negative": "意味の違う{n}番目の日本語の文です",
    "translation": "This is English sentence number {n}.",
    "mistranslation": "This is not English sentence number {n}.",
}


def default_text(key: str, seed: int) -> str:
    """Distinct, language-appropriate strings per key and seed."""
    return JA_TEXTS.get(key, "値{n}").format(n=seed % 100000)


class ScriptedEngine:
    """Answers each request with ``script(request, index)`` (a str or a Completion), else valid JSON."""

    def __init__(self, script: Callable[[ChatRequest, int], str | Completion | None] | None = None) -> None:
        self.script = script
        self.counters = EngineCounters()
        self.calls: list[list[ChatRequest]] = []
        self._n = 0

    def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """One completion per request."""
        self.calls.append(list(requests))
        out = []
        for req in requests:
            got = self.script(req, self._n) if self.script else None
            self._n += 1
            if got is None:
                got = json.dumps(fill_schema(req.schema, req.seed or 0, default_text), ensure_ascii=False)
            if isinstance(got, str):
                got = Completion(got, "stop", prompt_tokens=10, output_tokens=max(1, len(got) // 2))
            out.append(got)
        self.counters.add(out, 0.01)
        return out

    def close(self) -> None:
        """Nothing to free."""


class NgramEmbedder:
    """Hashing bag of character bigrams, L2-normalised; ``encode`` mimics embed.EmbeddingModel's signature."""

    prompts = {"query": "query: ", "document": "passage: "}
    dim = 256

    def encode(self, texts, *, prompt=None, prompt_name=None, normalize=True, batch_size=32, **_):
        """Vectors for texts (the prompt is ignored: it would add the same bigrams to every text)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for a, b in zip(t, t[1:], strict=False):
                h = int(hashlib.md5((a + b).encode()).hexdigest()[:8], 16)
                out[i, h % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms if normalize else out
