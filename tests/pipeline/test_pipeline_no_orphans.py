"""Stopping the main job mid-synth leaves nothing behind: SIGTERM / SIGINT to ``python -m pipeline`` (or SIGTERM
to the ``python -m synth`` stage itself) while the real vLLM engine runs, then no descendant survives.

Before embed.procs, the vLLM ``EngineCore`` was reparented to init and kept burning a core (issue #13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from embed.procs import alive

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _engine_running(tree: dict[int, str]) -> bool:
    return any("EngineCore" in name or "spawn_main" in name for name in tree.values())


def _descendants(proc: psutil.Process) -> dict[int, str]:
    out = {}
    for p in proc.children(recursive=True):
        try:
            out[p.pid] = p.name() + " " + " ".join(p.cmdline())
        except psutil.Error:
            pass
    return out


@pytest.mark.parametrize(
    ("target", "sig"),
    [("pipeline", signal.SIGTERM), ("pipeline", signal.SIGINT), ("synth", signal.SIGTERM)],
)
def test_signal_mid_synth_leaves_no_process(tmp_path, target, sig):
    cmd = [sys.executable, "-m", "pipeline", "scale=ci", f"run_dir={tmp_path / 'run'}", "stages=[synth]"]
    log = (tmp_path / "pipeline.log").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    top = psutil.Process(proc.pid)
    seen: dict[int, str] = {}
    try:
        deadline = time.time() + 300
        while not _engine_running(seen):  # wait until the vLLM engine process exists
            assert proc.poll() is None, (tmp_path / "pipeline.log").read_text()[-3000:]
            assert time.time() < deadline, "the vLLM engine never started"
            seen.update(_descendants(top))
            time.sleep(0.5)
        time.sleep(2)
        seen.update(_descendants(top))
        if target == "pipeline":
            proc.send_signal(sig)
        else:
            synth = next(pid for pid, name in seen.items() if "-m synth" in name)
            os.kill(synth, sig)
        proc.wait(timeout=120)
        deadline = time.time() + 60
        while alive(seen) and time.time() < deadline:
            time.sleep(0.5)
        left = {pid: seen[pid] for pid in alive(seen)}
        assert not left, f"processes outlived the job: {left}"
        assert proc.returncode != 0  # stopped, not finished
    finally:
        for pid in alive([proc.pid, *seen]):
            os.kill(pid, signal.SIGKILL)
        log.close()
