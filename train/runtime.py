"""Process runtime: the process group (gloo on CPU, nccl on GPU), the device, seeds and RNG snapshots.

Launched by ``deepspeed`` or ``torchrun`` the environment names rank and world; started plainly, the process
becomes rank 0 of a world of 1 on a free local port (environment.md §3), so the same code runs everywhere.
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Initialise (once) the DeepSpeed/torch process group; returns ``(rank, world_size)``."""
    import deepspeed

    if not dist.is_initialized():
        if "RANK" not in os.environ:  # not launched: a world of one
            os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(free_port()))
        os.environ.setdefault("LOCAL_RANK", os.environ.get("RANK", "0"))
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        deepspeed.init_distributed(dist_backend=backend)
    return dist.get_rank(), dist.get_world_size()


def local_device() -> torch.device:
    """This process's accelerator (``cuda:LOCAL_RANK``) or the CPU."""
    if torch.cuda.is_available():
        index = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def current_rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def mean_over_ranks(value: float) -> float:
    """The mean of a float over ranks."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def sum_over_ranks(value: int) -> int:
    """The sum of an integer over ranks."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(t)
    return int(t.item())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class TorchRngState:
    """The torch RNG streams dropout draws from (CPU, and the current CUDA device) — GradCache replays them."""

    cpu: torch.Tensor
    cuda: torch.Tensor | None

    @classmethod
    def capture(cls) -> TorchRngState:
        """The current state."""
        cuda = (
            torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        )
        return cls(torch.get_rng_state(), cuda)

    def restore(self) -> None:
        """Make the RNG streams continue from this state."""
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda)


def rng_snapshot() -> dict:
    """Every RNG this process uses (Python, NumPy, torch CPU and CUDA), for an exact resume."""
    snap = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        snap["cuda"] = torch.cuda.get_rng_state_all()
    return snap


def restore_rng(snap: dict) -> None:
    """Restore a :func:`rng_snapshot`."""
    random.setstate(snap["python"])
    np.random.set_state(snap["numpy"])
    torch.set_rng_state(snap["torch"])
    if "cuda" in snap and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(snap["cuda"])
