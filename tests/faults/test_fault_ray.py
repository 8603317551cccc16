"""The queue on a real Ray cluster, and a node killed mid-job (core.queue.cluster, docs/cluster.md).

A head and a second node on loopback, one CPU each (tools/ray_cluster.py), started without this project on
their Python path: `core` reaches them from the dispatcher, as it would reach classroom machines. The real
dispatcher (`python -m core worker --ray`) serves tiny Fashion-MNIST jobs; the test watches what a class would
see in the server's run folders and queue (no shared folder with the nodes is used for that: the nodes train
in temporary folders of their own), stops one job, SIGKILLs the other's node, and checks that the killed job
continues on the node that is left from its last relayed checkpoint. The long jobs are held after their second epoch
by an epoch gate (core.training.gate) until the test lets them go, so the order of events does not depend on how
fast the machine is. Skipped only where Ray cannot start.
One test: a cluster takes a while to start, and xdist may split a module's tests between processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from fault_helpers import PRESET, PROJECT_ROOT, PYTHON, child_env, epoch_gate, job_ends, tiny_job, wait_for

from core.queue import jobs
from core.queue.queue import Queue
from core.storage import runs
from core.training import checkpoint

TIMEOUT_S = 420  # each node imports TensorFlow before its first job: slow on a busy 2-core machine
HELD_AT = 2  # the long jobs wait after this many epochs until the test lets them go
LONG = dict(epochs=6, limit=0)


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements.txt)")
    from tools.ray_cluster import LocalCluster

    env = {k: v for k, v in child_env().items() if k not in ("PYTHONPATH", "CLASSROOM_DATA_DIR")}
    env["KERAS_HOME"] = tempfile.mkdtemp(prefix="keras-home-")  # no cached datasets on the nodes
    try:
        local = LocalCluster(nodes=2, cpus=1, env=env)
    except RuntimeError as e:
        pytest.skip(f"Ray cannot start on this machine: {e}")
    yield local
    local.stop()


def node_ip(run_dir: Path) -> str | None:
    return ((runs.open_live(run_dir).record.get("worker") or {}).get("ray_node") or {}).get("ip")


def relayed_epochs(run_dir: Path) -> int:
    try:
        return (checkpoint.describe(run_dir) or {}).get("epoch", 0)
    except checkpoint.CheckpointError:
        return 0


def test_jobs_train_on_the_cluster_show_live_stop_and_survive_a_killed_node(tmp_path, fashion_dir, cluster, workers):
    runs_dir = tmp_path / "runs"
    queue = Queue(runs_dir)
    specs = {name: tiny_job(runs_dir, fashion_dir, name, **LONG) for name in ("first", "second")}
    specs["short"] = tiny_job(runs_dir, fashion_dir, "short")
    specs["too small"] = tiny_job(runs_dir, fashion_dir, "too small", limit=1)
    specs["finder"] = jobs.make_lr_find_job(specs["short"].config, runs_dir, data_dir=fashion_dir)  # a file, not a run
    ids = {name: queue.submit(spec, "class") for name, spec in specs.items()}
    gate = epoch_gate(tmp_path / "epoch-gate", HELD_AT)
    dispatcher = workers.popen([PYTHON, "-m", "core", "worker", "--runs-dir", runs_dir, "--ray", cluster.address],
                               env=child_env(CLASSROOM_EPOCH_GATE=str(gate)),
                               stdout=open(tmp_path / "dispatcher.log", "wb"), stderr=subprocess.STDOUT)
    alive = lambda: dispatcher.poll() is None  # noqa: E731

    def status(name: str) -> str:
        return queue.get(ids[name]).status

    # Two nodes of one CPU: two jobs in flight, the others wait in the queue in order.
    wait_for(lambda: status("first") == status("second") == "running", TIMEOUT_S, "two jobs in flight", alive=alive)
    assert status("short") == status("too small") == status("finder") == "queued" and queue.position(ids["short"]) == 2

    # Live, in the server's run folders: the node each job trains on, batches and epochs as they go, checkpoints.
    long_dirs = [specs["first"].run_dir, specs["second"].run_dir]
    wait_for(lambda: all(relayed_epochs(d) == HELD_AT for d in long_dirs), TIMEOUT_S, "two relayed checkpoints each",
             alive=alive)
    on_node = {node_ip(d): d for d in long_dirs}
    assert set(on_node) == {cluster.node_ip(0), cluster.node_ip(1)}, "one job on each node"
    progress = runs.open_live(long_dirs[0]).progress()
    assert progress["epochs"] == LONG["epochs"] and progress["steps"] > 0 and len(runs.open_live(long_dirs[0]).history()) >= 2
    assert runs.open_live(long_dirs[0]).record["environment"]["host"]  # the node's hardware, recorded by the node
    assert status("short") == "queued", "no third job while both nodes are busy"
    assert status("first") == status("second") == "running", "held at the gate, not finished"

    # Stop the job on the head; kill the other node, as a machine that loses power.
    stopped, doomed = on_node[cluster.node_ip(0)], on_node[cluster.node_ip(1)]
    stopped_id, doomed_id = (next(ids[n] for n, s in specs.items() if s.run_dir == d) for d in (stopped, doomed))
    queue.cancel(stopped_id)
    cluster.kill(1)
    killed_at = relayed_epochs(doomed)

    job_ends(queue, stopped_id, "cancelled", TIMEOUT_S, alive=alive)
    stopped_run = runs.read_run(stopped)  # tested as it was when Stop reached it
    assert stopped_run.status == "cancelled" and stopped_run.has_results and (stopped / runs.MODEL_FILE).is_file()
    assert stopped_run.record["epochs_trained"] < LONG["epochs"]

    # The killed job: back in the queue with the reason, then resumed on the node that is left, once the gate opens.
    requeued = wait_for(lambda: (j := queue.get(doomed_id)).error and j, TIMEOUT_S, "the killed job's reason", alive=alive,
                        hopeless=lambda: queue.get(doomed_id).status not in ("running", "queued") and "it ended first")
    epoch_gate(gate, None)
    assert f"its Ray node {cluster.node_ip(1)} died" in requeued.error and f"attempt 2 of {jobs.MAX_ATTEMPTS}" in requeued.error
    wait_for(lambda: all(not queue.get(i).active for i in ids.values()), TIMEOUT_S, "every job to end", alive=alive)
    resumed = runs.read_run(doomed)
    assert resumed.status == "completed" and queue.get(doomed_id).status == "completed", (
        f"{queue.get(doomed_id).error}\n{(tmp_path / 'dispatcher.log').read_text()[-4000:]}")
    assert node_ip(doomed) == cluster.node_ip(0)
    first, second = resumed.record["segments"]
    assert first["status"] == "failed" and second["from_epoch"] == killed_at == HELD_AT and second["to_epoch"] == LONG["epochs"]
    assert len(resumed.history()) == LONG["epochs"]

    # The rest of the queue went on, one job at a time on the node left; a failure says why.
    assert status("short") == "completed" and runs.read_run(specs["short"].run_dir).metrics()["n_test"] == 100
    assert status("too small") == "failed" and "too few training images" in queue.get(ids["too small"]).error
    assert runs.read_run(specs["too small"].run_dir).status == "failed"
    assert status("finder") == "completed" and not specs["finder"].run_dir.exists()
    finder = json.loads(jobs.lr_find_file(runs_dir, specs["finder"].run_id).read_text())
    assert finder["stop_reason"] in ("finished", "diverged") and len(finder["losses"]) > 10
    assert not any(p.name.startswith(".ray-") for p in runs_dir.iterdir()), "no staging folder left behind"
    info = json.loads((runs_dir / ".workers" / "slot-ray.json").read_text())
    assert info["pid"] == dispatcher.pid and "Ray cluster" in info["environment"]["device"]

    # `train --ray`: the same, without the queue, printing the run folder last.
    done = subprocess.run([PYTHON, "-m", "core", "train", "--preset", PRESET, "--limit", "300", "--epochs", "2", "--data-dir",
                           fashion_dir, "--runs-dir", tmp_path / "cli", "--ray", cluster.address], cwd=PROJECT_ROOT,
                          env=child_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert f"completed on {os.uname().nodename} ({cluster.node_ip(0)})" in done.stdout and "epoch 2/2" in done.stdout
    assert runs.read_run(lines[-1]).status == "completed" and lines[-1].startswith(str(tmp_path / "cli"))
