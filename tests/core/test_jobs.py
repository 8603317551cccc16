"""core.queue.jobs: the SQLite training queue (no Keras needed)."""

import os
import sqlite3
import subprocess

import pytest

from core.networks.config import TrainConfig
from core.queue import jobs, worker
from core.queue.queue import QUEUE_FILE, Queue
from core.storage import runs


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def queue(tmp_path):
    return Queue(tmp_path / "runs")


def job(queue, name="job", **config):
    return jobs.make_job(TrainConfig(epochs=1, **config), queue.runs_dir, name=name, data_dir="/data")


def test_a_job_spec_is_plain_json_both_ways(tmp_path):
    import json

    spec = jobs.make_job(TrainConfig(epochs=2), tmp_path, name=" mine ", preset="fmnist-arch1-tr1")
    assert spec.config.epochs == 2 and spec.name == "mine" and spec.preset == "fmnist-arch1-tr1"
    assert spec.runs_dir == str(tmp_path.resolve()) and spec.data_dir is None and runs.RUN_ID_PATTERN.match(spec.run_id)
    plain = json.loads(json.dumps(spec.to_dict()))
    assert plain["config"]["epochs"] == 2 and jobs.JobSpec.from_dict(plain) == spec
    assert spec.run_dir == tmp_path.resolve() / spec.run_id
    with pytest.raises(runs.RunError):
        jobs.make_job(TrainConfig(), tmp_path, name="a/b")


def test_a_job_whose_stored_settings_this_version_cannot_read_is_failed_not_run(queue):
    import json

    bad = queue.submit(job(queue), "me")
    good = queue.submit(job(queue), "me")
    with sqlite3.connect(queue.path) as db:
        stored = json.loads(db.execute("SELECT spec FROM jobs WHERE id = ?", (bad,)).fetchone()[0])
        stored["config"]["dropout"] = 7
        db.execute("UPDATE jobs SET spec = ? WHERE id = ?", (json.dumps(stored), bad))
    listed = queue.get(bad)
    assert listed.spec is None and "dropout" in listed.problem and listed.name == listed.run_id
    assert queue.claim().id == good
    assert queue.get(bad).status == "failed" and "cannot be read" in queue.get(bad).error


def test_submit_claim_in_order_with_positions(queue):
    ids = [queue.submit(job(queue, f"j{i}"), owner="alice" if i != 1 else "bob") for i in range(3)]
    assert [queue.position(i) for i in ids] == [0, 1, 2]
    assert [j.spec.name for j in queue.jobs(owner="alice")] == ["j0", "j2"]
    first = queue.claim()
    assert first.id == ids[0] and first.status == "running" and first.worker_pid == os.getpid()
    assert first.spec.name == "j0"
    assert [queue.position(i) for i in ids] == [0, 1, 2]  # the running job is ahead of both
    queue.finish(ids[0], "completed")
    assert [queue.position(i) for i in ids] == [0, 0, 1]
    assert queue.claim().id == ids[1]
    assert queue.claim().id == ids[2]
    assert queue.claim() is None
    assert queue.get(ids[0]).status == "completed" and queue.get(9999) is None
    assert [j.id for j in queue.jobs(active_only=True)] == ids[1:]


def test_cancel_queued_job_at_once(queue):
    a, b = queue.submit(job(queue), "me"), queue.submit(job(queue), "me")
    queue.cancel(a)
    assert queue.get(a).status == "cancelled" and queue.get(a).finished
    assert queue.position(b) == 0
    assert queue.claim().id == b  # the cancelled one is skipped


def test_cancel_running_job_sets_the_flag(queue):
    a = queue.submit(job(queue), "me")
    queue.claim()
    assert not queue.cancel_requested(a)
    queue.cancel(a)
    assert queue.cancel_requested(a) and queue.get(a).status == "running"
    queue.finish(a, "cancelled")
    assert queue.get(a).status == "cancelled"
    queue.cancel(a)  # cancelling a finished job changes nothing
    assert queue.get(a).status == "cancelled"


def _set_worker_pid(queue, job_id, pid):
    with sqlite3.connect(queue.path) as db:
        db.execute("UPDATE jobs SET worker_pid = ? WHERE id = ?", (pid, job_id))


