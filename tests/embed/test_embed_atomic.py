"""Atomic file and folder writes: all or nothing, no temporary leftovers."""

from __future__ import annotations

import pytest

from embed.atomic import atomic_dir, atomic_file


def test_atomic_file_writes_utf8_and_replaces(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with atomic_file(target, "w") as handle:
        handle.write("日本語")
    assert target.read_bytes() == "日本語".encode()
    with pytest.raises(RuntimeError), atomic_file(target, "wb") as handle:
        handle.write(b"partial")
        raise RuntimeError("interrupted")
    assert target.read_text(encoding="utf-8") == "日本語"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_atomic_dir_swaps_whole_folder(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    with pytest.raises(ValueError), atomic_dir(target) as tmp:
        (tmp / "c").write_text("3")
        raise ValueError("failed")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
