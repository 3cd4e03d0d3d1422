"""linear: weighted average sum_i w_i x_i / sum_i w_i (``normalize: false`` drops the division)."""

from __future__ import annotations

from merge.methods.base import Combination, Inputs, Method, Param, normalized, register


@register
class Linear(Method):
    """One or more models; uniform weights unless given (mergekit requires them)."""

    name = "linear"
    min_models = 1
    params = {"weight": Param("model", 1.0), "normalize": Param("shared", True)}
    description = "weighted average of the models"

    def plan(self, inputs: Inputs, p: dict, has_base: bool) -> Combination:
        """Fixed coefficients; no statistics needed."""
        w = [float(x) for x in p["weight"]]
        if p["normalize"]:
            return Combination(normalized(w))
        return Combination(w, fixed_point=abs(sum(w) - 1.0) < 1e-12)
