"""Token ids of reranker inputs, unpadded, and the padding of one batch.

Causal LM: ``[bos?] + prefix + body[:budget] + suffix`` per pair, the body tokenised alone and cut from its end to
``max_length - len(prefix) - len(suffix)`` (the Qwen3-Reranker transformers example); the prefix gets the
tokenizer's BOS when the tokenizer adds one itself (Gemma: ``<bos>``; Qwen: none). Rows are left-padded so the
last position is every row's answer position.

Cross-encoder: the tokenizer's own pair encoding (``[CLS] q [SEP] d [SEP]`` / ``<s> q </s></s> d </s>``),
``truncation=True`` (longest first) at ``max_length``, as sentence-transformers' CrossEncoder does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from embed.rerank.template import RerankTemplate


def adds_bos(tokenizer) -> bool:
    """True when the tokenizer starts every encoding with its BOS token (Gemma, Llama), False for Qwen."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return False
    ids = tokenizer("probe", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


class CausalEncoder:
    """Template pieces tokenised once; ``encode`` turns bodies into full id rows within ``max_length``."""

    def __init__(self, tokenizer, template: RerankTemplate, max_length: int) -> None:
        self.tokenizer, self.template, self.max_length = tokenizer, template, int(max_length)
        bos = [tokenizer.bos_token_id] if adds_bos(tokenizer) else []
        self.prefix_ids = bos + tokenizer(template.prefix, add_special_tokens=False)["input_ids"]
        self.suffix_ids = tokenizer(template.suffix, add_special_tokens=False)["input_ids"]
        self.body_budget = self.max_length - len(self.prefix_ids) - len(self.suffix_ids)
        if self.body_budget < 1:
            raise ValueError(
                f"reranker max_length {self.max_length} leaves no room for the query and document: the template "
                f"alone takes {len(self.prefix_ids) + len(self.suffix_ids)} tokens"
            )

    def encode(self, bodies: Sequence[str]) -> list[list[int]]:
        """Full id rows (prefix, truncated body, suffix), unpadded."""
        enc = self.tokenizer(
            list(bodies), add_special_tokens=False, truncation=True, max_length=self.body_budget
        )
        return [self.prefix_ids + list(row) + self.suffix_ids for row in enc["input_ids"]]


def pair_encode(tokenizer, queries: Sequence[str], documents: Sequence[str], max_length: int) -> list[dict]:
    """Cross-encoder encodings (one dict of id lists per pair), unpadded."""
    enc = tokenizer(list(queries), list(documents), truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
    return [{k: list(enc[k][i]) for k in keys} for i in range(len(enc["input_ids"]))]


def pad_rows(rows: Sequence[list[int]], pad_id: int, left: bool) -> dict[str, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` of id rows padded to the longest (left or right)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        cols = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, cols] = torch.tensor(row, dtype=torch.long)
        mask[i, cols] = 1
    return {"input_ids": ids, "attention_mask": mask}


def pad_encodings(tokenizer, encodings: Sequence[dict]) -> dict[str, torch.Tensor]:
    """Pad cross-encoder encodings with the tokenizer (its padding side and pad token)."""
    return dict(tokenizer.pad(list(encodings), padding=True, return_tensors="pt"))
