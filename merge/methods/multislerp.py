"""multislerp: mergekit's multi-model spherical interpolation (optionally of task vectors x_i - base).

mergekit projects the unit vectors u_i = x_i / (|x_i| + eps) to the tangent space at their normalised weighted
mean m = M / |M|, M = sum_i w_i u_i, averages there and maps back. The tangent average is
sum_i w_i (u_i - <u_i, m> m) = M - <M, m> m = 0, so its result is exactly m * sum_i w_i |x_i| (weights normalised
by default): the weighted mean direction at the weighted mean norm. We compute that closed form from the Gram
matrix. |M| < eps: two inputs fall back to linear interpolation, more are an error (antipodal inputs).
"""

from __future__ import annotations

import numpy as np

from merge.errors import MergeError
from merge.methods.base import Combination, Inputs, Method, Param, normalized, register

EPS = 1e-8


def multislerp_coefficients(gram: np.ndarray, weights: list[float], normalize: bool = True) -> np.ndarray:
    """Coefficients c with multislerp(x_1..x_n) = sum_i c_i x_i."""
    w = np.array(normalized(weights) if normalize else weights, dtype=np.float64)
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    if not norms.any():
        return np.zeros_like(w)
    a = w / (norms + EPS)
    mean_norm = float(np.sqrt(max(a @ gram @ a, 0.0)))
    if mean_norm < EPS:
        if len(w) == 2:
            return w
        raise MergeError(
            "multislerp: the weighted sum of the inputs' directions is zero (antipodal inputs with balancing "
            "weights); use other weights"
        )
    return a * float(w @ norms) / mean_norm


@register
class MultiSlerp(Method):
    """One or more models, weighted; with a base, the task vectors x_i - base are interpolated."""

    name = "multislerp"
    base = "optional"
    min_models = 1
    params = {"weight": Param("model", 1.0), "normalize_weights": Param("shared", True)}
    description = "spherical barycentre in mergekit's closed form (weighted mean direction x mean norm)"

    def plan(self, inputs: Inputs, p: dict, has_base: bool) -> Combination:
        """Coefficients from the Gram matrix of the inputs (or of their task vectors)."""
        if has_base:
            c = multislerp_coefficients(inputs.gram(relative_to=0), p["weight"], bool(p["normalize_weights"]))
            return Combination([0.0, *c.tolist()], anchor=0)
        return Combination(
            multislerp_coefficients(inputs.gram(), p["weight"], bool(p["normalize_weights"])).tolist()
        )
