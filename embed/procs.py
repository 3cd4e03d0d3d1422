"""Process hygiene: nothing a tsumugi job starts outlives it.

Three pieces, used together:

- :func:`spawn_group` starts a child in a process group of its own, asking the kernel to send it SIGTERM when
  its parent dies (``PR_SET_PDEATHSIG``, Linux), so even a SIGKILLed parent takes its children along.
- :func:`stop_group` stops a child's whole process group: SIGTERM, a grace period, then SIGKILL. Grandchildren
  reparented to init keep their process group, so they are found too.
- :func:`install_reaper` makes an app (``python -m synth``, ``train``, ``eval``, ...) stop every descendant on
  SIGTERM / SIGINT / SIGHUP and at exit (normal or crash), then die of the same signal. That covers engines it
  starts through libraries (vLLM's ``EngineCore`` and workers, DeepSpeed, multiprocessing pools).
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

import psutil

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_S = 10.0
"""Seconds a child has to exit after SIGTERM before it is SIGKILLed."""
_PR_SET_PDEATHSIG = 1
_installed = False
_groups: set[int] = set()  # process groups started by spawn_group and not yet stopped


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the process group still lets the parent stop it
        pass


def alive(pids: Sequence[int]) -> list[int]:
    """The pids in ``pids`` that are still running (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def spawn_group(cmd: Sequence[str], **popen_kwargs) -> subprocess.Popen:
    """``subprocess.Popen(cmd)`` in a new session / process group, SIGTERMed by the kernel if this process dies."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    proc = subprocess.Popen(list(cmd), start_new_session=True, preexec_fn=preexec, **popen_kwargs)
    _groups.add(proc.pid)
    return proc


def group_members(pgid: int) -> list[psutil.Process]:
    """Live processes whose process group is ``pgid`` (zombies excluded)."""
    found = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == pgid:
                found.append(p)
        except (ProcessLookupError, psutil.Error, PermissionError):
            continue
    return found


def stop_group(proc: subprocess.Popen, grace: float = GRACE_S) -> int | None:
    """SIGTERM ``proc``'s process group, wait up to ``grace`` s for every member, SIGKILL what is left.

    Returns ``proc``'s exit code (None if it could not be reaped)."""
    pgid = proc.pid
    _groups.discard(pgid)
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    left = group_members(pgid)
    _, alive = psutil.wait_procs(left, timeout=max(0.0, grace / 2))
    if alive or proc.poll() is None:
        log.warning("process group %d still has %d process(es) after SIGTERM: SIGKILL", pgid, len(alive))
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        psutil.wait_procs(group_members(pgid), timeout=5)
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def stop_descendants(grace: float = GRACE_S) -> int:
    """SIGTERM every descendant of this process and every member of the process groups it spawned (those
    reparented to init included), SIGKILL those alive after ``grace`` s; returns how many there were."""
    try:
        kids = psutil.Process().children(recursive=True)
    except psutil.Error:
        kids = []
    seen = {p.pid for p in kids}
    for pgid in list(_groups):
        kids += [p for p in group_members(pgid) if p.pid not in seen and p.pid != os.getpid()]
        seen = {p.pid for p in kids}
    _groups.clear()
    if not kids:
        return 0
    for p in kids:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(kids, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return len(kids)


def _on_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    # stop children first, then die of the same signal, so the parent sees the usual status (e.g. -15)
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    n = stop_descendants()
    print(
        f"[tsumugi] {signal.Signals(signum).name}: stopped {n} child process(es), exiting",
        file=sys.stderr,
        flush=True,
    )
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_reaper() -> None:
    """Stop every descendant of this process on SIGTERM/SIGINT/SIGHUP and at interpreter exit (idempotent;
    only from the main thread, where Python allows signal handlers)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _on_signal)
    # multiprocessing joins its non-daemon children in an atexit hook of its own (forever, for an engine that
    # waits on the parent): import it first so that hook is registered first and ours, LIFO, runs before it
    import multiprocessing.util  # noqa: F401

    atexit.register(stop_descendants, 5.0)
    _installed = True
