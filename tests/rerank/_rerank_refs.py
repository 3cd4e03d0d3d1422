"""Shared references of the reranker tests: sample pairs and the official scoring procedure in float64."""

from __future__ import annotations

import numpy as np
import torch

from embed.rerank import RerankTemplate

PAIRS = [
    ("東京タワーの高さは?", "東京タワーは高さ333メートルの電波塔である。"),
    ("富士山はどこにある?", "富士山は静岡県と山梨県にまたがる活火山で、日本最高峰である。" * 3),
    ("短い", "文"),
    ("徳川家康が開いた幕府は?", "江戸幕府は1603年に徳川家康が開いた武家政権。"),
    ("What is the capital of China?", "The capital of China is Beijing."),
]


def _official_ids(tok, template: RerankTemplate, q: str, d: str, bos: bool) -> list[int]:
    """The transformers example's procedure: prefix, body and suffix tokenised separately, concatenated."""
    piece = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    head = [tok.bos_token_id] if bos else []
    return head + piece(template.prefix) + piece(template.body(q, d)) + piece(template.suffix)


def reference_scores(model, tok, pairs, template: RerankTemplate, bos: bool = False) -> np.ndarray:
    """softmax([no, yes]) of the last position in float64, one unpadded sequence at a time."""
    yes, no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
    out = []
    for q, d in pairs:
        with torch.no_grad():
            logits = model(torch.tensor([_official_ids(tok, template, q, d, bos)])).logits[0, -1].double()
        ly, ln = float(logits[yes]), float(logits[no])
        out.append(np.exp(ly) / (np.exp(ly) + np.exp(ln)))
    return np.asarray(out)
