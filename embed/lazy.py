"""Lazy package exports: a module ``__getattr__`` that imports a public name's module on first use, so
``import embed`` / ``import eval`` stay light (no torch) until a torch-backed name is touched."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, names: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A ``__getattr__`` for ``package`` that imports ``names[name]`` (a module path) on first use and caches
    the value in ``namespace`` (the package's globals)."""

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
