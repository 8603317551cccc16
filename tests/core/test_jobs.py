"""core.jobs: the SQLite training queue (no Keras needed)."""

import sqlite3
import subprocess

import pytest

from core import jobs, runs
from core.config import TrainConfig


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def queue(tmp_path):
    return jobs.Queue(tmp_path / "runs")


def job(queue, name="job", **config):
    return jobs.make_job(TrainConfig(epochs=1, **config), queue.runs_dir, name=name, data_dir="/data")


def test_make_job_is_plain_json(tmp_path):
    j = jobs.make_job(TrainConfig(epochs=2), tmp_path, name=" mine ", preset="fmnist-arch1-tr1")
    assert j["config"]["epochs"] == 2 and j["name"] == "mine" and j["preset"] == "fmnist-arch1-tr1"
    assert j["runs_dir"] == str(tmp_path.resolve()) and j["data_dir"] is None and runs.RUN_ID_PATTERN.match(j["run_id"])
    with pytest.raises(runs.RunError):
        jobs.make_job(TrainConfig(), tmp_path, name="a/b")


def test_submit_claim_in_order_with_positions(queue):
    ids = [queue.submit(job(queue, f"j{i}"), owner="alice" if i != 1 else "bob") for i in range(3)]
    assert [queue.position(i) for i in ids] == [0, 1, 2]
    assert [j["spec"]["name"] for j in queue.jobs(owner="alice")] == ["j0", "j2"]
    first = queue.claim()
    assert first["id"] == ids[0] and first["status"] == "running" and first["worker_pid"] == jobs.os.getpid()
    assert first["spec"]["name"] == "j0"
    assert [queue.position(i) for i in ids] == [0, 1, 2]  # the running job is ahead of both
    queue.finish(ids[0], "completed")
    assert [queue.position(i) for i in ids] == [0, 0, 1]
    assert queue.claim()["id"] == ids[1]
    assert queue.claim()["id"] == ids[2]
    assert queue.claim() is None
    assert queue.get(ids[0])["status"] == "completed" and queue.get(9999) is None
    assert [j["id"] for j in queue.jobs(active_only=True)] == ids[1:]


def test_cancel_queued_job_at_once(queue):
    a, b = queue.submit(job(queue), "me"), queue.submit(job(queue), "me")
    queue.cancel(a)
    assert queue.get(a)["status"] == "cancelled" and queue.get(a)["finished"]
    assert queue.position(b) == 0
    assert queue.claim()["id"] == b  # the cancelled one is skipped


def test_cancel_running_job_sets_the_flag(queue):
    a = queue.submit(job(queue), "me")
    queue.claim()
    assert not queue.cancel_requested(a)
    queue.cancel(a)
    assert queue.cancel_requested(a) and queue.get(a)["status"] == "running"
    queue.finish(a, "cancelled")
    assert queue.get(a)["status"] == "cancelled"
    queue.cancel(a)  # cancelling a finished job changes nothing
    assert queue.get(a)["status"] == "cancelled"


def _set_worker_pid(queue, job_id, pid):
    with sqlite3.connect(queue.path) as db:
        db.execute("UPDATE jobs SET worker_pid = ? WHERE id = ?", (pid, job_id))


def test_reap_marks_a_dead_worker_failed_with_its_run(queue):
    spec = job(queue)
    a = queue.submit(spec, "me")
    b = queue.submit(job(queue), "me")
    queue.claim()
    queue.claim()
    run_dir = runs.create_run(queue.runs_dir, spec["config"], spec["name"], None, {}, spec["run_id"])
    _set_worker_pid(queue, a, dead_pid())
    assert queue.reap() == [a]
    assert queue.get(a)["status"] == "failed" and "stopped unexpectedly" in queue.get(a)["error"]
    assert queue.get(b)["status"] == "running"  # its worker (this process) is alive
    record = runs.read_run(run_dir).record
    assert record["status"] == "failed" and "stopped unexpectedly" in record["error"]
    _set_worker_pid(queue, b, dead_pid())
    assert queue.reap() == [b]  # died before making its run folder: the job alone is marked
    assert queue.reap() == []


def test_reap_leaves_finished_runs_alone(queue, fake_run):
    spec = job(queue)
    a = queue.submit(spec, "me")
    queue.claim()
    path = fake_run(queue.runs_dir)
    path.rename(queue.runs_dir / spec["run_id"])
    _set_worker_pid(queue, a, dead_pid())
    assert queue.reap() == [a]
    assert runs.read_run(queue.runs_dir / spec["run_id"]).status == "completed"


def test_two_queues_share_one_database(tmp_path):
    q1, q2 = jobs.Queue(tmp_path), jobs.Queue(tmp_path)
    a = q1.submit(job(q1), "me")
    assert q2.claim()["id"] == a and q1.claim() is None
