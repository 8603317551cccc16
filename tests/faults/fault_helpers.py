"""Helpers of the fault tests (a module of its own: every folder's conftest.py is named `conftest`)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.networks import presets
from core.queue import jobs
from core.storage import archive, runs
from core.system import supervisor
from core.system.processes import pid_alive

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PRESET = "fmnist-arch1-tr1"
PYTHON = sys.executable


def child_env(**extra: str) -> dict:
    """This process's environment (with the sealed dataset places of the test) for a child process, plus `extra`."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(PROJECT_ROOT), **extra}


def epoch_gate(path: Path, epochs: int | None) -> Path:
    """Hold every run of the workers that read this gate (core.training.gate) after `epochs` epochs; None lets them go."""
    if epochs is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(str(epochs))
    return path


def tiny_job(runs_dir, data_dir, name, **changes) -> jobs.JobSpec:
    """A job on the tiny Fashion-MNIST files: a second or two of training."""
    config = presets.get(PRESET).config.replace(**{"epochs": 1, "limit": 300, **changes})
    return jobs.make_job(config, runs_dir, name=name, preset=PRESET, data_dir=data_dir)


def wait_for(condition, timeout_s: float, what: str, poll_s: float = 0.05, alive=None, hopeless=None):
    """Poll until condition() is truthy; fail with `what` after timeout_s, at once if `alive()` says no, and at once,
    with what it saw, when `hopeless()` returns why the condition can no longer come true."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if alive is not None and not alive():
            pytest.fail(f"the process died while waiting for: {what}")
        if hopeless is not None and (reason := hopeless()):
            pytest.fail(f"{what} can no longer happen: {reason}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for: {what}")
        time.sleep(poll_s)


def job_ends(queue, job_id: int, status: str, timeout_s: float, alive=None) -> jobs.Job:
    """Wait until the job ends as `status`; fail at once if it ends in another state, saying which and why."""
    def ended_otherwise() -> str | None:
        job = queue.get(job_id)
        return None if job.active or job.status == status else f"it ended {job.status} ({job.error or 'no error'})"

    return wait_for(lambda: (job := queue.get(job_id)).status == status and job, timeout_s,
                    f"job {job_id} to end {status}", alive=alive, hopeless=ended_otherwise)


def folder_digest(folder: Path) -> dict[str, str]:
    """Every file under folder (relative path -> sha256); a run's files, or a whole tmp tree."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.is_symlink()}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Workers:
    """Worker processes started by a test (directly, or by ensure_workers); all are killed at the end.

    Only processes this test started are killed: a child by its Popen, a worker found through its slot
    file only while its command line names this test's runs folder (a pid can be reused)."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        self.runs_dirs: set[Path] = set()

    def slot_pid(self, runs_dir, slot: int = 0, timeout_s: float = 120, not_pid: int | None = None, alive=None) -> int:
        """The pid of the live worker that serves `slot` (it publishes it in .workers/slot-N.json)."""
        self.runs_dirs.add(Path(runs_dir).resolve())
        info = Path(runs_dir) / supervisor.WORKERS_DIR / f"slot-{slot}.json"

        def live_pid():
            try:
                pid = json.loads(info.read_text())["pid"]
            except (OSError, ValueError, KeyError):
                return None
            return pid if pid != not_pid and pid_alive(pid) else None

        return wait_for(live_pid, timeout_s, f"a worker on slot {slot} of {runs_dir}", alive=alive)

    def popen(self, argv, env: dict | None = None, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen([str(a) for a in argv], cwd=PROJECT_ROOT, env=env or child_env(), stdin=subprocess.DEVNULL,
                                start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def kill_worker(self, runs_dir, pid: int) -> None:
        """SIGKILL a worker of this test's runs folder (checked on its command line) and wait until it is gone."""
        assert str(Path(runs_dir).resolve()) in _cmdline(pid), f"process {pid} is not a worker of {runs_dir}"
        os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)  # our child: collect it; a grandchild is collected by init
        except ChildProcessError:
            pass
        wait_for(lambda: not pid_alive(pid), 10, f"process {pid} to be gone")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for runs_dir in self.runs_dirs:  # workers started by ensure_workers (ours or a page's)
            for info in (runs_dir / supervisor.WORKERS_DIR).glob("slot-*.json"):
                try:
                    pid = int(json.loads(info.read_text())["pid"])
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                if pid_alive(pid) and str(runs_dir) in _cmdline(pid):
                    self.kill_worker(runs_dir, pid)


# --- run folders without training ------------------------------------------------------------------

def sound_run(folder, name: str = "a sound run", **config) -> Path:
    """A completed Fashion-MNIST run folder as the trainer writes it (tools/fake_runs.py: no Keras, no training)."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    import numpy as np

    from tools.fake_runs import make_config, make_history, write_run

    y_true = np.arange(40) % 10
    y_pred = np.where(np.arange(40) < 30, y_true, (y_true + 1) % 10)
    return write_run(folder, name=name, y_true=y_true, y_pred=y_pred, config=make_config(**{**config, "epochs": 3}),
                     history=make_history(3, 0.9, 0.75, 0.3, 0.6))


def zip_of(files: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buffer.getvalue()


def exported(path: Path) -> dict[str, bytes]:
    """A run's files as its exported zip holds them."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(archive.export_run(runs.read_run(path)))) as z:
        return {name: z.read(name) for name in z.namelist()}


def with_record(files: dict[str, bytes], **changes) -> dict[str, bytes]:
    record = {**json.loads(files[runs.RUN_FILE]), **changes}
    return {**files, runs.RUN_FILE: json.dumps(record).encode()}
