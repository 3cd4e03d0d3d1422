"""What a merge method is: a registered unit that, for one tensor, looks at its inputs (whole-tensor statistics
such as a Gram matrix) and returns a kernel that maps aligned chunks of the inputs to a chunk of the output.

Most methods are a linear combination ``sum_i c_i x_i`` whose coefficients come from the inputs' Gram matrix
(slerp, chained slerp, multi-slerp, Karcher mean, linear, task arithmetic): they only need dot products, computed
in one streaming pass, so no input is ever held whole. TIES needs per-input magnitude thresholds and is elementwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from merge.errors import MergeError
from merge.params import REQUIRED


class Inputs(Protocol):
    """The inputs of one tensor, base first when the method uses one (see ``merge.engine.TensorInputs``)."""

    name: str
    count: int
    numel: int
    compute_dtype: torch.dtype

    def chunks(self, select: Sequence[int] | None = None) -> Iterator[list[torch.Tensor]]:
        """Aligned row chunks of every (or every selected) input, in compute dtype."""

    def flat_chunks(self, size: int) -> Iterator[list[torch.Tensor]]:
        """Aligned flat segments of ``size`` elements of every input."""

    def gram(self, relative_to: int | None = None) -> np.ndarray:
        """Float64 Gram matrix of the inputs (of ``x_i - x_relative_to`` for the others when given)."""


class Kernel(Protocol):
    """Maps aligned input chunks to an output chunk (called in row order)."""

    fixed_point: bool  # identical inputs come back unchanged

    def __call__(self, chunks: list[torch.Tensor]) -> torch.Tensor:
        """The output rows for these input rows."""


@dataclass
class Combination:
    """``sum_i c_i x_i``, or with ``anchor`` a: ``x_a + sum_{i != a} c_i (x_i - x_a)`` (deltas first, as mergekit)."""

    coefficients: Sequence[float]
    anchor: int | None = None
    fixed_point: bool = True

    def __call__(self, chunks: list[torch.Tensor]) -> torch.Tensor:
        """Accumulate in the chunks' dtype (float32 unless inputs are float64)."""
        if (
            self.anchor is None
        ):  # c_0 x_0 + c_1 x_1 + ...: separate products, then sums (no fused multiply-add)
            out = chunks[0] * float(self.coefficients[0])
            for c, x in zip(self.coefficients[1:], chunks[1:]):
                out += x * float(c)
            return out
        base = chunks[self.anchor]
        out = base.clone()
        for i, (c, x) in enumerate(zip(self.coefficients, chunks)):
            if i != self.anchor and c != 0:
                out.add_(x - base, alpha=float(c))
        return out


@dataclass(frozen=True)
class Param:
    """A method parameter: scope ``shared`` (one value) or ``model`` (one per non-base model), and its default."""

    scope: str = "shared"
    default: Any = REQUIRED


class Method:
    """A merge method: ``name``, how it uses a base model, its parameters, and ``plan`` for one tensor."""

    name: ClassVar[str]
    base: ClassVar[str] = "none"  # none | optional | required
    min_models: ClassVar[int] = 1
    max_models: ClassVar[int | None] = None
    params: ClassVar[dict[str, Param]] = {}
    description: ClassVar[str] = ""

    def plan(self, inputs: Inputs, p: dict[str, Any], has_base: bool) -> Kernel:
        """A kernel for this tensor; ``p`` holds the resolved parameter values (base input first if ``has_base``)."""
        raise NotImplementedError

    def check(self, n_models: int, has_base: bool) -> None:
        """Raise MergeError when the number of models or the base does not fit the method."""
        if self.base == "required" and not has_base:
            raise MergeError(f"{self.name} needs a base_model")
        if self.base == "none" and has_base:
            raise MergeError(f"{self.name} takes no base_model")
        if n_models < self.min_models or (self.max_models is not None and n_models > self.max_models):
            want = (
                f"exactly {self.min_models}"
                if self.min_models == self.max_models
                else f"at least {self.min_models}"
                + (f" and at most {self.max_models}" if self.max_models else "")
            )
            raise MergeError(f"{self.name} merges {want} models (besides any base), got {n_models}")

    def param_spec(self) -> dict[str, tuple[str, Any]]:
        """Parameter scopes and defaults, as ``merge.params.resolve`` takes them."""
        return {k: (v.scope, v.default) for k, v in self.params.items()}


METHODS: dict[str, Method] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method available by its ``name``."""
    if cls.name in METHODS:
        raise ValueError(f"merge method {cls.name!r} registered twice")
    METHODS[cls.name] = cls()
    return cls


def get_method(name: str) -> Method:
    """The registered method called ``name``."""
    import merge.methods  # noqa: F401  (registers the built-in methods)

    try:
        return METHODS[name]
    except KeyError:
        raise MergeError(
            f"unknown merge method {name!r}; choose one of {', '.join(sorted(METHODS))}"
        ) from None


def normalized(weights: Sequence[float], what: str = "weights") -> list[float]:
    """``weights / sum(weights)``; a zero sum is an error."""
    total = float(sum(weights))
    if abs(total) < 1e-12:
        raise MergeError(f"{what} {list(weights)} sum to zero")
    return [float(w) / total for w in weights]
