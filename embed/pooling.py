"""Pooling of token states into one vector per text, L2 normalisation and Matryoshka truncation (pure torch).

Every pooling reads the attention mask, so it is correct with either padding side. Padded positions are
excluded with ``torch.where`` rather than multiplication: a fully masked row may hold NaN in some attention
kernels, and ``NaN * 0`` is still NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POOLING_MODES = ("mean", "lasttoken", "cls")


def check_pooling_mode(mode: str) -> str:
    """Return ``mode`` if it is a supported pooling mode, else raise a one-line ValueError."""
    if mode not in POOLING_MODES:
        raise ValueError(f"unknown pooling mode {mode!r}; supported: {', '.join(POOLING_MODES)}")
    return mode


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """State of the last attended position of each row (left or right padding), shape ``(B, H)``."""
    seq_len = attention_mask.shape[1]
    positions = torch.arange(seq_len, device=attention_mask.device).expand_as(attention_mask)
    last = torch.where(attention_mask.bool(), positions, -1).amax(dim=1).clamp(min=0)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last.to(hidden.device)]


def first_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """State of the first attended position of each row (CLS pooling, left or right padding)."""
    seq_len = attention_mask.shape[1]
    positions = torch.arange(seq_len, device=attention_mask.device).expand_as(attention_mask)
    first = torch.where(attention_mask.bool(), positions, seq_len).amin(dim=1).clamp(max=seq_len - 1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), first.to(hidden.device)]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the attended positions' states (accumulated in fp32 for half-precision inputs)."""
    mask = attention_mask.to(hidden.device).bool().unsqueeze(-1)
    acc_dtype = torch.float32 if hidden.dtype in (torch.float16, torch.bfloat16) else hidden.dtype
    summed = torch.where(mask, hidden, torch.zeros((), dtype=hidden.dtype, device=hidden.device)).sum(
        dim=1, dtype=acc_dtype
    )
    counts = mask.sum(dim=1).to(acc_dtype).clamp(min=1.0)
    return (summed / counts).to(hidden.dtype)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Dispatch to the pooling named ``mode`` (``mean``, ``lasttoken`` or ``cls``)."""
    check_pooling_mode(mode)
    if mode == "lasttoken":
        return last_token_pool(hidden, attention_mask)
    if mode == "cls":
        return first_token_pool(hidden, attention_mask)
    return mean_pool(hidden, attention_mask)


def l2_normalize(embeddings: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each row to unit L2 norm (rows of zeros stay zero)."""
    return F.normalize(embeddings, p=2, dim=-1, eps=eps)


def truncate_dim(embeddings: torch.Tensor, dim: int | None, normalize: bool = True) -> torch.Tensor:
    """Matryoshka truncation: keep the first ``dim`` components, then L2-normalise again if ``normalize``."""
    if dim is None:
        return embeddings
    full = embeddings.shape[-1]
    if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= full:
        raise ValueError(f"dim must be an int in [1, {full}], got {dim!r}")
    out = embeddings[..., :dim]
    return l2_normalize(out) if normalize else out
