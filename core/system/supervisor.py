"""The helper processes beside the web server (training workers, the Ray dispatcher, the explainer): started once
each, kept alive by whoever needs them, and served by one loop.

Each helper holds an exclusive lock named after its role in the runs folder's `.workers/` for its whole life, so
"can I take the lock?" tells exactly whether it still runs, and `ensure_helper` starts only what is missing.
`serve` is every helper's loop: take the lock, publish what the helper is, do its work a step at a time, and end
once idle for long enough or, once idle, when the server that started it is gone.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.system.files import write_json
from core.system.locks import folder_lock, try_lock
from core.system.processes import pid_alive

WORKERS_DIR = ".workers"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def helpers_dir(runs_dir) -> Path:
    folder = Path(runs_dir) / WORKERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def hold_lock(runs_dir, name: str):
    """Take the lock `name` of the runs folder's .workers/ for this process's life; None if another holds it."""
    return try_lock(helpers_dir(runs_dir) / f"{name}.lock")


def serve(runs_dir, name: str, make_step: Callable[[], Callable[[], bool]], *, idle_exit_s: float, poll_s: float,
          parent_pid: int | None = None, info: tuple[str, Callable[[], dict]] | None = None,
          until: Callable[[], bool] | None = None) -> bool:
    """A helper's whole life under the lock `name`: `make_step()` (called once the lock is held: it may connect to
    a cluster or load models) returns the step, which does one piece of work and says whether it found any. Idle
    steps are `poll_s` apart. Ends when `until()` says so, when idle for `idle_exit_s`, or, once idle, when
    `parent_pid` (the server that started it) is gone. `info` is (file name, what to publish) in .workers/, removed
    at the end. False if another process holds the lock (nothing was served)."""
    lock = hold_lock(runs_dir, name)
    if lock is None:
        return False
    info_path = helpers_dir(runs_dir) / info[0] if info else None
    try:
        step = make_step()
        if info:
            write_json(info_path, info[1]())
        idle_since = time.monotonic()
        while until is None or not until():
            if step():
                idle_since = time.monotonic()
                continue
            if time.monotonic() - idle_since > idle_exit_s or (parent_pid and not pid_alive(parent_pid)):
                break
            time.sleep(poll_s)
    finally:
        if info_path:
            info_path.unlink(missing_ok=True)
        lock.close()
    return True


_started: list[subprocess.Popen] = []  # the helpers this process started, ended when it exits


def stop_started_helpers() -> None:
    """End the helpers this process started (the dashboard's Ctrl-C): a job a worker was training stays in the
    queue as running, and the next worker resumes it from its checkpoint."""
    for proc in _started:
        if proc.poll() is None:
            proc.terminate()
    for proc in _started:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    _started.clear()


def ensure_helper(runs_dir, name: str, arguments: list[str]) -> bool:
    """Start `python -m core ARGUMENTS --parent-pid <this process>` unless a live process holds the lock `name`
    in the runs folder's .workers/; True if it was started. The helper must take that lock itself at start."""
    folder = helpers_dir(runs_dir)
    lock_path = folder / f"{name}.lock"
    with folder_lock(folder):  # two sessions must not start the same helper twice
        probe = try_lock(lock_path)
        if probe is None:
            return False
        probe.close()
        with open(folder / f"{name}.log", "ab") as log:
            # Its own session: a page reload or a Ctrl-C meant for the server's terminal does not reach it directly.
            proc = subprocess.Popen([sys.executable, "-m", "core", *arguments, "--parent-pid", str(os.getpid())],
                                    cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        if not _started:
            atexit.register(stop_started_helpers)
        _started.append(proc)
        _wait_for_lock(lock_path, proc)
        return True


def _wait_for_lock(lock_path: Path, proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Hold the spawn guard until the new helper owns its lock, so no one starts it twice."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        probe = try_lock(lock_path)
        if probe is None:
            return
        probe.close()
        time.sleep(0.05)
