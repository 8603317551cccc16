"""core.queue.worker: a job in, a run folder out; a worker serving the queue end to end."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.networks import presets
from core.queue import jobs, turns, worker
from core.queue.queue import Queue
from core.storage import listing, runs
from core.system import supervisor
from core.training.device import gpu_names

PRESET = "fmnist-arch1-tr1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def tiny_job(runs_dir, data_dir, name="queued", **changes):
    config = presets.get(PRESET).config.replace(**{"epochs": 1, "limit": 300, **changes})
    return jobs.make_job(config, runs_dir, name=name, preset=PRESET, data_dir=data_dir)


@pytest.mark.backend
def test_run_job_makes_a_completed_run(tmp_path, fashion_dir):
    spec = tiny_job(tmp_path, fashion_dir)
    run_dir = worker.run_job(spec)
    assert run_dir == str(tmp_path.resolve() / spec.run_id)
    run = runs.read_run(run_dir)
    assert run.status == "completed" and run.name == "queued" and run.record["preset"] == PRESET
    assert run.record["data"]["source"] == f"data directory {fashion_dir}"
    assert run.metrics()["n_test"] == 100


@pytest.mark.backend
def test_a_job_whose_worker_died_while_writing_the_first_checkpoint_starts_over(tmp_path, fashion_dir):
    from core.training import checkpoint

    spec = tiny_job(tmp_path, fashion_dir)
    checkpoint.folder(spec.run_dir).mkdir(parents=True)  # what such a death leaves: the folder, no state.json
    (checkpoint.folder(spec.run_dir) / "epoch-0001.npz").write_bytes(b"cut off")
    run = runs.read_run(worker.run_job(spec))
    assert run.status == "completed" and run.record["epochs_trained"] == 1


@pytest.mark.backend
def test_serve_runs_queued_jobs_end_to_end(tmp_path, fashion_dir):
    queue = Queue(tmp_path)
    broken = queue.submit(tiny_job(tmp_path, tmp_path / "no-data-here", name="no data"), "me")
    good = queue.submit(tiny_job(tmp_path, fashion_dir, name="good"), "me")
    assert worker.serve(tmp_path, slot=0, idle_exit_s=5, max_jobs=2) == 2
    assert queue.get(broken).status == "failed" and "no-data-here does not exist" in queue.get(broken).error
    assert queue.get(good).status == "completed"
    statuses = {r.name: r.status for r in listing.list_runs(tmp_path, pretrained_dir=None)}
    assert statuses == {"no data": "failed", "good": "completed"}
    assert worker.worker_status(tmp_path) == []  # the slot's info file is gone with the worker


def test_serve_cancels_a_job_flagged_before_it_starts(tmp_path, fashion_dir, monkeypatch):
    """A cancel request reaches the job's should_stop; the queue then says how the run ended."""
    queue = Queue(tmp_path)
    a = queue.submit(tiny_job(tmp_path, fashion_dir), "me")
    seen = {}

    def fake_job_steps(spec, should_stop=lambda: False, gate=None, clock=None):
        seen["before"] = should_stop()
        queue.cancel(a)  # while running: only the flag is set
        seen["queue"] = queue.get(a).status
        monkeypatch.setattr(turns, "POLL_S", -1.0)  # ask the database again at once
        seen["after"] = should_stop()
        path = runs.create_run(spec.runs_dir, spec.config.to_dict(), runs.RunLabels(spec.name), {}, spec.run_id)
        runs.update_record(path, status="cancelled")
        yield
        return path

    monkeypatch.setattr(worker, "job_steps", fake_job_steps)
    assert worker.serve(tmp_path, idle_exit_s=5, max_jobs=1) == 1
    assert seen == {"before": False, "queue": "running", "after": True}
    assert queue.get(a).status == "cancelled"


def test_serve_refuses_a_slot_already_served(tmp_path, capsys):
    held = supervisor.hold_lock(tmp_path, "slot-3")
    try:
        assert worker.serve(tmp_path, slot=3, idle_exit_s=0, max_jobs=1) == 0
        assert "already served by another process" in capsys.readouterr().err
    finally:
        held.close()


def test_idle_worker_exits(tmp_path):
    assert worker.serve(tmp_path, slot=1, idle_exit_s=0.2) == 0
    assert supervisor.hold_lock(tmp_path, "slot-1") is not None  # lock released


def test_a_worker_per_gpu_or_per_core_each_core_with_threads_of_its_own(monkeypatch):
    import os
    import subprocess

    def gpus(answer):
        monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, answer, ""))

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    gpus("GPU 0: NVIDIA H200 (UUID: a)\nGPU 1: NVIDIA H200 (UUID: b)\n")
    assert worker.default_slots() == 2 and worker.threads_per_worker(2, gpu_names()) == 0  # TensorFlow's choice
    gpus("")
    assert worker.default_slots() == 4
    assert [worker.threads_per_worker(slots, gpu_names()) for slots in (4, 2, 1, 8)] == [1, 2, 4, 1]


def test_a_learning_rate_finder_job_writes_its_curve_and_makes_no_run(tmp_path, fashion_dir):
    import json

    config = presets.get(PRESET).config.replace(limit=300, label_smoothing=0.1)
    queue = Queue(tmp_path)
    spec = jobs.make_lr_find_job(config, tmp_path, data_dir=fashion_dir)
    job_id = queue.submit(spec, "me")
    assert worker.serve(tmp_path, slot=0, idle_exit_s=5, max_jobs=1) == 1
    assert queue.get(job_id).status == "completed"
    result = json.loads(jobs.lr_find_file(tmp_path, spec.run_id).read_text())
    rates = result["learning_rates"]
    assert rates == sorted(rates) and rates[0] < 1e-5 and len(rates) == len(result["losses"]) > 20
    assert listing.list_runs(tmp_path, pretrained_dir=None) == []


def test_a_worker_sets_its_threads_and_takes_its_slot_before_importing_tensorflow(tmp_path):
    """The page that starts a worker waits until the worker holds its slot (core.system.supervisor): the threads are
    set through TensorFlow's environment variables, so that wait is not TensorFlow's 10-second import."""
    code = """
import os, sys
from core.queue import worker
from core.cli.main import main
def serve(*args, **kwargs):
    print("tensorflow" in sys.modules, os.environ.get("TF_NUM_INTRAOP_THREADS"), os.environ.get("TF_NUM_INTEROP_THREADS"))
worker.serve = serve
main(["worker", "--runs-dir", sys.argv[1], "--threads", "1"])
"""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "1", "1"]
