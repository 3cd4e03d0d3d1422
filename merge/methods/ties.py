"""ties: TIES-merging (Yadav et al. 2023) with mergekit's semantics.

For each model, the task vector d_i = x_i - base keeps its k = max(1, int(density * numel)) largest magnitudes
(density >= 1 keeps all; among equal magnitudes at the cut, the first in row-major order; ``rescale`` multiplies
the kept entries by |d_i|_1 / |kept|_1). Weighted: d_i <- w_i d_i. Sign election per element: the sign of
sum_i d_i (>= 0 counts as +). Only entries agreeing with it are summed; with ``normalize`` (default) the sum is
divided by the weights of the agreeing entries (1 where none agree). Result: base + lambda * that.
Thresholds need the whole |d_i| of one model at a time (one float32 buffer); everything else streams.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from merge.methods.base import Inputs, Method, Param, register


@dataclass
class _Keep:
    mode: str  # all | none | top
    tau: float = 0.0  # magnitudes > tau are kept ...
    ties: int = 0  # ... and the first `ties` magnitudes == tau
    scale: float = 1.0


def magnitude_threshold(inputs: Inputs, i: int, density: float, rescale: bool) -> _Keep:
    """Which entries of d_i = x_i - x_0 the top-k rule keeps, from one pass over base and model ``i``."""
    if density >= 1:
        return _Keep("all")
    if density <= 0 or inputs.numel == 0:
        return _Keep("none")
    k = max(1, int(density * inputs.numel))
    buf = np.empty(inputs.numel, dtype=np.float32)
    pos = 0
    for base, x in inputs.chunks(select=[0, i]):
        a = (x.float() - base.float()).abs_().reshape(-1).numpy()
        buf[pos : pos + a.size] = a
        pos += a.size
    total = float(buf.sum(dtype=np.float64)) if rescale else 0.0
    kth = inputs.numel - k
    buf.partition(kth)
    tau = float(buf[kth])
    above = int(np.count_nonzero(buf[kth + 1 :] > tau))
    scale = 1.0
    if rescale:
        kept = float(buf[kth:].sum(dtype=np.float64))
        if total >= 1e-7 and kept >= 1e-7:
            scale = total / kept
    return _Keep("top", tau, k - above, scale)


@dataclass
class TiesKernel:
    """Applies the per-model keep rules, sign election and disjoint mean to aligned chunks (in row order)."""

    keep: list[_Keep]
    weights: list[float]
    lam: float
    normalize: bool
    fixed_point: bool = True
    _ties_left: list[int] = field(default_factory=list)

    def __post_init__(self):
        self._ties_left = [k.ties for k in self.keep]

    def _sparsify(self, d: torch.Tensor, i: int) -> torch.Tensor:
        rule = self.keep[i]
        if rule.mode == "all":
            return d
        if rule.mode == "none":
            return torch.zeros_like(d)
        mag = d.abs()
        mask = mag > rule.tau
        if self._ties_left[i] > 0:
            eq = mag == rule.tau
            if bool(eq.any()):
                rank = eq.reshape(-1).cumsum(0).reshape(eq.shape)
                take = eq & (rank <= self._ties_left[i])
                self._ties_left[i] -= int(take.sum())
                mask |= take
        return d * mask * rule.scale if rule.scale != 1.0 else d * mask

    def __call__(self, chunks: list[torch.Tensor]) -> torch.Tensor:
        """base + lambda * disjoint mean of the elected, sparsified, weighted task vectors."""
        base = chunks[0]
        deltas = [self._sparsify(x - base, i) * w for i, (x, w) in enumerate(zip(chunks[1:], self.weights))]
        elected = torch.zeros_like(base)
        for d in deltas:
            elected += d
        majority = torch.where(elected >= 0, 1.0, -1.0).to(base.dtype)
        mixed = torch.zeros_like(base)
        divisor = torch.zeros_like(base)
        for d, w in zip(deltas, self.weights):
            agree = d.sign() == majority
            mixed += d * agree
            divisor += w * agree
        if self.normalize:
            divisor[divisor == 0] = 1
            mixed /= divisor
        if self.lam != 1:
            mixed *= self.lam
        return base + mixed


@register
class Ties(Method):
    """A base and one or more fine-tuned models; ``density`` and ``weight`` per model."""

    name = "ties"
    base = "required"
    min_models = 1
    params = {
        "weight": Param("model", 1.0),
        "density": Param("model", 1.0),
        "lambda": Param("shared", 1.0),
        "normalize": Param("shared", True),
        "rescale": Param("shared", False),
    }
    description = "TIES: trim task vectors by magnitude, elect signs, average the agreeing entries"

    def plan(self, inputs: Inputs, p: dict, has_base: bool) -> TiesKernel:
        """One threshold pass per model, then the elementwise kernel."""
        keep = [
            magnitude_threshold(inputs, i + 1, float(d), bool(p["rescale"]))
            for i, d in enumerate(p["density"])
        ]
        return TiesKernel(keep, [float(w) for w in p["weight"]], float(p["lambda"]), bool(p["normalize"]))
