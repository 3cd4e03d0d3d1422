"""``python -m embed.bootstrap [NAME ...] [--list] [--verify] [--force]``: build, list and verify cached models."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import cache, registry
from .progress import log

EXIT_UNKNOWN_MODEL = 2


def _size(num_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1000 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    raise AssertionError


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m embed.bootstrap",
        description="Build the local models tsumugi needs (no Hugging Face hub) into "
        f"${cache.ENV_CACHE} (default ~/.cache/tsumugi)/models.",
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"models to build (default: {' '.join(registry.default_models())})",
    )
    p.add_argument("--list", action="store_true", help="list the known models and whether they are built")
    p.add_argument("--verify", action="store_true", help="re-check the checksums of the (built) models")
    p.add_argument("--force", action="store_true", help="rebuild even if an up-to-date build is cached")
    return p


def _list() -> int:
    rows = []
    for name, description in registry.known_models().items():
        state = "built" if registry.is_built(name) else "-"
        rows.append([name, state, description])
    print(_table(["name", "state", "description"], rows))
    print(f"cache: {cache.models_dir()}")
    return 0


def _verify(names: list[str]) -> int:
    failed = 0
    for name in names:
        try:
            manifest = registry.verify(name)
        except (registry.CacheIntegrityError, registry.ModelNotBuiltError) as err:
            print(f"FAIL {name}: {err}", file=sys.stderr)
            failed += 1
        else:
            print(f"ok   {name}: {len(manifest['files'])} files match {cache.MANIFEST}")
    return 1 if failed else 0


def _build(names: list[str], force: bool) -> int:
    rows = []
    for name in names:
        was_built = registry.is_built(name)
        log(f"{name}: {'rebuilding' if force else 'cached' if was_built else 'building'}")
        start = time.monotonic()
        try:
            path = registry.build_model(name, force=force)
        except Exception as err:  # one readable line per failed model, no traceback
            print(f"error: building {name} failed: {type(err).__name__}: {err}", file=sys.stderr)
            return 1
        seconds = time.monotonic() - start
        status = "cached" if was_built and not force else "built"
        rows.append([name, str(path), _size(cache.folder_size(Path(path))), f"{seconds:.1f}", status])
    print(_table(["name", "path", "size", "seconds", "status"], rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m embed.bootstrap`` / ``tsumugi-bootstrap``; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.list:
        return _list()
    unknown = [n for n in args.names if n not in registry.MODELS]
    if unknown:
        known = ", ".join(registry.known_models())
        print(f"error: unknown model {', '.join(map(repr, unknown))}; known models: {known}", file=sys.stderr)
        return EXIT_UNKNOWN_MODEL
    if args.verify:
        names = args.names or [n for n in registry.known_models() if registry.is_built(n)]
        return _verify(names)
    return _build(args.names or registry.default_models(), args.force)
