"""Packed (variable-length) forward: the texts of a batch share rows, so no FLOPs are spent on padding.

Padded features ``(B, L)`` become a few rows of at most ``max(row_tokens, longest text)`` tokens (first-fit
decreasing), each row the concatenation of whole texts. Position ids restart at every text (XLM-R/RoBERTa: at
``padding_idx + 1``, as their embeddings number them), and attention is block-diagonal through a 4D additive
mask (causal within a text for decoders, sliding windows where a layer has one) that transformers' ``sdpa``
and ``eager`` attention take as is; decoders get it as the per-layer-type mapping their models accept. The
tail of a row after its last text is its own block, so no query row is fully masked. Pooling (mean, CLS,
last token) reads the packed boundaries. The result equals the padded forward per text up to float summation
order (tests: atol 1e-5 in fp32).

``packing`` is ``auto|true|false``: ``auto`` packs where it is exact (a known position scheme and a mask-taking
attention implementation) and pays, i.e. where the padded features waste at least :data:`AUTO_MIN_WASTE` of
their tokens (measured in bench/train_speed.py and bench/encode_speed.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

PACKING_MODES = ("auto", "true", "false")
# model types whose positions are absolute per text (BERT-style, 0-based or from padding_idx + 1) or rotary
PACKABLE_MODEL_TYPES = frozenset(
    {
        "bert",
        "xlm-roberta",
        "roberta",
        "camembert",
        "qwen2",
        "qwen3",
        "llama",
        "mistral",
        "gemma",
        "gemma2",
        "gemma3",
        "gemma3_text",
    }
)
MASK_ATTENTION = frozenset({"sdpa", "eager"})
AUTO_MIN_WASTE = 0.2  # auto packs when at least this share of the padded tokens is padding
# a row holds at most this many tokens or the longest text, whichever is more; 0: rows as wide as the longest
# text, so packing never makes attention costlier per token than the padded batch (it only removes padding)
DEFAULT_ROW_TOKENS = 0


def check_packing(mode: str | bool | None) -> str:
    """Normalise a packing switch (``auto``/``true``/``false`` or a bool) to one of :data:`PACKING_MODES`."""
    if mode is None:
        return "auto"
    if isinstance(mode, bool):
        return "true" if mode else "false"
    value = str(mode).lower()
    if value not in PACKING_MODES:
        raise ValueError(f"packing must be one of {', '.join(PACKING_MODES)} (or a bool), got {mode!r}")
    return value


def _base(module: nn.Module) -> nn.Module:
    return module.get_base_model() if hasattr(module, "get_base_model") else module


def _text_config(config):
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def packable(model: nn.Module) -> str | None:
    """None when a packed forward of ``model`` is exact, else the reason it is not."""
    config = _text_config(_base(model).config)
    model_type = getattr(config, "model_type", None)
    if model_type not in PACKABLE_MODEL_TYPES:
        return f"model type {model_type!r} is not known to take per-text position ids"
    impl = getattr(config, "_attn_implementation", None) or "eager"
    if impl not in MASK_ATTENTION:
        return f"attention implementation {impl!r} does not take a 4D mask"
    return None


def padding_waste(attention_mask: Tensor) -> float:
    """Share of the padded tokens that are padding."""
    return 1.0 - float(attention_mask.sum()) / max(attention_mask.numel(), 1)


def position_offset(model: nn.Module) -> int:
    """First position id of a text: ``padding_idx + 1`` for RoBERTa-style embeddings, else 0."""
    base = _base(model)
    embeddings = getattr(base, "embeddings", None)
    if embeddings is not None and hasattr(embeddings, "create_position_ids_from_input_ids"):
        return int(embeddings.padding_idx) + 1
    return 0


def plan_rows(lengths: list[int], row_tokens: int) -> tuple[list[int], list[int]]:
    """First-fit decreasing: ``(row, offset)`` of every text in rows of at most ``max(row_tokens, longest)``."""
    capacity = max([row_tokens, *lengths])
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    fill: list[int] = []
    row, offset = [0] * len(lengths), [0] * len(lengths)
    for i in order:
        r = next((j for j, used in enumerate(fill) if used + lengths[i] <= capacity), len(fill))
        if r == len(fill):
            fill.append(0)
        row[i], offset[i] = r, fill[r]
        fill[r] += lengths[i]
    return row, offset


@dataclass(frozen=True)
class Packed:
    """Packed model inputs and where each text's tokens went (flat indices into the ``rows x width`` grid)."""

    inputs: dict[str, Tensor]  # input_ids, position_ids (, token_type_ids): (rows, width)
    segments: Tensor  # (rows, width): text index of each slot, n + row for a row's padded tail
    token_slots: Tensor  # (tokens,): flat slot of every real token, text by text
    token_text: Tensor  # (tokens,): text index of every real token
    first: Tensor  # (n,): flat slot of each text's first token
    last: Tensor  # (n,): flat slot of each text's last token
    lengths: Tensor  # (n,)


