"""Fixtures for eval tests: a deterministic hashing encoder (counts its calls) and tiny JMTEB-format datasets."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

# ``tests/`` is on sys.path (rootdir conftest), so ``tests/eval`` could shadow the ``eval`` package under a bare
# ``pytest`` run; make the repository root win.
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import numpy as np  # noqa: E402
import pytest  # noqa: E402


class HashEncoder:
    """Character-bigram hashing into ``dim`` buckets: deterministic, fast, overlapping texts are similar."""

    def __init__(
        self, dim: int = 32, normalize: bool = True, prompts: dict | None = None, nan_on: str | None = None
    ):
        self.dim = dim
        self.normalize = normalize
        self.prompts = prompts or {}
        self.nan_on = nan_on
        self.calls: list[int] = []
        self.seen_prompts: list[str | None] = []

    def fingerprint(self) -> str:
        return f"hash-{self.dim}-{self.normalize}"

    def encode(self, texts, *, prompt=None, batch_size=32, max_length=None, **kwargs):
        self.calls.append(len(texts))
        self.seen_prompts.append(prompt)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            s = (prompt or "") + t
            for a, b in zip(s, s[1:] + " "):
                h = int.from_bytes(hashlib.md5((a + b).encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0 if (h >> 8) % 2 else -0.5
            if self.nan_on is not None and self.nan_on in t:
                out[i, 0] = np.nan
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return out


@pytest.fixture
def hash_encoder() -> HashEncoder:
    """A fresh normalising hashing encoder (``.calls`` lists the batch sizes it was asked to encode)."""
    return HashEncoder()


@pytest.fixture
def make_encoder():
    """The ``HashEncoder`` class, for tests that need other settings (dim, normalize, prompts, nan_on)."""
    return HashEncoder


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """A data root with the local-suite layout, a few rows per file (enough for every scorer)."""
    words = ["犬", "猫", "空", "海", "山", "川", "花", "雨", "雪", "星", "月", "森"]

    def sent(i: int) -> str:
        return "".join(words[(i * 7 + k) % len(words)] for k in range(3 + i % 3)) + "です"

    root = tmp_path / "data"
    sts = [
        {"sentence1": sent(i), "sentence2": sent(i + (i % 3)), "label": float(5 - 2 * (i % 3))}
        for i in range(24)
    ]
    write_jsonl(root / "jsts/original/train-v1.3.json", sts[:12])
    write_jsonl(root / "jsts/original/valid-v1.3.json", sts[12:])
    for split in ("validation", "test"):
        write_jsonl(root / f"jsick/approx_jmteb_split/{split}.jsonl", sts[:12])
    for split, n in (("train", 30), ("validation", 12), ("test", 12)):
        rows = [{"text": sent(i) + ("なら" if i % 2 else ""), "label": i % 2} for i in range(n)]
        write_jsonl(root / f"amazon_counterfactual_ja/jmteb_format/{split}.jsonl", rows)
        rows = [
            {"index_id": str(i), "text": sent(i), "label": ["travel", "sports", "health"][i % 3]}
            for i in range(n)
        ]
        write_jsonl(root / f"sib200_jpn/jmteb_format/{split}.jsonl", rows)
    for split in ("valid", "test"):
        write_jsonl(
            root / f"jnli/original/{split}-v1.3.json",
            [
                {
                    "sentence1": sent(i),
                    "sentence2": sent(i + i % 2),
                    "label": ["entailment", "neutral", "contradiction"][i % 3],
                }
                for i in range(12)
            ],
        )
    for folder, splits in (("jsquad/jmteb_format", ("valid", "test")), ("jaquad/jmteb_format", ("dev",))):
        for split in splits:
            docs = [{"docid": f"d{i}", "title": "t", "text": sent(i) * 2} for i in range(15)]
            write_jsonl(root / f"{folder}/{split}/corpus.jsonl", docs)
            qs = [{"qid": f"q{i}", "query": sent(i), "relevant_docs": [f"d{i}"]} for i in range(10)]
            write_jsonl(root / f"{folder}/{split}/retrieval_queries.jsonl", qs)
            rr = [
                {
                    "qid": f"q{i}",
                    "query": sent(i),
                    "retrieved_docs": [f"d{j}" for j in range(i, i + 5)],
                    "relevance_scores": [1, 0, 0, 0, 0],
                }
                for i in range(10)
            ]
            write_jsonl(root / f"{folder}/{split}/reranking_queries.jsonl", rr)
    return root
