"""slerp: spherical linear interpolation of two checkpoints, per tensor, with mergekit's semantics.

Each tensor is flattened; cos(theta) = <x0/|x0|, x1/|x1|> (a norm <= 1e-8 is left unnormalised); when
|cos(theta)| > 0.9995 the pair is near-(anti)parallel and we interpolate linearly, ``(1 - t) x0 + t x1``;
otherwise ``sin((1 - t) theta) / sin(theta) x0 + sin(t theta) / sin(theta) x1`` on the original tensors.
t = 0 gives the first model (mergekit's ``base_model``). ``t`` can be a scalar, a gradient over layers, or rules.

``precision: float32`` (default) computes norms, cos(theta) and the coefficients in float32 exactly as mergekit
does (1M-element segments, norms of segment norms, segment dot sums): the outputs match mergekit's to the bit on
CPU. Near cos(theta) = 1 that float32 arithmetic costs ~3e-6 relative error in the coefficients (1 ulp of cos is
amplified by 1/sin(theta)); ``precision: float64`` accumulates in float64 and is exact to ~1e-15 instead.
The combination itself is float32 (float64 for float64 inputs) either way.
"""

from __future__ import annotations

import math

import torch

from merge.errors import MergeError
from merge.methods.base import Combination, Inputs, Method, Param, register

DOT_THRESHOLD = 0.9995
EPS = 1e-8
MERGEKIT_SEGMENT = 1 << 20


def slerp_coefficients(g00: float, g01: float, g11: float, t: float) -> tuple[float, float]:
    """(c0, c1) with slerp(x0, x1; t) = c0 x0 + c1 x1, from <x0,x0>, <x0,x1>, <x1,x1> (float64)."""
    n0, n1 = math.sqrt(max(g00, 0.0)), math.sqrt(max(g11, 0.0))
    n0 = n0 if n0 > EPS else 1.0
    n1 = n1 if n1 > EPS else 1.0
    dot = min(1.0, max(-1.0, g01 / (n0 * n1)))
    if abs(dot) > DOT_THRESHOLD:
        return 1.0 - t, t
    theta = math.acos(dot)
    s = math.sin(theta)
    return math.sin((1.0 - t) * theta) / s, math.sin(t * theta) / s


def float32_coefficients(inputs: Inputs, t: float) -> tuple[float, float]:
    """(c0, c1) computed in float32 with mergekit's order of operations (streamed over 1M-element segments)."""
    dt = inputs.compute_dtype
    tt = torch.tensor([[t]], dtype=dt)
    if inputs.numel == 0:
        return float(1 - tt), float(tt)
    na, nb = [], []
    for x, y in inputs.flat_chunks(MERGEKIT_SEGMENT):
        na.append(torch.linalg.vector_norm(x.reshape(1, -1), dim=1, keepdim=True))
        nb.append(torch.linalg.vector_norm(y.reshape(1, -1), dim=1, keepdim=True))
    norm_a = torch.linalg.vector_norm(torch.stack(na), dim=0)
    norm_b = torch.linalg.vector_norm(torch.stack(nb), dim=0)
    norm_a = torch.where(norm_a > EPS, norm_a, 1)
    norm_b = torch.where(norm_b > EPS, norm_b, 1)
    parts = [
        ((x.reshape(1, -1) / norm_a) * (y.reshape(1, -1) / norm_b)).sum(dim=1, keepdim=True)
        for x, y in inputs.flat_chunks(MERGEKIT_SEGMENT)
    ]
    dot = torch.stack(parts).sum(dim=0).clamp(-1, 1)
    if not bool(torch.isfinite(dot).all()):
        raise MergeError(f"tensor {inputs.name!r} has non-finite values (inf or NaN) in some input")
    linear = dot.abs() > DOT_THRESHOLD
    theta = torch.acos(torch.where(linear, 0, dot))
    sin_theta = torch.sin(theta)
    c0 = torch.where(linear, 1 - tt, torch.sin((1 - tt) * theta) / sin_theta)
    c1 = torch.where(linear, tt, torch.sin(tt * theta) / sin_theta)
    return float(c0), float(c1)


@register
class Slerp(Method):
    """Two models; ``t`` in [0, 1] (0 = first model)."""

    name = "slerp"
    min_models = 2
    max_models = 2
    params = {"t": Param("shared"), "precision": Param("shared", "float32")}
    description = "spherical interpolation of two models (t=0: the first)"

    def plan(self, inputs: Inputs, p: dict, has_base: bool) -> Combination:
        """Coefficients from float32 segment sums (mergekit's) or from the float64 Gram matrix."""
        t = float(p["t"])
        if p["precision"] == "float64" or inputs.compute_dtype == torch.float64:
            g = inputs.gram()
            return Combination(slerp_coefficients(g[0, 0], g[0, 1], g[1, 1], t))
        if p["precision"] != "float32":
            raise MergeError(f"slerp precision is float32 or float64, got {p['precision']!r}")
        return Combination(float32_coefficients(inputs, t))
