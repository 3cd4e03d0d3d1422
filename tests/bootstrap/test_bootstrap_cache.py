"""The model cache: atomic builds (real SIGKILL, raising builders), the build lock, manifests and verify."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from embed.bootstrap import cache

REPO = Path(__file__).resolve().parents[2]
NAME = "toy"

# A cheap builder run in a child process: writes a few files, then (optionally) signals and waits.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from embed.bootstrap import cache

    mode, name, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    def builder(out, scratch):
        with open(marker.with_suffix(".runs"), "a") as f:
            f.write(f"{os.getpid()}\\n")
        (out / "weights.bin").write_bytes(os.urandom(1 << 16))
        (out / "sub").mkdir()
        (out / "sub" / "config.json").write_text("{}")
        if mode == "hang":  # killed from outside while the build is half done
            marker.write_text("started")
            time.sleep(600)
        elif mode == "hold":  # keep the lock until the test creates the release file
            marker.write_text("started")
            while not marker.with_suffix(".release").exists():
                time.sleep(0.05)
        return {"package": "toy", "version": "0"}

    cache.build_atomic(name, builder, builder_version="1")
    """
)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch) -> Path:
    """A private, empty cache (only for these tests, which build toy models)."""
    root = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_CACHE, str(root))
    return root


def _child(mode: str, marker: Path, cache_root: Path) -> subprocess.Popen:
    env = {**os.environ, cache.ENV_CACHE: str(cache_root)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, NAME, str(marker)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {path}")
        time.sleep(0.05)


def _toy_builder(content: bytes = b"weights", calls: list | None = None):
    def builder(out: Path, scratch: Path) -> dict:
        if calls is not None:
            calls.append(out)
        (scratch / "intermediate.bin").write_bytes(b"scratch")
        (out / "model.safetensors").write_bytes(content)
        (out / "nested").mkdir()
        (out / "nested" / "config.json").write_text(json.dumps({"x": 1}))
        return {"package": "toy", "version": "0"}

    return builder


def _leftovers(root: Path) -> list[Path]:
    return sorted((root / "models").glob(f".{NAME}.tmp-*"))


def test_cache_root_from_env(tmp_cache):
    assert cache.cache_root() == tmp_cache
    assert cache.model_dir("x") == tmp_cache / "models" / "x"


def test_default_cache_root(monkeypatch):
    monkeypatch.delenv(cache.ENV_CACHE, raising=False)
    assert cache.cache_root() == Path.home() / ".cache" / "tsumugi"


def test_build_writes_manifest_last_and_verifies(tmp_cache):
    final = cache.build_atomic(NAME, _toy_builder(), builder_version="1")
    assert final == tmp_cache / "models" / NAME
    manifest = json.loads((final / cache.MANIFEST).read_text())
    assert manifest["name"] == NAME
    assert manifest["builder_version"] == "1"
    assert manifest["source"] == {"package": "toy", "version": "0"}
    assert set(manifest["files"]) == {"model.safetensors", "nested/config.json"}  # no scratch, no manifest
    assert manifest["files"]["model.safetensors"] == cache.sha256_file(final / "model.safetensors")
    assert cache.verify_folder(final)["name"] == NAME
    assert _leftovers(tmp_cache) == []


def test_second_build_is_a_cache_hit(tmp_cache):
    calls: list = []
    cache.build_atomic(NAME, _toy_builder(calls=calls), builder_version="1")
    cache.build_atomic(NAME, _toy_builder(calls=calls), builder_version="1")
    assert len(calls) == 1


def test_new_builder_version_or_force_rebuilds(tmp_cache):
    calls: list = []
    final = cache.build_atomic(NAME, _toy_builder(b"v1", calls), builder_version="1")
    cache.build_atomic(NAME, _toy_builder(b"v2", calls), builder_version="2")
    assert (final / "model.safetensors").read_bytes() == b"v2"
    assert cache.read_manifest(final)["builder_version"] == "2"
    cache.build_atomic(NAME, _toy_builder(b"v3", calls), builder_version="2", force=True)
    assert (final / "model.safetensors").read_bytes() == b"v3"
    assert len(calls) == 3
    assert _leftovers(tmp_cache) == []


def test_folder_without_manifest_is_rebuilt(tmp_cache):
    half = tmp_cache / "models" / NAME
    half.mkdir(parents=True)
    (half / "model.safetensors").write_bytes(b"junk")
    assert not cache.is_built(NAME)
    cache.build_atomic(NAME, _toy_builder(), builder_version="1")
    assert (half / "model.safetensors").read_bytes() == b"weights"
    cache.verify_folder(half)


def test_raising_builder_leaves_nothing(tmp_cache):
    def broken(out: Path, scratch: Path) -> dict:
        (out / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("converter failed")

    with pytest.raises(RuntimeError, match="converter failed"):
        cache.build_atomic(NAME, broken, builder_version="1")
    assert not (tmp_cache / "models" / NAME).exists()
    assert _leftovers(tmp_cache) == []


def test_raising_rebuild_keeps_the_previous_model(tmp_cache):
    final = cache.build_atomic(NAME, _toy_builder(b"good"), builder_version="1")

    def broken(out: Path, scratch: Path) -> dict:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.build_atomic(NAME, broken, builder_version="1", force=True)
    assert (final / "model.safetensors").read_bytes() == b"good"
    cache.verify_folder(final)


def test_sigkill_mid_build_never_exposes_the_final_name(tmp_cache, tmp_path):
    marker = tmp_path / "started"
    proc = _child("hang", marker, tmp_cache)
    try:
        _wait_for(marker, proc)
        # The build is half done: files are in a temporary folder beside the target.
        assert len(_leftovers(tmp_cache)) == 1
        assert (_leftovers(tmp_cache)[0] / "model" / "weights.bin").exists()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    final = tmp_cache / "models" / NAME
    assert not final.exists()
    assert not cache.is_built(NAME)

    # The next build cleans the leftover and produces a complete, verifiable model.
    cache.build_atomic(NAME, _toy_builder(), builder_version="1")
    assert _leftovers(tmp_cache) == []
    assert cache.verify_folder(final)["files"].keys() == {"model.safetensors", "nested/config.json"}


def test_lock_serialises_concurrent_builds(tmp_cache, tmp_path):
    holder_marker = tmp_path / "holder"
    holder = _child("hold", holder_marker, tmp_cache)
    waiters = []
    try:
        _wait_for(holder_marker, holder)
        waiters = [_child("quick", tmp_path / f"waiter{i}", tmp_cache) for i in range(2)]
        time.sleep(1.5)
        # The waiters block on the lock: nothing is built yet, they have not run their builder.
        assert all(w.poll() is None for w in waiters)
        assert not (tmp_cache / "models" / NAME).exists()
        holder_marker.with_suffix(".release").touch()
        for p in [holder, *waiters]:
            assert p.wait(timeout=60) == 0, p.stderr.read()
    finally:
        for p in [holder, *waiters]:
            if p.poll() is None:
                p.kill()
    runs = [p for p in tmp_path.glob("*.runs")]
    assert [p.name for p in runs] == ["holder.runs"]  # the waiters found the finished model
    assert len(holder_marker.with_suffix(".runs").read_text().split()) == 1
    cache.verify_folder(tmp_cache / "models" / NAME)


def test_racing_processes_build_once(tmp_cache, tmp_path):
    procs = [_child("quick", tmp_path / f"p{i}", tmp_cache) for i in range(3)]
    for p in procs:
        assert p.wait(timeout=60) == 0, p.stderr.read()
    assert len(list(tmp_path.glob("*.runs"))) == 1
    cache.verify_folder(tmp_cache / "models" / NAME)


def test_verify_detects_changes_and_rebuild_fixes_them(tmp_cache):
    final = cache.build_atomic(NAME, _toy_builder(), builder_version="1")

    (final / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(cache.CacheIntegrityError, match=r"checksum mismatch model\.safetensors.*--force toy"):
        cache.verify_folder(final)

    cache.build_atomic(NAME, _toy_builder(), builder_version="1", force=True)
    cache.verify_folder(final)

    (final / "nested" / "config.json").unlink()
    (final / "extra.txt").write_text("x")
    with pytest.raises(cache.CacheIntegrityError) as err:
        cache.verify_folder(final)
    assert "missing nested/config.json" in str(err.value)
    assert "unexpected extra.txt" in str(err.value)

    (final / cache.MANIFEST).unlink()
    with pytest.raises(cache.CacheIntegrityError, match="no readable"):
        cache.verify_folder(final)


def test_built_files_are_world_readable(tmp_cache):
    def private(out: Path, scratch: Path) -> dict:
        path = out / "model.safetensors"
        path.write_bytes(b"x")
        path.chmod(0o600)
        return {}

    final = cache.build_atomic(NAME, private, builder_version="1")
    assert (final / "model.safetensors").stat().st_mode & 0o044 == 0o044 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