def test_reap_puts_a_dead_workers_job_back_first_in_line_and_fails_it_after_three_starts(queue):
    spec = job(queue)
    a = queue.submit(spec, "me")
    b = queue.submit(job(queue), "me")
    queue.claim()
    run_dir = runs.create_run(queue.runs_dir, spec.config.to_dict(), runs.RunLabels(spec.name), {}, spec.run_id)
    later = queue.submit(job(queue), "you")
    for attempt in range(1, jobs.MAX_ATTEMPTS):
        _set_worker_pid(queue, a, dead_pid())
        assert queue.reap() == [a]
        requeued = queue.get(a)
        assert requeued.status == "queued" and requeued.attempts == attempt
        assert "stopped unexpectedly" in requeued.error and f"attempt {attempt + 1} of 3" in requeued.error
        assert queue.position(a) == 0 or queue.position(a) < queue.position(later)
        record = runs.read_run(run_dir).record
        assert record["status"] == "failed" and "continues from its last completed epoch" in record["error"]
        assert queue.claim().id == a  # the next worker takes it before the jobs queued after it
    _set_worker_pid(queue, a, dead_pid())
    assert queue.reap() == [a]
    failed = queue.get(a)
    assert failed.status == "failed" and failed.attempts == 3 and "3 times" in failed.error and failed.finished
    assert runs.read_run(run_dir).record["error"] == failed.error
    assert queue.get(b).status == "queued" and queue.reap() == []


def test_reap_of_a_job_that_died_before_making_its_run_folder_requeues_the_job_alone(queue):
    a = queue.submit(job(queue), "me")
    queue.claim()
    _set_worker_pid(queue, a, dead_pid())
    assert queue.reap() == [a] and queue.get(a).status == "queued"
    assert not (queue.runs_dir / queue.get(a).run_id).exists()


def test_a_queue_made_before_resumable_jobs_is_migrated_with_its_jobs(tmp_path):
    old_schema = """CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL,
        run_id TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, status TEXT NOT NULL,
        cancel_requested INTEGER NOT NULL DEFAULT 0, worker_host TEXT, worker_pid INTEGER, error TEXT,
        created REAL NOT NULL, started REAL, finished REAL);
        CREATE INDEX jobs_status ON jobs(status, id);"""
    tmp_path.mkdir(exist_ok=True)
    with sqlite3.connect(tmp_path / QUEUE_FILE) as db:
        db.executescript(old_schema)
        db.execute("INSERT INTO jobs(owner, run_id, spec, status, created) VALUES ('ann', 'r1', '{}', 'queued', 1.0)")
    queue = Queue(tmp_path)
    (old,) = queue.jobs()
    assert (old.owner, old.run_id, old.status, old.attempts, old.spec) == ("ann", "r1", "queued", 0, None)
    queue.cancel(old.id)
    queue.submit(jobs.JobSpec(TrainConfig(), "again", "r1", str(tmp_path), resume=True), "ann")  # the same run again
    assert [j.run_id for j in Queue(tmp_path).jobs()] == ["r1", "r1"]


def test_reap_leaves_finished_runs_alone(queue, fake_run):
    spec = job(queue)
    a = queue.submit(spec, "me")
    queue.claim()
    path = fake_run(queue.runs_dir)
    path.rename(queue.runs_dir / spec.run_id)
    _set_worker_pid(queue, a, dead_pid())
    assert queue.reap() == [a]
    assert runs.read_run(queue.runs_dir / spec.run_id).status == "completed"
    assert worker.run_job(queue.claim().spec) == str(queue.runs_dir / spec.run_id)  # nothing to train again


def test_a_worker_holding_more_jobs_leaves_the_next_to_another_that_is_taking_jobs(queue):
    """Workers taking turns side by side (claim with share): one holding more running jobs than another worker that
    took one within SHARE_WAIT_S leaves the job to it; a worker that took nothing for that long holds up no one."""
    import time

    from core.queue.queue import SHARE_WAIT_S

    ids = [queue.submit(job(queue, f"student {i}"), f"student {i}") for i in range(5)]
    other = os.getppid()  # a live process of this host: the other worker

    def other_took(job_id, seconds_ago):
        with sqlite3.connect(queue.path) as db:
            db.execute("UPDATE jobs SET status = 'running', worker_pid = ?, worker_host = ?, started = ? WHERE id = ?",
                       (other, queue.get(ids[0]).worker_host, time.time() - seconds_ago, job_id))

    assert queue.claim(share=True).id == ids[0]  # nobody else holds any
    other_took(ids[1], 0)
    assert queue.claim(share=True).id == ids[2]  # one each: this worker holds no more than the other
    assert queue.claim(share=True) is None  # two against one: left to the other worker
    assert queue.claim().id == ids[3]  # without share, the oldest job is taken as before
    other_took(ids[1], SHARE_WAIT_S + 1)  # the other has taken nothing since (inside a long compiled call, say)
    assert queue.claim(share=True).id == ids[4]
    assert [queue.get(i).worker_pid for i in ids] == [os.getpid(), other, os.getpid(), os.getpid(), os.getpid()]


def test_two_queues_share_one_database(tmp_path):
    q1, q2 = Queue(tmp_path), Queue(tmp_path)
    a = q1.submit(job(q1), "me")
    assert q2.claim().id == a and q1.claim() is None
