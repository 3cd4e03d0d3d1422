"""The one exception a malformed or missing dataset raises, with file, line and field in its message."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A dataset file is missing or malformed; ``str(err)`` reads ``<file>, line <n>, field '<f>': <problem>``."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = message
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class EmbeddingError(RuntimeError):
    """The model produced an unusable embedding (NaN / inf); the message names dataset, split, side and row."""
