"""karcher: the weighted Karcher (Fréchet) mean on the unit hypersphere, rescaled by the weighted mean norm.

As mergekit's ``karcher`` (max_iter=10, tol=1e-5): unit vectors u_i = x_i / |x_i| (inputs with |x_i| <= tol are
left out), start at the normalised weighted mean, then iterate m <- exp_m(sum_i a_i theta_i / sin(theta_i)
(u_i - cos(theta_i) m)) with cos(theta_i) = <m, u_i>, until the tangent step is shorter than tol. The result is
(sum_i a_i |x_i|) m. Every iterate lies in the span of the inputs, so we iterate on coefficients with the Gram
matrix (float64) and write the mean once.
"""

from __future__ import annotations

import math

import numpy as np

from merge.methods.base import Combination, Inputs, Method, Param, normalized, register


def karcher_coefficients(
    gram: np.ndarray, weights: list[float], max_iter: int = 10, tol: float = 1e-5
) -> np.ndarray:
    """Coefficients c with karcher(x_1..x_n) = sum_i c_i x_i."""
    n = gram.shape[0]
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    alphas = np.array(normalized(weights), dtype=np.float64)
    valid = [i for i in range(n) if norms[i] > tol]
    if not valid:
        return np.zeros(n)
    inv = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
    unit_gram = gram * np.outer(inv, inv)  # Gram matrix of the unit vectors

    def norm(v: np.ndarray) -> float:
        return math.sqrt(max(float(v @ unit_gram @ v), 0.0))

    a = np.zeros(n)
    a[valid] = alphas[valid] / alphas[valid].sum()
    m = a.copy()
    mn = norm(m)
    if mn < tol:
        m = np.zeros(n)
        m[valid[0]] = 1.0
    else:
        m /= mn
    for _ in range(max_iter):
        tangent = np.zeros(n)
        dots = unit_gram @ m
        for i in valid:
            dot = min(1.0, max(-1.0, float(dots[i])))
            theta = math.acos(dot)
            if theta < tol:
                continue
            step = a[i] * theta / math.sin(theta)
            tangent -= step * dot * m
            tangent[i] += step
        tn = norm(tangent)
        if tn < tol:
            break
        m = math.cos(tn) * m + math.sin(tn) * tangent / tn
        un = norm(m)
        if un > tol:
            m /= un
    scale = float(alphas @ norms)
    return scale * m * inv


@register
class Karcher(Method):
    """Two or more models, uniform weights unless given."""

    name = "karcher"
    min_models = 1
    params = {"weight": Param("model", 1.0), "max_iter": Param("shared", 10), "tol": Param("shared", 1e-5)}
    description = "iterative spherical barycentre (Karcher mean), order-free"

    def plan(self, inputs: Inputs, p: dict, has_base: bool) -> Combination:
        """Coefficients from the Gram matrix."""
        c = karcher_coefficients(inputs.gram(), p["weight"], int(p["max_iter"]), float(p["tol"]))
        return Combination(c.tolist())
