"""Gathering a data-parallel batch for in-batch negatives across ranks (recipe.md §2, ambiguity f).

Each rank embeds its own ``n`` samples; :func:`gather_with_grad` concatenates the embeddings of all ranks
(rank order) so that terms 3-5 of the loss see the global batch, and :func:`local_rows` tells the loss which
rows are this rank's queries. Gradients flow back to the rank that computed each row: the backward pass sums,
over ranks, the gradient each rank's loss sends to the gathered tensor and keeps this rank's slice. With the
loss averaged over local rows and DDP averaging parameter gradients over the ``W`` ranks, the update equals the
gradient of the global-batch loss (the per-rank gradient of the local inputs is ``W`` times the global-mean
loss's gradient, which DDP's averaging divides out).

All ranks must pass the same number of rows (use ``drop_last=True``) and all must call backward.
Without an initialised process group (single process) every function is the identity.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """Whether a process group is initialised with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 0 whose backward all-reduces the gradient and returns this rank's slice."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:  # noqa: D102
        world, rank = dist.get_world_size(), dist.get_rank()
        ctx.rank, ctx.rows = rank, tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: D102
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad(t: Tensor) -> Tensor:
    """Concatenate ``t`` from all ranks along dim 0 (rank order), gradients flowing back to the owner."""
    return _GatherWithGrad.apply(t) if is_distributed() else t


def gather_no_grad(t: Tensor) -> Tensor:
    """Concatenate ``t`` (e.g. integer text ids) from all ranks along dim 0, without gradient."""
    if not is_distributed():
        return t
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=0)


def local_rows(n_local: int) -> slice:
    """This rank's rows in a batch gathered from ``n_local`` rows per rank."""
    rank = dist.get_rank() if is_distributed() else 0
    return slice(rank * n_local, (rank + 1) * n_local)
