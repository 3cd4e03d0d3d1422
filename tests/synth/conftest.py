"""Fixtures for synth tests: a small Japanese corpus, personas, prompt vocab, and the test doubles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synth_fakes import NgramEmbedder, ScriptedEngine

PASSAGES = [
    ("p1", "富士山", "富士山は静岡県と山梨県にまたがる活火山である。標高は3776メートルで日本最高峰である。"),
    (
        "p2",
        "東京タワー",
        "東京タワーは東京都港区にある電波塔である。1958年に完成し、高さは333メートルである。",
    ),
    ("p3", "琵琶湖", "琵琶湖は滋賀県にある日本最大の湖である。京阪神の水源として重要な役割を持つ。"),
    (
        "p4",
        "手塚治虫",
        "手塚治虫は日本の漫画家である。ストーリー漫画の第一人者として活躍した。医学博士でもある。",
    ),
    (
        "p5",
        "新幹線",
        "新幹線は日本の高速鉄道である。1964年に東海道新幹線が開業した。最高速度は時速320キロに達する。",
    ),
    ("p6", "将棋", "将棋は二人で行う盤上遊戯である。取った駒を自分の駒として使えるのが特徴である。"),
]
PERSONAS = [
    "私は登山が趣味の会社員である。週末はよく山に行く。",
    "私は鉄道が好きな大学生である。",
    "私は漫画をよく読む高校生である。",
    "私は料理が得意で、毎日弁当を作っている。",
    "私は将棋教室に通っている。",
    "私は地理の教師である。",
    "私は釣りが趣味である。",
]


@pytest.fixture()
def corpus_file(tmp_path: Path) -> Path:
    """A JSONL corpus ``{"docid", "title", "text"}`` of six Japanese passages."""
    path = tmp_path / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for pid, title, text in PASSAGES:
            f.write(json.dumps({"docid": pid, "title": title, "text": text}, ensure_ascii=False) + "\n")
    return path


@pytest.fixture()
def persona_file(tmp_path: Path) -> Path:
    """A Persona Hub-style JSONL of seven Japanese personas."""
    path = tmp_path / "personas.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, text in enumerate(PERSONAS):
            f.write(json.dumps({"id": f"x{i}", "persona": text}, ensure_ascii=False) + "\n")
    return path


@pytest.fixture()
def embedder() -> NgramEmbedder:
    """A weight-free embedding model double."""
    return NgramEmbedder()


@pytest.fixture()
def engine() -> ScriptedEngine:
    """An engine double answering valid JSON for every schema."""
    return ScriptedEngine()
