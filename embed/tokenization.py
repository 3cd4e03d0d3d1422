"""Tokenisation for embedding: the EOS token that last-token pooling reads, truncation that keeps it, padding.

Qwen3-Embedding appends ``<|endoftext|>`` (151643, also the pad token) to every input; ``tokenizer.eos_token``
is ``<|im_end|>``, a different token (recipe.md §1). Some tokenizers append it themselves (a template
post-processor), others do not: :func:`appends_token` probes once and :func:`tokenize_texts` appends it
when needed, truncating to ``max_length - 1`` first so the EOS survives truncation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

QWEN_MODEL_TYPES = frozenset({"qwen2", "qwen2_moe", "qwen3", "qwen3_moe"})
_PROBE_SHORT = "tsumugi probe"
_PROBE_LONG = "tsumugi probe " * 32


def default_eos_token(tokenizer, model_type: str | None) -> str | None:
    """The token last-token pooling reads: the pad token for Qwen2/3 (``<|endoftext|>``), else the EOS token."""
    if model_type in QWEN_MODEL_TYPES and tokenizer.pad_token is not None:
        return tokenizer.pad_token
    return tokenizer.eos_token


def token_id(tokenizer, token: str) -> int:
    """Id of a single token in the tokenizer's vocabulary; ValueError if the tokenizer does not know it."""
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or (
        tokenizer.unk_token_id is not None and tid == tokenizer.unk_token_id and token != tokenizer.unk_token
    ):
        raise ValueError(f"EOS token {token!r} is not in the tokenizer's vocabulary")
    return int(tid)


def appends_token(tokenizer, tid: int) -> bool:
    """True when the tokenizer itself ends every encoding with ``tid``, truncated ones included."""
    short = tokenizer(_PROBE_SHORT, add_special_tokens=True)["input_ids"]
    long = tokenizer(_PROBE_LONG, add_special_tokens=True, truncation=True, max_length=4)["input_ids"]
    return bool(short) and short[-1] == tid and bool(long) and long[-1] == tid


def _pad(rows: list[list[int]], value: int, left: bool) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            continue
        if left:
            out[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        else:
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def tokenize_texts(
    tokenizer, texts: Sequence[str], max_length: int, append_id: int | None = None
) -> dict[str, torch.Tensor]:
    """Tokenise and pad a batch (tokenizer's padding side); with ``append_id``, end every row with that id."""
    if max_length < (2 if append_id is not None else 1):
        raise ValueError(f"max_length must be at least {2 if append_id is not None else 1}, got {max_length}")
    if append_id is None:
        enc = tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return dict(enc)
    enc = tokenizer(list(texts), truncation=True, max_length=max_length - 1, padding=False)
    rows = enc["input_ids"]
    missing = [not row or row[-1] != append_id for row in rows]
    ids = [row + [append_id] if add else list(row) for row, add in zip(rows, missing)]
    left = tokenizer.padding_side == "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else append_id
    out = {
        "input_ids": _pad(ids, pad_id, left),
        "attention_mask": _pad([[1] * len(r) for r in ids], 0, left),
    }
    if "token_type_ids" in enc:
        types = [
            list(t) + ([t[-1] if t else 0] if add else []) for t, add in zip(enc["token_type_ids"], missing)
        ]
        out["token_type_ids"] = _pad(types, getattr(tokenizer, "pad_token_type_id", 0), left)
    return out


def _append_after_sequences(template: dict, token: str, tid: int) -> None:
    """Put ``token`` after each ``$A`` / ``$B`` of a TemplateProcessing (``<bos> $A`` -> ``<bos> $A <eos>``)."""
    for key in ("single", "pair"):
        items = []
        for item in template.get(key) or []:
            items.append(item)
            if "Sequence" in item:
                items.append({"SpecialToken": {"id": token, "type_id": item["Sequence"]["type_id"]}})
        template[key] = items
    template.setdefault("special_tokens", {})[token] = {"id": token, "ids": [tid], "tokens": [token]}


def add_eos_postprocessor(tokenizer_json: str | Path, token: str, tid: int) -> bool:
    """Make a saved ``tokenizer.json`` append ``token`` after every sequence; False if the file is absent."""
    path = Path(tokenizer_json)
    if not path.is_file():
        return False
    data = json.loads(path.read_text(encoding="utf-8"))
    template = {
        "type": "TemplateProcessing",
        "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": token, "type_id": 0}}],
        "pair": [
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": token, "type_id": 0}},
            {"Sequence": {"id": "B", "type_id": 1}},
            {"SpecialToken": {"id": token, "type_id": 1}},
        ],
        "special_tokens": {token: {"id": token, "ids": [tid], "tokens": [token]}},
    }
    existing = data.get("post_processor")
    templates = [existing] if existing and existing.get("type") == "TemplateProcessing" else []
    if existing and existing.get("type") == "Sequence":
        templates = [p for p in existing["processors"] if p.get("type") == "TemplateProcessing"]
    if templates:  # extend the template in place: a second template in a Sequence re-wraps the first's output
        _append_after_sequences(templates[-1], token, tid)
    elif existing is None:
        data["post_processor"] = template
    elif existing.get("type") == "Sequence":
        existing["processors"].append(template)
    else:
        data["post_processor"] = {"type": "Sequence", "processors": [existing, template]}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return True
