"""No orphans: a stopped or crashed tsumugi process takes every process it started along (embed.procs).

Real process trees: a child that starts grandchildren the way vLLM does (multiprocessing ``spawn``) and a plain
subprocess, then SIGTERM, SIGINT, SIGKILL of the parent, or a crash; every pid must be gone afterwards."""

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

from embed.procs import alive

REPO = Path(__file__).resolve().parents[2]

# a process (the "app") with the reaper installed, starting two grandchildren, then writing their pids
APP = textwrap.dedent(
    """
    import json, multiprocessing as mp, subprocess, sys, time
    from embed.procs import install_reaper

    def worker():
        time.sleep(600)

    if __name__ == "__main__":
        if sys.argv[2] == "reaper":
            install_reaper()
        ctx = mp.get_context("spawn")
        p = ctx.Process(target=worker)
        p.start()
        s = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(sys.argv[1] + ".tmp", "w") as f:
            json.dump({"app": __import__("os").getpid(), "kids": [p.pid, s.pid]}, f)
        __import__("os").replace(sys.argv[1] + ".tmp", sys.argv[1])
        if sys.argv[3] == "crash":
            raise RuntimeError("boom")
        time.sleep(600)
    """
)

# a launcher (the "pipeline") that starts the app with spawn_group and waits
LAUNCHER = textwrap.dedent(
    """
    import sys
    from embed.procs import spawn_group
    p = spawn_group([sys.executable, sys.argv[1], sys.argv[2], "reaper", "sleep"])
    p.wait()
    """
)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _wait_pids(path: Path, proc: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"process exited early with {proc.returncode}")
        if time.time() > deadline:
            pytest.fail("the app never wrote its pids")
        time.sleep(0.1)
    return json.loads(path.read_text())


def _gone(pids: list[int], timeout: float = 30) -> list[int]:
    """The pids still alive (not zombies) after waiting up to ``timeout`` s."""
    deadline = time.time() + timeout
    while (left := alive(pids)) and time.time() <= deadline:
        time.sleep(0.2)
    return left


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "app.py"
    path.write_text(APP)
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_reaper_stops_grandchildren_on_a_signal(app, tmp_path, sig):
    pids_file = tmp_path / "pids.json"
    proc = subprocess.Popen([sys.executable, str(app), str(pids_file), "reaper", "sleep"], env=_env())
    info = _wait_pids(pids_file, proc)
    try:
        assert _gone(info["kids"], timeout=0) == info["kids"]  # they run
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == -sig  # died of the same signal, after stopping its children
        assert _gone(info["kids"]) == []
    finally:
        _kill_all([info["app"], *info["kids"]])


def test_without_the_reaper_grandchildren_are_orphaned(app, tmp_path):
    # the control: the same tree without install_reaper leaves its children running (so the test above can fail)
    pids_file = tmp_path / "pids.json"
    proc = subprocess.Popen([sys.executable, str(app), str(pids_file), "none", "sleep"], env=_env())
    info = _wait_pids(pids_file, proc)
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert _gone(info["kids"], timeout=2) != []
    finally:
        _kill_all(info["kids"])


def test_reaper_stops_children_when_the_app_crashes(app, tmp_path):
    pids_file = tmp_path / "pids.json"
    proc = subprocess.Popen(
        [sys.executable, str(app), str(pids_file), "reaper", "crash"], env=_env(), stderr=subprocess.PIPE
    )
    info = _wait_pids(pids_file, proc)
    try:
        assert proc.wait(timeout=60) == 1 and b"boom" in proc.stderr.read()
        assert _gone(info["kids"]) == []
    finally:
        _kill_all(info["kids"])


def test_stop_group_reaches_processes_reparented_to_init(app, tmp_path):
    from embed.procs import spawn_group, stop_group

    pids_file = tmp_path / "pids.json"
    proc = spawn_group([sys.executable, str(app), str(pids_file), "none", "sleep"], env=_env())
    info = _wait_pids(pids_file, proc)
    try:
        os.kill(info["app"], signal.SIGKILL)  # the app dies without cleaning up: its children are orphaned
        proc.wait(timeout=10)
        assert _gone(info["kids"], timeout=1) != []
        stop_group(proc, grace=5)  # the process group still finds them
        assert _gone(info["kids"]) == []
    finally:
        _kill_all(info["kids"])


def test_sigkilled_launcher_takes_the_whole_tree_along(app, tmp_path):
    # pipeline -> stage app -> engine: SIGKILL of the pipeline (no handler can run) still stops everything:
    # the kernel SIGTERMs the stage (PR_SET_PDEATHSIG), whose reaper stops its children
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    pids_file = tmp_path / "pids.json"
    proc = subprocess.Popen([sys.executable, str(launcher), str(app), str(pids_file)], env=_env())
    info = _wait_pids(pids_file, proc)
    try:
        proc.kill()
        proc.wait(timeout=10)
        assert _gone([info["app"], *info["kids"]]) == []
    finally:
        _kill_all([info["app"], *info["kids"]])
