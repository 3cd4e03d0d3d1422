"""task_arithmetic: base + lambda * sum_i w_i (x_i - base) [/ sum_i w_i with ``normalize: true``] (Ilharco et al.)."""

from __future__ import annotations

from merge.methods.base import Combination, Inputs, Method, Param, register


@register
class TaskArithmetic(Method):
    """A base and one or more fine-tuned models."""

    name = "task_arithmetic"
    base = "required"
    min_models = 1
    params = {
        "weight": Param("model", 1.0),
        "lambda": Param("shared", 1.0),
        "normalize": Param("shared", False),
    }
    description = "add weighted task vectors (model - base) to the base"

    def plan(self, inputs: Inputs, p: dict, has_base: bool) -> Combination:
        """Coefficients on the task vectors, applied as base + sum c_i (x_i - base)."""
        w = [float(x) for x in p["weight"]]
        divisor = sum(w) if p["normalize"] and abs(sum(w)) >= 1e-8 else 1.0
        lam = float(p["lambda"])
        return Combination([0.0, *(lam * x / divisor for x in w)], anchor=0)
