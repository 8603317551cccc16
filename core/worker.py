"""Worker processes that serve the training queue, apart from the web server.

Each worker holds an exclusive lock on its slot file for its whole life; the kernel drops the lock
when the process dies (even on SIGKILL), so "can I take the lock?" is an exact liveness test and
`ensure_workers` restarts exactly the slots that are empty. One slot per GPU by default.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from core import jobs, runs

WORKERS_DIR = ".workers"
POLL_S = 0.5
IDLE_EXIT_S = 3600  # a worker nobody uses goes away; the dashboard starts a new one on demand
# Workers started by the dashboard run at a lower CPU priority than the web server, so that pages keep
# answering while a job trains on the same CPUs (docs/load-test.md); an idle CPU still goes to training.
NICENESS = 10
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run_job(spec: jobs.JobSpec | dict, should_stop=lambda: False, listener=None) -> str:
    """The whole job: config in, run folder out. Takes the spec as plain JSON too, for ray.remote(run_job).

    A job that asks to resume continues its run from the checkpoint. A job whose run folder exists already
    was started before by a worker that died: it continues from the checkpoint, or, if it died before its
    first epoch ended, starts over in the same folder."""
    from core import checkpoint
    from core.training import resume, train

    spec = spec if isinstance(spec, jobs.JobSpec) else jobs.JobSpec.from_dict(spec)
    if spec.lr_find:
        return str(_lr_find(spec, should_stop))
    run_dir = spec.run_dir
    if not spec.resume and run_dir.is_dir() and runs.read_run(run_dir).has_results:
        return str(run_dir)  # its worker died after the run was saved, before the queue heard of it
    if spec.resume or checkpoint.exists(run_dir):
        return str(resume(run_dir, epochs=spec.epochs, data_dir=spec.data_dir, listener=listener, should_stop=should_stop))
    if run_dir.is_dir():
        shutil.rmtree(run_dir)  # nothing to keep: not one epoch was finished
    return str(train(spec.config, spec.runs_dir, name=spec.name, preset=spec.preset, data_dir=spec.data_dir,
                     listener=listener, should_stop=should_stop, run_id=spec.run_id, group=spec.group, owner=spec.owner,
                     assignment=spec.assignment))


def hold_lock(runs_dir, name: str):
    """Take the lock `name` of the runs folder's .workers/ for this process's life; None if another holds it."""
    folder = Path(runs_dir) / WORKERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return _try_lock(folder / f"{name}.lock")


def _lr_find(spec: jobs.JobSpec, should_stop) -> Path:
    """A learning-rate range test: its curve and suggestion as JSON, for the Train page's chart."""
    from core import datasets
    from core.lr_finder import find_learning_rate

    result = find_learning_rate(spec.config, datasets.load(spec.config.dataset, spec.data_dir), should_stop=should_stop)
    target = jobs.lr_find_file(spec.runs_dir, spec.run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json(target, result.to_dict())
    return target


def _slot_paths(runs_dir: Path, slot: int) -> tuple[Path, Path]:
    folder = Path(runs_dir) / WORKERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"slot-{slot}.lock", folder / f"slot-{slot}.json"


def _try_lock(path: Path):
    """An open, exclusively locked file, or None if another process holds the lock."""
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return f
    except BlockingIOError:
        f.close()
        return None


def serve(runs_dir=runs.DEFAULT_RUNS_DIR, slot: int = 0, idle_exit_s: float = IDLE_EXIT_S, max_jobs: int | None = None,
          parent_pid: int | None = None) -> int:
    """Serve jobs until idle for idle_exit_s (or max_jobs done), or, once idle, until the server that started it
    (`parent_pid`) is gone: a crashed dashboard leaves no worker behind for long. Returns the number of jobs run."""
    from core.device import environment

    lock_path, info_path = _slot_paths(runs_dir, slot)
    lock = _try_lock(lock_path)
    if lock is None:
        print(f"worker slot {slot} is already served by another process", file=sys.stderr)
        return 0
    queue = jobs.Queue(runs_dir)
    runs.write_json(info_path, {"slot": slot, "pid": os.getpid(), "started": runs.now_iso(), "environment": environment()})
    done, idle_since = 0, time.monotonic()
    try:
        while max_jobs is None or done < max_jobs:
            queue.reap()
            job = queue.claim()
            if job is None:
                if time.monotonic() - idle_since > idle_exit_s or (parent_pid and not runs.pid_alive(parent_pid)):
                    break
                time.sleep(POLL_S)
                continue
            _run_claimed(queue, job)
            done += 1
            idle_since = time.monotonic()
    finally:
        info_path.unlink(missing_ok=True)
        lock.close()
    return done


def _run_claimed(queue: jobs.Queue, job: jobs.Job) -> None:
    last_check = [0.0, False]

    def should_stop() -> bool:  # the database is asked at most twice a second
        now = time.monotonic()
        if now - last_check[0] > POLL_S:
            last_check[:] = [now, queue.cancel_requested(job.id)]
        return last_check[1]

    try:
        made = Path(run_job(job.spec, should_stop))
        if job.spec.lr_find:
            queue.finish(job.id, "cancelled" if should_stop() else "completed")
            return
        run = runs.read_run(made)
        queue.finish(job.id, run.status if run.has_results else "failed")
    except Exception as e:  # recorded in the run by train(); the queue goes on to the next job
        queue.finish(job.id, "failed", str(e) if isinstance(e, runs.RunError) else f"{type(e).__name__}: {e}")


def default_slots() -> int:
    """One job at a time per GPU, and one on a CPU-only machine (Settings.workers overrides it)."""
    from core.device import gpu_names

    return max(1, len(gpu_names()))


_started: list[subprocess.Popen] = []  # the workers this process started, ended when it exits


def stop_started_workers() -> None:
    """End the workers this process started (the dashboard's Ctrl-C): a job they were training stays in the
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


def ensure_workers(runs_dir=runs.DEFAULT_RUNS_DIR, slots: int | None = None) -> list[int]:
    """Start a worker for every slot nobody serves (a live worker left by an earlier server is reused); returns
    the slots started. The workers end with this process when it exits normally, and when idle after a crash.
    With CLASSROOM_RAY_ADDRESS set, one dispatcher to that Ray cluster (core.cluster) instead, as slot 0."""
    from core.cluster import DISPATCHER_LOCK
    from core.settings import Settings

    address = Settings.from_env().ray_address
    if address:
        return [0] if ensure_helper(runs_dir, DISPATCHER_LOCK, ["worker", "--runs-dir", str(Path(runs_dir).resolve()),
                                                                "--ray", address, "--nice", str(NICENESS)]) else []
    slots = default_slots() if slots is None else slots
    return [slot for slot in range(slots) if ensure_helper(runs_dir, f"slot-{slot}", [
        "worker", "--runs-dir", str(Path(runs_dir).resolve()), "--slot", str(slot), "--nice", str(NICENESS)])]


def ensure_helper(runs_dir, name: str, arguments: list[str]) -> bool:
    """Start `python -m core ARGUMENTS --parent-pid <this process>` unless a live process holds the lock `name`
    in the runs folder's .workers/; True if it was started. The helper must take that lock itself at start."""
    folder = Path(runs_dir) / WORKERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / f"{name}.lock"
    with runs.folder_lock(folder):  # two sessions must not start the same helper twice
        probe = _try_lock(lock_path)
        if probe is None:
            return False
        probe.close()
        with open(folder / f"{name}.log", "ab") as log:
            # Its own session: a page reload or a Ctrl-C meant for the server's terminal does not reach it directly.
            proc = subprocess.Popen([sys.executable, "-m", "core", *arguments, "--parent-pid", str(os.getpid())],
                                    cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        if not _started:
            atexit.register(stop_started_workers)
        _started.append(proc)
        _wait_for_lock(lock_path, proc)
        return True


def _wait_for_lock(lock_path: Path, proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Hold the spawn guard until the new worker owns its slot, so no one starts it twice."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        probe = _try_lock(lock_path)
        if probe is None:
            return
        probe.close()
        time.sleep(0.05)


def summary(published: list[dict]) -> tuple[str, str]:
    """Home's heading and line for the live workers: local workers publish their Keras, the Ray dispatcher its
    cluster (core.cluster) and no Keras, since it imports none."""
    env = published[0]["environment"]
    if "ray" in env:
        return env["device"], f"Jobs go to the Ray cluster with the **{env['backend']}** backend, one task per run"
    count = f"{len(published)} training worker{'s' if len(published) > 1 else ''} ready"
    return env["device"], f"Keras {env.get('keras', '')} with the **{env['backend']}** backend · {count}"


def worker_status(runs_dir=runs.DEFAULT_RUNS_DIR) -> list[dict]:
    """What each live worker published about itself (backend, device)."""
    folder = Path(runs_dir) / WORKERS_DIR
    out = []
    for info in sorted(folder.glob("slot-*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(info.read_text())
        except (OSError, ValueError):
            continue
        if runs.pid_alive(record.get("pid")):
            out.append(record)
    return out