def pack(features: dict[str, Tensor], *, pad_id: int, pos_offset: int = 0, row_tokens: int) -> Packed:
    """Move the real tokens of padded ``features`` (either padding side) into packed rows."""
    mask = features["attention_mask"].bool()
    device = mask.device
    lengths = mask.sum(dim=1)
    n = len(lengths)
    if n == 0 or int(lengths.min()) < 1:
        raise ValueError("every text needs at least one token to pack")
    row, offset = plan_rows(lengths.tolist(), row_tokens)
    rows = max(row) + 1
    row_t = torch.tensor(row, device=device)
    offset_t = torch.tensor(offset, device=device)
    width = int((offset_t + lengths).max())
    total = int(lengths.sum())
    token_text = torch.repeat_interleave(torch.arange(n, device=device), lengths)
    starts = torch.cumsum(lengths, 0) - lengths
    within = torch.arange(total, device=device) - starts[token_text]
    first = row_t * width + offset_t
    token_slots = first[token_text] + within
    source = mask.reshape(-1).nonzero().squeeze(1)  # row-major: text by text, each in position order
    segments = (n + torch.arange(rows, device=device)).repeat_interleave(width)
    segments[token_slots] = token_text
    positions = torch.full((rows * width,), pos_offset, dtype=torch.long, device=device)
    positions[token_slots] = within + pos_offset
    inputs = {"position_ids": positions.view(rows, width)}
    for key, fill in (("input_ids", pad_id), ("token_type_ids", 0)):
        if key in features:
            flat = torch.full((rows * width,), fill, dtype=features[key].dtype, device=device)
            flat[token_slots] = features[key].reshape(-1)[source]
            inputs[key] = flat.view(rows, width)
    return Packed(
        inputs, segments.view(rows, width), token_slots, token_text, first, first + lengths - 1, lengths
    )


def block_mask(
    segments: Tensor, *, causal: bool, window: int | None, dtype: torch.dtype | None, device: torch.device
) -> Tensor:
    """4D mask ``(rows, 1, width, width)``: a slot attends to its own text only (and to earlier tokens only
    when ``causal``, within ``window`` positions when given); boolean (True = attend) for ``dtype=None``, else
    additive in ``dtype`` (eager attention adds it to the scores)."""
    seg = segments.to(device)
    allowed = seg.unsqueeze(2) == seg.unsqueeze(1)
    width = seg.shape[1]
    idx = torch.arange(width, device=device)
    dist = idx.view(-1, 1) - idx.view(1, -1)  # q - k
    if causal:
        allowed &= (dist >= 0).unsqueeze(0)
    if window is not None:
        near = dist < window if causal else dist.abs() < window
        allowed &= near.unsqueeze(0)
    if dtype is None:
        return allowed.unsqueeze(1)
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(allowed, zero, torch.finfo(dtype).min).unsqueeze(1)


def attention_masks(model: nn.Module, packed: Packed, *, causal: bool, device: torch.device):
    """The mask argument for ``model``: one 4D mask, or a mapping per layer type (Qwen3, Gemma-3); boolean
    for SDPA (whatever dtype autocast gives the scores), additive in the weights' dtype for eager."""
    config = _text_config(_base(model).config)
    impl = getattr(config, "_attn_implementation", None) or "eager"
    dtype = None if impl == "sdpa" else next(model.parameters()).dtype
    layer_types = getattr(config, "layer_types", None)
    if not layer_types:
        return block_mask(packed.segments, causal=causal, window=None, dtype=dtype, device=device)
    masks = {}
    for kind in set(layer_types):
        window = getattr(config, "sliding_window", None) if kind == "sliding_attention" else None
        masks[kind] = block_mask(packed.segments, causal=causal, window=window, dtype=dtype, device=device)
    return masks


def pool_packed(hidden: Tensor, packed: Packed, mode: str) -> Tensor:
    """Pool packed token states ``(rows, width, H)`` into one vector per text, ``(n, H)``."""
    flat = hidden.reshape(-1, hidden.shape[-1])
    device = flat.device
    if mode == "lasttoken":
        return flat[packed.last.to(device)]
    if mode == "cls":
        return flat[packed.first.to(device)]
    if mode != "mean":
        raise ValueError(f"unknown pooling mode {mode!r}")
    acc = torch.float32 if flat.dtype in (torch.float16, torch.bfloat16) else flat.dtype
    tokens = flat[packed.token_slots.to(device)].to(acc)
    sums = torch.zeros((len(packed.lengths), flat.shape[-1]), dtype=acc, device=device)
    sums.index_add_(0, packed.token_text.to(device), tokens)
    return (sums / packed.lengths.to(device, acc).unsqueeze(1)).to(flat.dtype)


def packed_hidden(
    model: nn.Module,
    features: dict[str, Tensor],
    *,
    causal: bool,
    pad_id: int,
    row_tokens: int = DEFAULT_ROW_TOKENS,
    extra: dict | None = None,
) -> tuple[Tensor, Packed]:
    """Run ``model`` on the packed form of ``features``; its last hidden state and the packing."""
    device = next(model.parameters()).device
    feats = {k: v.to(device) for k, v in features.items()}
    packed = pack(feats, pad_id=pad_id, pos_offset=position_offset(model), row_tokens=row_tokens)
    mask = attention_masks(model, packed, causal=causal, device=device)
    out = model(**packed.inputs, attention_mask=mask, **(extra or {}))
    hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    return hidden, packed
