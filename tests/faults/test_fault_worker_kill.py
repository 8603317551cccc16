"""Faults around the training worker: SIGKILL mid-training and mid-save, out of memory, a server restart.

Real worker processes (`python -m core worker`, started the way the dashboard starts them) train tiny
jobs on the tiny Fashion-MNIST files; the test kills them at chosen moments and checks what a class
would see: no run shown as completed that is not, the dead worker's job failed with the reason, the
queue going on with the next job, and completed runs left byte for byte as they were.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import textwrap
import time
import zipfile

from fault_helpers import PROJECT_ROOT, PYTHON, child_env, epoch_gate, folder_digest, job_ends, tiny_job, wait_for

from core.queue import worker
from core.queue.queue import Queue
from core.storage import archive, listing, runs
from core.system.processes import pid_alive
from core.training import checkpoint

JOB_TIMEOUT_S = 300  # a worker imports TensorFlow first: slow on a busy 2-core machine
EPOCHS = 6  # of the job killed mid-training, held at the gate after its second


def status_of(queue: Queue, job_id: int) -> str:
    return queue.get(job_id).status


def test_worker_killed_mid_training_is_resumed_by_the_next_worker_and_the_queue_goes_on(tmp_path, fashion_dir, workers):
    runs_dir = tmp_path / "runs"
    queue = Queue(runs_dir)
    first = tiny_job(runs_dir, fashion_dir, "finished before the kill")
    # Held after its second epoch by the gate until the kill has landed: killed after a checkpoint, mid-training.
    doomed = tiny_job(runs_dir, fashion_dir, "killed mid-training", epochs=EPOCHS)
    after = tiny_job(runs_dir, fashion_dir, "after the kill")
    ids = [queue.submit(first, "alice"), queue.submit(doomed, "bob"), queue.submit(after, "carol")]
    gate = epoch_gate(tmp_path / "epoch-gate", 2)

    # "The server": starts the worker as the Train page does, then dies with its whole process group.
    server = workers.popen([PYTHON, "-c", "import sys, time\nfrom core.queue import worker\n"
                            "worker.ensure_workers(sys.argv[1], slots=1)\ntime.sleep(600)", runs_dir],
                           env=child_env(CLASSROOM_EPOCH_GATE=str(gate)))
    pid = workers.slot_pid(runs_dir, timeout_s=JOB_TIMEOUT_S, alive=lambda: server.poll() is None)
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    assert pid_alive(pid), "the worker must outlive the web server that started it"

    job_ends(queue, ids[0], "completed", JOB_TIMEOUT_S, alive=lambda: pid_alive(pid))
    done_dir = runs_dir / first.run_id
    before = folder_digest(done_dir)
    assert set(before) >= {*runs.REQUIRED_COMPLETED, runs.MODEL_FILE}

    doomed_dir = runs_dir / doomed.run_id

    def checkpointed_epochs() -> int:
        try:
            return (checkpoint.describe(doomed_dir) or {}).get("epoch", 0)
        except checkpoint.CheckpointError:
            return 0  # read while it was being replaced

    wait_for(lambda: checkpointed_epochs() == 2, JOB_TIMEOUT_S, "the second job's second epoch", alive=lambda: pid_alive(pid),
             hopeless=lambda: not queue.get(ids[1]).active and f"the job ended {status_of(queue, ids[1])}")
    # The worker takes turns: the job after it is trained meanwhile, whatever the held one does.
    job_ends(queue, ids[2], "completed", JOB_TIMEOUT_S, alive=lambda: pid_alive(pid))
    workers.kill_worker(runs_dir, pid)
    killed_at = checkpointed_epochs()
    assert killed_at == 2

    # Nobody has reaped yet: the run already reads as failed, never as completed; the job still says running.
    listed = {r.name: r for r in listing.list_runs(runs_dir, pretrained_dir=None)}
    assert listed["killed mid-training"].status == "failed"
    assert "stopped before the run finished" in listed["killed mid-training"].record["error"]
    assert listed["finished before the kill"].status == listed["after the kill"].status == "completed"
    assert not (doomed_dir / runs.METRICS_FILE).exists() and not (doomed_dir / runs.MODEL_FILE).exists()
    assert status_of(queue, ids[1]) == "running"

    # The Train page finds no live worker and starts one (on its next poll if the dead worker's last threads
    # still hold the slot for a few ms): the new worker reaps the dead worker's job and resumes it from its
    # checkpoint.
    epoch_gate(gate, None)
    wait_for(lambda: worker.ensure_workers(runs_dir, slots=1) == [0], 10, "a new worker to take the slot", poll_s=0.2)
    second = workers.slot_pid(runs_dir, timeout_s=JOB_TIMEOUT_S, not_pid=pid)
    # The web server comes first for the CPU: a worker it starts trains at a lower priority.
    assert os.getpriority(os.PRIO_PROCESS, second) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + worker.NICENESS)
    job_ends(queue, ids[1], "completed", JOB_TIMEOUT_S, alive=lambda: pid_alive(second))

    resumed_job = queue.get(ids[1])
    assert resumed_job.status == "completed" and resumed_job.attempts == 2
    resumed = runs.read_run(doomed_dir)
    assert resumed.status == "completed" and list(resumed.history()["epoch"]) == list(range(1, EPOCHS + 1))
    segments = resumed.record["segments"]
    assert [(s["from_epoch"], s["status"]) for s in segments] == [(0, "failed"), (killed_at, "completed")]
    assert f"process {pid}" in segments[0]["error"]  # why the first segment ended
    statuses = {r.name: r.status for r in listing.list_runs(runs_dir, pretrained_dir=None)}
    assert statuses == {"finished before the kill": "completed", "killed mid-training": "completed",
                        "after the kill": "completed"}
    assert folder_digest(done_dir) == before  # not a byte of the completed run changed
    assert queue.reap() == []  # reaping again changes nothing


# A worker that runs out of memory in its first job and is killed (as the kernel's OOM killer does) while
# writing the final "completed" record of its third. Between them, a job whose dataset file is cut off.
PATCHED_WORKER = textwrap.dedent("""
    import os, signal, sys, tempfile
    from core.metrics import evaluation
    from core.queue import worker
    from core.storage import runs
    from core.system import files

    real_per_example, real_write = evaluation.per_example, files.write_atomic
    calls = []

    def out_of_memory(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("Unable to allocate 3.81 GiB for an array with shape (10000, 102400)")
        return real_per_example(*args, **kwargs)

    def killed_mid_write(path, data):
        if path.name == runs.RUN_FILE and b'"status": "completed"' in data:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.write(fd, data[: len(data) // 2])
            os.fsync(fd)
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(path, data)

    evaluation.per_example, files.write_atomic = out_of_memory, killed_mid_write
    worker.serve(sys.argv[1], slot=0, idle_exit_s=30)  # never reached idle when the kill lands
""")


def test_out_of_memory_then_killed_while_saving_never_completes_a_run(tmp_path, fashion_dir, writers, workers):
    runs_dir = tmp_path / "runs"
    cut_off = tmp_path / "cut-off-data"
    writers.fashion(cut_off, 300, 100)
    images = cut_off / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-200])  # a download that stopped early
    queue = Queue(runs_dir)
    oom, bad_data, saving = (tiny_job(runs_dir, fashion_dir, "out of memory"), tiny_job(runs_dir, cut_off, "cut-off data"),
                             tiny_job(runs_dir, fashion_dir, "killed while saving"))
    ids = [queue.submit(job, "dana") for job in (oom, bad_data, saving)]

    proc = workers.popen([PYTHON, "-c", PATCHED_WORKER, runs_dir], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=3 * JOB_TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]

    # Out of memory: the job and its run failed with the reason; the worker went on to the next jobs.
    assert queue.get(ids[0]).status == "failed" and "MemoryError: Unable to allocate" in queue.get(ids[0]).error
    oom_run = runs.read_run(runs_dir / oom.run_id)
    assert oom_run.status == "failed" and oom_run.record["error"].startswith("MemoryError")
    assert not (oom_run.path / runs.METRICS_FILE).exists()
    # A cut-off dataset file: a clear message naming the file.
    assert queue.get(ids[1]).status == "failed"
    assert "train-images-idx3-ubyte.gz" in queue.get(ids[1]).error and "DataError" in queue.get(ids[1]).error
    assert runs.read_run(runs_dir / bad_data.run_id).status == "failed"

    # Killed while saving: every result file is there and half of the final record was written...
    saving_dir = runs_dir / saving.run_id
    assert {*runs.REQUIRED_COMPLETED, runs.MODEL_FILE} <= {p.name for p in saving_dir.iterdir()}
    assert [p.name for p in saving_dir.glob(".run.json.*.tmp")], "the kill did not land mid-write"
    # ...and still the run is failed, not completed, both as listed and once reaped.
    assert json.loads((saving_dir / runs.RUN_FILE).read_text())["status"] == "running"
    listed = {r.name: r.status for r in listing.list_runs(runs_dir, pretrained_dir=None)}
    assert listed == {"out of memory": "failed", "cut-off data": "failed", "killed while saving": "failed"}
    assert queue.get(ids[2]).status == "running"
    assert queue.reap() == [ids[2]]  # back in the queue: the next worker continues it, or finds its results
    assert queue.get(ids[2]).status == "queued" and "stopped unexpectedly" in queue.get(ids[2]).error
    assert runs.read_run(saving_dir).status == "failed"
    # The half-written record is never read, and never exported.
    assert ".run.json" not in " ".join(zipfile.ZipFile(io.BytesIO(archive.export_run(runs.read_run(saving_dir)))).namelist())


def test_queue_survives_a_server_restart_and_finds_a_client_job_again(tmp_path):
    """The web server is a process like any other: kill it, start another, and each browser's job is still there."""
    runs_dir = tmp_path / "runs"
    job = tiny_job(runs_dir, None, "submitted before the restart")
    submit = textwrap.dedent("""
        import json, os, signal, sys
        from core.queue import jobs
        from core.queue.queue import Queue
        queue = Queue(sys.argv[1])
        queue.submit(jobs.JobSpec.from_dict(json.loads(sys.argv[2])), owner="browser-7f3a")
        queue.submit(jobs.JobSpec.from_dict(json.loads(sys.argv[3])), owner="browser-0000")
        os.kill(os.getpid(), signal.SIGKILL)  # the server dies without closing anything
    """)
    other = tiny_job(runs_dir, None, "someone else's")
    done = subprocess.run([PYTHON, "-c", submit, str(runs_dir), json.dumps(job.to_dict()), json.dumps(other.to_dict())],
                          cwd=PROJECT_ROOT,
                          env=child_env(), timeout=120)
    assert done.returncode == -signal.SIGKILL

    restarted = Queue(runs_dir)  # a new server process: a new Queue on the same folder
    (found,) = restarted.jobs(owner="browser-7f3a")
    assert found.spec == dataclasses.replace(job, owner="browser-7f3a") and found.status == "queued"
    assert restarted.position(found.id) == 0
    assert [j.spec.name for j in restarted.jobs(active_only=True)] == ["submitted before the restart", "someone else's"]
    claimed = Queue(runs_dir).claim()  # a worker, with yet another connection, takes it in order
    assert claimed.id == found.id and Queue(runs_dir).get(found.id).status == "running"


def test_process_killed_inside_a_queue_transaction_leaves_the_queue_working(tmp_path):
    """SIGKILL between BEGIN and COMMIT (a worker claiming, a page submitting): the half-made change is
    gone, the lock with it, and the next submit and claim go through at once."""
    runs_dir = tmp_path / "runs"
    queue = Queue(runs_dir)
    kept = queue.submit(tiny_job(runs_dir, None, "kept"), "erin")
    killed_mid_transaction = textwrap.dedent("""
        import json, os, signal, sys, time
        from core.queue.queue import Queue
        queue = Queue(sys.argv[1])
        with queue._transaction() as db:
            db.execute("UPDATE jobs SET status = 'running', worker_pid = ? WHERE status = 'queued'", (os.getpid(),))
            db.execute("INSERT INTO jobs(owner, run_id, spec, status, created) VALUES ('ghost', 'x', '{}', 'queued', 0)")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([PYTHON, "-c", killed_mid_transaction, str(runs_dir)], cwd=PROJECT_ROOT, env=child_env(), timeout=120)
    assert done.returncode == -signal.SIGKILL
    started = time.monotonic()
    assert [(j.id, j.status) for j in queue.jobs()] == [(kept, "queued")]  # nothing of it was committed
    after = queue.submit(tiny_job(runs_dir, None, "after"), "erin")
    assert queue.claim().id == kept and queue.claim().id == after
    assert time.monotonic() - started < 5  # no wait for a lock held by the dead process


SERVER = textwrap.dedent("""
    import signal, sys, time
    from core.queue import worker

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as Streamlit does: a stop is a normal exit
    worker.ensure_workers(sys.argv[1], slots=1)
    time.sleep(600)
""")


def test_a_stopped_dashboard_ends_its_worker_and_a_crashed_ones_worker_ends_once_idle(tmp_path, workers):
    runs_dir = tmp_path / "runs"
    server = workers.popen([PYTHON, "-c", SERVER, runs_dir])
    pid = workers.slot_pid(runs_dir, timeout_s=JOB_TIMEOUT_S, alive=lambda: server.poll() is None)
    server.terminate()  # Ctrl-C of `make run`, or a service manager's stop
    assert server.wait(timeout=60) == 0
    wait_for(lambda: not pid_alive(pid), 30, "the worker to end with its dashboard")

    crashed = workers.popen([PYTHON, "-c", SERVER, runs_dir])
    orphan = workers.slot_pid(runs_dir, timeout_s=JOB_TIMEOUT_S, not_pid=pid, alive=lambda: crashed.poll() is None)
    os.killpg(crashed.pid, signal.SIGKILL)  # no chance to clean up
    crashed.wait()
    wait_for(lambda: not pid_alive(orphan), 30, "the idle worker of a crashed dashboard to end")
    assert worker.worker_status(runs_dir) == []


def test_a_worker_taking_turns_killed_mid_way_loses_nothing_every_job_resumes(tmp_path, fashion_dir, workers):
    """Three students' jobs trained by turns in one worker, all held after their second epoch: SIGKILL, and a new worker
    continues each from its own checkpoint."""
    runs_dir = tmp_path / "runs"
    queue = Queue(runs_dir)
    specs = [tiny_job(runs_dir, fashion_dir, f"student {i}", epochs=EPOCHS, dropout=0.1 * i, seed=i) for i in range(3)]
    ids = [queue.submit(spec, f"student {i}") for i, spec in enumerate(specs)]
    gate = epoch_gate(tmp_path / "epoch-gate", 2)
    workers.popen([PYTHON, "-m", "core", "worker", "--runs-dir", runs_dir], env=child_env(CLASSROOM_EPOCH_GATE=str(gate)))
    pid = workers.slot_pid(runs_dir, timeout_s=JOB_TIMEOUT_S)

    def epochs_of(spec) -> int:
        try:
            return (checkpoint.describe(spec.run_dir) or {}).get("epoch", 0)
        except checkpoint.CheckpointError:
            return 0

    wait_for(lambda: all(epochs_of(s) == 2 for s in specs), JOB_TIMEOUT_S, "every job's second epoch",
             alive=lambda: pid_alive(pid),
             hopeless=lambda: next((f"job {i} ended {status_of(queue, i)}" for i in ids if not queue.get(i).active), None))
    assert {queue.get(i).worker_pid for i in ids} == {pid}  # one worker holds all three at once
    workers.kill_worker(runs_dir, pid)
    epoch_gate(gate, None)
    workers.popen([PYTHON, "-m", "core", "worker", "--runs-dir", runs_dir])
    for job_id, spec in zip(ids, specs):
        job_ends(queue, job_id, "completed", JOB_TIMEOUT_S)
        run = runs.read_run(spec.run_dir)
        assert [(s["from_epoch"], s["status"]) for s in run.record["segments"]] == [(0, "failed"), (2, "completed")]
        assert list(run.history()["epoch"]) == list(range(1, EPOCHS + 1)) and queue.get(job_id).attempts == 2
