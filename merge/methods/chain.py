"""chain: several checkpoints by repeated pairwise slerp, m_1 = x_1, m_k = slerp(m_{k-1}, x_k; t_k).

With uniform weights t_k = 1/k, so every checkpoint gets the same share (recipe.md §9); with weights w,
t_k = w_k / (w_1 + ... + w_k). Order-dependent. Every m_k is a combination of the inputs, so the whole chain is
computed on the inputs' Gram matrix (exactly, in float64) and applied once: no intermediate model is rounded.
"""

from __future__ import annotations

import numpy as np

from merge.methods.base import Combination, Inputs, Method, Param, register
from merge.methods.slerp import slerp_coefficients


def chain_coefficients(gram: np.ndarray, weights: list[float]) -> np.ndarray:
    """Coefficients c with chain-slerp(x_1..x_n) = sum_i c_i x_i."""
    n = gram.shape[0]
    c = np.zeros(n)
    c[0] = 1.0
    total = float(weights[0])
    for k in range(1, n):
        total += float(weights[k])
        t = float(weights[k]) / total
        gc = gram @ c
        a, b = slerp_coefficients(float(c @ gc), float(gc[k]), float(gram[k, k]), t)
        c = a * c
        c[k] += b
    return c


@register
class ChainSlerp(Method):
    """Two or more models, slerped in order with t_k = w_k / sum_{j<=k} w_j."""

    name = "chain"
    min_models = 2
    params = {"weight": Param("model", 1.0)}
    description = "pairwise slerp chained over the models (uniform shares by default)"

    def plan(self, inputs: Inputs, p: dict, has_base: bool) -> Combination:
        """Coefficients from the n x n Gram matrix."""
        if any(w <= 0 for w in p["weight"]):
            from merge.errors import MergeError

            raise MergeError(f"chain weights must be positive, got {p['weight']}")
        return Combination(chain_coefficients(inputs.gram(), p["weight"]).tolist())
