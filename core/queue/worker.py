"""Training workers: processes apart from the web server that take jobs from the queue and train them.

`run_job` is the whole job (config in, run folder out), the same here and on a Ray node. `serve` is a worker's
life (one slot of core.system.supervisor), `ensure_workers` starts the slots nobody serves (one per GPU by default)
or, with a Ray address, the dispatcher (core.queue.cluster) instead, and `submit` queues jobs and makes sure
someone will train them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.data import datasets
from core.queue import jobs
from core.queue.policy import OPEN, Policy, PolicyError
from core.queue.queue import Queue
from core.storage import runs
from core.system import supervisor
from core.system.files import write_json
from core.system.processes import pid_alive
from core.training import checkpoint
from core.training.callbacks import BaseListener
from core.training.device import environment, gpu_names
from core.training.gate import GatedListener
from core.training.lr_finder import find_learning_rate
from core.training.resume import resume
from core.training.trainer import train

POLL_S = 0.5
IDLE_EXIT_S = 3600  # a worker nobody uses goes away; the dashboard starts a new one on demand
# Workers started by the dashboard run at a lower CPU priority than the web server, so that pages keep
# answering while a job trains on the same CPUs (docs/load-test.md); an idle CPU still goes to training.
NICENESS = 10
DISPATCHER_LOCK = "ray-dispatcher"  # one dispatcher per runs folder, like one worker per slot


def run_job(spec: jobs.JobSpec | dict, should_stop=lambda: False, listener=None, gate: Path | None = None) -> str:
    """The whole job: config in, run folder out. Takes the spec as plain JSON too, for a Ray task.

    A job that asks to resume continues its run from the checkpoint. A job whose run folder exists already
    was started before by a worker that died: it continues from the checkpoint, or, if it died before its
    first epoch ended, starts over in the same folder. An epoch gate (core.training.gate) holds it between epochs."""
    spec = spec if isinstance(spec, jobs.JobSpec) else jobs.JobSpec.from_dict(spec)
    if gate is not None:
        listener = GatedListener(listener or BaseListener(), gate, should_stop)
    if spec.lr_find:
        return str(_lr_find(spec, should_stop))
    run_dir = spec.run_dir
    if not spec.resume and run_dir.is_dir() and runs.read_run(run_dir).has_results:
        return str(run_dir)  # its worker died after the run was saved, before the queue heard of it
    if spec.resume or checkpoint.exists(run_dir):
        return str(resume(run_dir, epochs=spec.epochs, data_dir=spec.data_dir, listener=listener, should_stop=should_stop))
    if run_dir.is_dir():
        shutil.rmtree(run_dir)  # nothing to keep: not one epoch was finished
    return str(train(spec.config, spec.runs_dir, spec.labels, run_id=spec.run_id, data_dir=spec.data_dir,
                     listener=listener, should_stop=should_stop))


def _lr_find(spec: jobs.JobSpec, should_stop) -> Path:
    """A learning-rate range test: its curve and suggestion as JSON, for the Train page's chart."""
    result = find_learning_rate(spec.config, datasets.load(spec.config.dataset, spec.data_dir), should_stop=should_stop)
    target = jobs.lr_find_file(spec.runs_dir, spec.run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_json(target, result.to_dict())
    return target


def serve(runs_dir=runs.DEFAULT_RUNS_DIR, slot: int = 0, idle_exit_s: float = IDLE_EXIT_S, max_jobs: int | None = None,
          parent_pid: int | None = None, policy: Policy = OPEN, gate: Path | None = None) -> int:
    """Serve the queue of `runs_dir` (under the class's `policy`) as worker `slot` until idle for idle_exit_s (or
    max_jobs done), or, once idle, until the server that started it (`parent_pid`) is gone. Returns the number of
    jobs run (0 if another process serves this slot)."""
    queue = Queue(runs_dir, policy)

    def step() -> bool:
        queue.reap()
        job = queue.claim()
        if job is None:
            return False
        _run_claimed(queue, job, gate)
        return True

    done = supervisor.serve(runs_dir, f"slot-{slot}", lambda: step, idle_exit_s=idle_exit_s, poll_s=POLL_S,
                            parent_pid=parent_pid, max_steps=max_jobs,
                            info=(f"slot-{slot}.json", lambda: {"slot": slot, "pid": os.getpid(), "started": runs.now_iso(),
                                                                 "environment": environment()}))
    if done is None:
        print(f"worker slot {slot} is already served by another process", file=sys.stderr)
    return done or 0


def _run_claimed(queue: Queue, job: jobs.Job, gate: Path | None = None) -> None:
    last_check = [0.0, False]

    def should_stop() -> bool:  # the database is asked at most twice a second
        now = time.monotonic()
        if now - last_check[0] > POLL_S:
            last_check[:] = [now, queue.cancel_requested(job.id)]
        return last_check[1]

    try:
        made = Path(run_job(job.spec, should_stop, gate=gate))
        if job.spec.lr_find:
            queue.finish(job.id, "cancelled" if should_stop() else "completed")
            return
        run = runs.read_run(made)
        queue.finish(job.id, run.status if run.has_results else "failed")
    except Exception as e:  # recorded in the run by train(); the queue goes on to the next job
        queue.finish(job.id, "failed", job_error(e))


def job_error(error: Exception) -> str:
    """Why a job failed, for the queue: a run's own message as it is, anything else with its kind."""
    return str(error) if isinstance(error, runs.RunError) else f"{type(error).__name__}: {error}"


def default_slots() -> int:
    """One job at a time per GPU, and one on a CPU-only machine (Settings.workers overrides it)."""
    return max(1, len(gpu_names()))


def ensure_workers(runs_dir=runs.DEFAULT_RUNS_DIR, slots: int | None = None, ray_address: str | None = None) -> list[int]:
    """Start a worker for every slot nobody serves (a live worker left by an earlier server is reused); returns
    the slots started. The workers end with this process when it exits normally, and when idle after a crash.
    With a Ray address, one dispatcher to that Ray cluster (core.queue.cluster) instead, as slot 0."""
    folder = str(Path(runs_dir).resolve())
    if ray_address:
        started = supervisor.ensure_helper(runs_dir, DISPATCHER_LOCK, ["worker", "--runs-dir", folder, "--ray", ray_address,
                                                                        "--nice", str(NICENESS)])
        return [0] if started else []
    slots = default_slots() if slots is None else slots
    return [slot for slot in range(slots) if supervisor.ensure_helper(runs_dir, f"slot-{slot}", [
        "worker", "--runs-dir", folder, "--slot", str(slot), "--nice", str(NICENESS)])]


@dataclass
class Submitted:
    """What `submit` queued: the jobs' ids, and why the next one was refused (None if none was)."""

    ids: list[int]
    refused: Exception | None = None


def submit(queue: Queue, specs: list[jobs.JobSpec], owner: str, actor=None, *, slots: int | None = None,
           ray_address: str | None = None) -> Submitted:
    """Queue `specs` for `owner` in order, each admitted by the queue's policy, until one is refused (PolicyError,
    RunError); then make sure workers will train what was queued."""
    submitted = Submitted([])
    for spec in specs:
        try:
            submitted.ids.append(queue.submit(spec, owner, actor))
        except (PolicyError, runs.RunError) as e:
            submitted.refused = e
            break
    if submitted.ids:
        ensure_workers(queue.runs_dir, slots, ray_address)
    return submitted


def summary(published: list[dict]) -> tuple[str, str]:
    """Home's heading and line for the live workers: local workers publish their Keras, the Ray dispatcher its
    cluster (core.queue.cluster) and no Keras, since it imports none."""
    env = published[0]["environment"]
    if "ray" in env:
        return env["device"], f"Jobs go to the Ray cluster with the **{env['backend']}** backend, one task per run"
    count = f"{len(published)} training worker{'s' if len(published) > 1 else ''} ready"
    return env["device"], f"Keras {env.get('keras', '')} with the **{env['backend']}** backend · {count}"


def worker_status(runs_dir=runs.DEFAULT_RUNS_DIR) -> list[dict]:
    """What each live worker published about itself (backend, device)."""
    folder = Path(runs_dir) / supervisor.WORKERS_DIR
    out = []
    for info in sorted(folder.glob("slot-*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(info.read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(record.get("pid")):
            out.append(record)
    return out


