"""Errors merge/ raises: one line (or one list) saying what is wrong, raised before any tensor is written."""

from __future__ import annotations

from collections.abc import Sequence


class MergeError(ValueError):
    """A merge could not be planned or run (bad recipe, unreadable checkpoint, numerical impossibility)."""


class PickleRefused(MergeError):
    """A checkpoint only has pickle weights and ``allow_pickle`` is off."""


class IncompatibleCheckpoints(MergeError):
    """The inputs differ in architecture, tensor names, shapes or tied weights; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"cannot merge: {len(self.problems)} incompatibilit{'y' if len(self.problems) == 1 else 'ies'}\n{lines}"
        )
