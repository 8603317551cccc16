"""Training workers: processes apart from the web server that take jobs from the queue and train them.

`run_job` is the whole job (config in, run folder out), the same here and on a Ray node. `serve` is a worker's
life (one slot of core.system.supervisor), `ensure_workers` starts the slots nobody serves (by default one per GPU,
else one per core) or, with a Ray address, the dispatcher (core.queue.cluster) instead, and `submit` queues jobs and
makes sure someone will train them.
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
from core.queue.turns import MAX_ACTIVE, Turns
from core.storage import runs
from core.system import supervisor
from core.system.files import write_json
from core.system.processes import pid_alive
from core.training import checkpoint
from core.training.device import environment, gpu_names
from core.training.gate import hold as gate_hold
from core.training.lr_finder import find_learning_rate
from core.training.resume import resuming_steps
from core.training.trainer import Pace, Steps, drive, training_steps

POLL_S = 0.5
IDLE_EXIT_S = 3600  # a worker nobody uses goes away; the dashboard starts a new one on demand
# Workers started by the dashboard run at a lower CPU priority than the web server, so that pages keep
# answering while a job trains on the same CPUs (docs/load-test.md); an idle CPU still goes to training.
NICENESS = 10
DISPATCHER_LOCK = "ray-dispatcher"  # one dispatcher per runs folder, like one worker per slot


def run_job(spec: jobs.JobSpec | dict, should_stop=lambda: False, listener=None, gate: Path | None = None) -> str:
    """The whole job: config in, run folder out. Takes the spec as plain JSON too, for a Ray task."""
    return str(drive(job_steps(spec, should_stop, listener, gate)))


def job_steps(spec: jobs.JobSpec | dict, should_stop=lambda: False, listener=None, gate: Path | None = None,
              clock=time.monotonic) -> Steps:
    """The whole job a step at a time (a worker interleaves several): config in, run folder out.

    A job that asks to resume continues its run from the checkpoint. A job whose run folder exists already
    was started before by a worker that died: it continues from the checkpoint, or, if it died before its
    first epoch ended, starts over in the same folder. An epoch gate (core.training.gate) holds it between epochs;
    `clock` times it (its own time, when it takes turns)."""
    spec = spec if isinstance(spec, jobs.JobSpec) else jobs.JobSpec.from_dict(spec)
    if spec.lr_find:
        return _lr_find(spec, should_stop)
    run_dir = spec.run_dir
    if not spec.resume and run_dir.is_dir() and runs.read_run(run_dir).has_results:
        return run_dir  # its worker died after the run was saved, before the queue heard of it
    options = dict(data_dir=spec.data_dir, dataset=lambda: _dataset(spec.config.dataset, spec.data_dir), listener=listener,
                   should_stop=should_stop, pace=Pace(clock, gate_hold(gate)))
    if spec.resume or checkpoint.exists(run_dir):
        return (yield from resuming_steps(run_dir, epochs=spec.epochs, **options))
    if run_dir.is_dir():
        shutil.rmtree(run_dir)  # nothing to keep: not one epoch was finished
    return (yield from training_steps(spec.config, spec.runs_dir, spec.labels, run_id=spec.run_id, **options))


_DATASETS: dict[tuple, datasets.Dataset] = {}  # a worker loads each dataset once, not once a job


def _dataset(name: str, data_dir) -> datasets.Dataset:
    """The dataset, from this process's memory after the first job that needed it (DataError as datasets.load)."""
    key = (name, str(data_dir) if data_dir else None)
    if key not in _DATASETS:
        _DATASETS[key] = datasets.load(name, data_dir)
    return _DATASETS[key]


def _lr_find(spec: jobs.JobSpec, should_stop) -> Path:
    """A learning-rate range test: its curve and suggestion as JSON, for the Train page's chart."""
    result = find_learning_rate(spec.config, datasets.load(spec.config.dataset, spec.data_dir), should_stop=should_stop)
    target = jobs.lr_find_file(spec.runs_dir, spec.run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_json(target, result.to_dict())
    return target


def serve(runs_dir=runs.DEFAULT_RUNS_DIR, slot: int = 0, idle_exit_s: float = IDLE_EXIT_S, max_jobs: int | None = None,
          parent_pid: int | None = None, policy: Policy = OPEN, gate: Path | None = None,
          shipped_dir: Path | None = runs.PRETRAINED_DIR, max_active: int = MAX_ACTIVE) -> int:
    """Serve the queue of `runs_dir` (under the class's `policy`) as worker `slot`, every job it holds trained by
    turns (core.queue.turns), until idle for idle_exit_s (or max_jobs ended), or, once idle, until the server that
    started it (`parent_pid`) is gone. A job equal to a run finished here or in `shipped_dir` is answered by a copy.
    Returns the number of jobs that ended (0 if another process serves this slot)."""
    queue = Queue(runs_dir, policy)
    turns = Turns(queue, lambda job, should_stop, clock: job_steps(job.spec, should_stop, gate=gate, clock=clock),
                  shipped_dir=shipped_dir, max_active=max_active)

    def step() -> bool:
        queue.reap()
        turns.claim(most=1, share=True)
        return turns.turn()

    served = supervisor.serve(runs_dir, f"slot-{slot}", lambda: step, idle_exit_s=idle_exit_s, poll_s=POLL_S,
                              parent_pid=parent_pid, until=None if max_jobs is None else lambda: turns.ended >= max_jobs,
                              info=(f"slot-{slot}.json", lambda: {"slot": slot, "pid": os.getpid(),
                                                                   "started": runs.now_iso(), "environment": environment()}))
    if not served:
        print(f"worker slot {slot} is already served by another process", file=sys.stderr)
    return turns.ended


def default_slots(gpus: list[str] | None = None) -> int:
    """One worker per GPU (`gpus`, default this machine's); on a CPU-only machine one per core (Settings.workers
    overrides it). A class's networks are small: one thread trains one of them about as fast as two do, so each core
    trains jobs of its own instead of sharing every job (2.8x sooner for 30 students, docs/benchmarks.md "A class at
    once")."""
    return len(gpu_names() if gpus is None else gpus) or os.cpu_count() or 1


def threads_per_worker(slots: int, gpus: list[str]) -> int:
    """TensorFlow's CPU threads in each of `slots` workers: the cores shared out among them on a CPU-only machine (a
    worker beside others must not spread over every core), TensorFlow's own choice (0) beside GPUs."""
    if gpus:
        return 0
    return max(1, (os.cpu_count() or 1) // slots)


def ensure_workers(runs_dir=runs.DEFAULT_RUNS_DIR, slots: int | None = None, ray_address: str | None = None) -> list[int]:
    """Start a worker for every slot nobody serves (a live worker left by an earlier server is reused); returns
    the slots started. The workers end with this process when it exits normally, and when idle after a crash.
    With a Ray address, one dispatcher to that Ray cluster (core.queue.cluster) instead, as slot 0."""
    folder = str(Path(runs_dir).resolve())
    if ray_address:
        started = supervisor.ensure_helper(runs_dir, DISPATCHER_LOCK, ["worker", "--runs-dir", folder, "--ray", ray_address,
                                                                        "--nice", str(NICENESS)])
        return [0] if started else []
    gpus = gpu_names()  # asked once: nvidia-smi takes a while, and every press of Train comes here
    slots = default_slots(gpus) if slots is None else slots
    threads = threads_per_worker(slots, gpus)
    return [slot for slot in range(slots) if supervisor.ensure_helper(runs_dir, f"slot-{slot}", [
        "worker", "--runs-dir", folder, "--slot", str(slot), "--nice", str(NICENESS), "--threads", str(threads)])]


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


