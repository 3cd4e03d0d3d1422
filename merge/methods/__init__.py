"""Merge methods, one module each; importing this package registers them (``merge.methods.base.METHODS``)."""

from merge.methods import chain, karcher, linear, multislerp, slerp, task_arithmetic, ties  # noqa: F401
from merge.methods.base import METHODS, Combination, Method, Param, get_method, register

__all__ = ["METHODS", "Combination", "Method", "Param", "get_method", "register"]
