"""Install optional PyPI packages into the running interpreter's environment when a model needs them."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys

from .progress import log

ENV_NO_INSTALL = "TSUMUGI_NO_AUTO_INSTALL"


class MissingPackageError(RuntimeError):
    """A package a builder needs is not installed and could not be installed."""


def missing_modules(modules: dict[str, str]) -> list[str]:
    """The requirements (values of ``{import name: requirement}``) whose module cannot be imported."""
    importlib.invalidate_caches()
    return [req for mod, req in modules.items() if importlib.util.find_spec(mod) is None]


def ensure_installed(modules: dict[str, str], *, purpose: str, extra: str) -> None:
    """pip-install the missing ``{import name: requirement}`` into ``sys.prefix`` (unless $TSUMUGI_NO_AUTO_INSTALL)."""
    missing = missing_modules(modules)
    if not missing:
        return
    hint = f"pip install 'tsumugi[{extra}]' (or: pip install {' '.join(missing)})"
    if os.environ.get(ENV_NO_INSTALL):
        raise MissingPackageError(
            f"{purpose} needs {', '.join(missing)}; ${ENV_NO_INSTALL} is set, so {hint}"
        )
    log(f"{purpose} needs {', '.join(missing)} (the '{extra}' extra): installing into {sys.prefix}")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", *missing],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise MissingPackageError(
            f"pip install {' '.join(missing)} failed: {proc.stderr.strip()[-2000:]}; {hint}"
        )
    still = missing_modules(modules)
    if still:
        raise MissingPackageError(f"{', '.join(still)} still not importable after pip install; {hint}")
