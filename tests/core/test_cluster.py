"""core.queue.cluster without a cluster: what a job asks of Ray, run folders to and from a node, the relay, the queue's
retry, the hooks in the CLI and the dashboard, and that nothing imports Ray unless a cluster is configured.
The real cluster (two nodes, one killed) is tests/faults/test_fault_ray.py."""

import io
import json
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.networks import presets
from core.queue import cluster, jobs, ray_folders, ray_node, worker
from core.queue.queue import Queue
from core.settings import Settings
from core.storage import listing, runs
from core.system import supervisor
from core.system.files import write_json
from core.training import checkpoint
from core.training.device import gpu_names
from tools.app_server import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def config(architecture="fmnist_arch1"):
    base = presets.get("fmnist-arch1-tr1").config
    return base if architecture == "fmnist_arch1" else base.replace(architecture=architecture, dataset="cifar100")


def test_small_networks_share_a_gpu_big_ones_take_one_and_cpu_clusters_give_one_cpu():
    gpus = {"CPU": 16, "GPU": 2}
    assert cluster.resources_for(config(), gpus) == {"num_cpus": 1, "num_gpus": 0.25}
    assert cluster.resources_for(config("cifar_arch1"), gpus) == {"num_cpus": 1, "num_gpus": 1.0}
    assert cluster.resources_for(config(), {"CPU": 2}) == {"num_cpus": 1}


def test_without_the_variable_nothing_imports_ray_not_even_a_local_job(tmp_path, fashion_dir):
    code = ("import sys\nfrom core.cli import main as cli\nfrom core.networks import presets\n"
            "from core.queue import jobs, worker\n"
            "c = presets.get('fmnist-arch1-tr1').config.replace(epochs=1, limit=200)\n"
            f"worker.run_job(jobs.make_job(c, {str(tmp_path)!r}, name='local', data_dir={str(fashion_dir)!r}))\n"
            "print('ray' in sys.modules)")
    env = {"PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert [r.status for r in listing.list_runs(tmp_path, pretrained_dir=None)] == ["completed"]


def test_the_address_comes_from_the_environment():
    assert Settings.from_env({}).ray_address is None
    assert Settings.from_env({"CLASSROOM_RAY_ADDRESS": " 10.0.0.5:6379 "}).ray_address == "10.0.0.5:6379"


@pytest.mark.parametrize("argv", [["worker"], ["train", "--preset", "fmnist-arch1-tr1"]])
def test_an_unreachable_cluster_is_one_line_and_exit_status_2(run_cli, tmp_path, argv):
    address = f"127.0.0.1:{free_port()}"  # nobody listens there
    status, out, err = run_cli([*argv, "--runs-dir", tmp_path, "--ray", address])
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert f"cannot reach the Ray cluster at {address}" in err and "Traceback" not in err


@pytest.mark.parametrize("address", ["nonsense", "host:", ":6379", "host:99999"])
def test_a_malformed_address_is_named(run_cli, tmp_path, address, monkeypatch):
    monkeypatch.setenv("CLASSROOM_RAY_ADDRESS", address)  # the variable, not only the flag
    status, _, err = run_cli(["worker", "--runs-dir", tmp_path])
    assert status == 2 and f"Ray address {address!r} is not host:port" in err


def test_engine_and_ray_together_are_refused(run_cli, tmp_path):
    status, _, err = run_cli(["train", "--runs-dir", tmp_path, "--ray", "127.0.0.1:1", "--engine", "fit"])
    assert status == 2 and "--engine cannot be used with --ray" in err


def test_the_dashboard_starts_one_dispatcher_instead_of_workers_when_a_cluster_is_set(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(supervisor, "ensure_helper",
                        lambda runs_dir, name, arguments: started.append((name, arguments)) or True)
    assert worker.ensure_workers(tmp_path, slots=3, ray_address="127.0.0.1:6379") == [0]
    assert started == [(worker.DISPATCHER_LOCK, ["worker", "--runs-dir", str(tmp_path.resolve()), "--ray", "127.0.0.1:6379",
                                                  "--nice", str(worker.NICENESS)])]
    started.clear()
    assert worker.ensure_workers(tmp_path, slots=2) == [0, 1]
    assert [name for name, _ in started] == ["slot-0", "slot-1"]
    threads = str(worker.threads_per_worker(2, gpu_names()))
    assert all(arguments[arguments.index("--threads") + 1] == threads for _, arguments in started)


def test_requeue_puts_a_job_back_first_in_line_then_fails_it_after_the_last_attempt(tmp_path):
    queue = Queue(tmp_path)
    spec = jobs.make_job(config(), tmp_path, name="on a node")
    job_id = queue.submit(spec, "me")
    later = queue.submit(jobs.make_job(config(), tmp_path, name="later"), "me")
    for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
        assert queue.claim().id == job_id
        error = queue.requeue(job_id, "its Ray node 10.0.0.7 died")
        job = queue.get(job_id)
        assert job.error == error and error.startswith("its Ray node 10.0.0.7 died")
        if attempt < jobs.MAX_ATTEMPTS:
            assert job.status == "queued" and f"attempt {attempt + 1} of {jobs.MAX_ATTEMPTS}" in error
            assert queue.position(later) == 1  # the retried job stays ahead
    assert job.status == "failed" and f"{jobs.MAX_ATTEMPTS} times; the run keeps its last checkpoint" in job.error


def test_the_relay_keeps_the_latest_files_until_taken_and_answers_stop():
    relay = ray_node.Relay()
    relay.start("a", stop=False)
    assert relay.push("a", {"progress.json": b"1"}) is False
    assert relay.push("a", {"progress.json": b"2", "history.csv": b"h"}) is False
    relay.stop("a")
    assert relay.push("b", {"run.json": b"{}"}) is False and relay.push("a", {}) is True
    assert relay.take() == {"a": {"progress.json": b"2", "history.csv": b"h"}, "b": {"run.json": b"{}"}}
    assert relay.take() == {}
    relay.start("a", stop=False)  # the same run resumed later starts without the old Stop
    assert relay.push("a", {}) is False


def test_a_task_that_pushes_nothing_still_hears_stop_at_most_half_a_second_late(monkeypatch):
    relay = ray_node.Relay()  # the actor's class, called directly through a stand-in for Ray's handle
    link = ray_node._NodeLink(SimpleNamespace(get=lambda value: value), SimpleNamespace(push=SimpleNamespace(remote=relay.push)),
                             "finder", {})
    assert link.should_stop() is False
    relay.stop("finder")
    assert link.should_stop() is False  # not asked again yet
    monkeypatch.setattr(ray_node, "POLL_S", 0.0)
    assert link.should_stop() is True


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buffer.getvalue()


def test_a_run_folder_goes_out_without_its_progress_and_comes_back_in_place(tmp_path):
    run_dir = tmp_path / "20261130-120000-abcdef"
    (run_dir / "checkpoint").mkdir(parents=True)
    for name, content in {"run.json": b'{"status": "running"}', "history.csv": b"old", "progress.json": b"{}",
                          "checkpoint/epoch-0001.npz": b"old arrays", "checkpoint/state.json": b"1"}.items():
        (run_dir / name).write_bytes(content)
    shipped = zipfile.ZipFile(io.BytesIO(ray_folders.zip_folder(run_dir))).namelist()
    assert sorted(shipped) == ["checkpoint/epoch-0001.npz", "checkpoint/state.json", "history.csv", "run.json"]

    ray_folders.write_live(run_dir, {"checkpoint/epoch-0002.npz": b"new arrays", "checkpoint/state.json": b"2"})
    assert sorted(p.name for p in (run_dir / "checkpoint").iterdir()) == ["epoch-0002.npz", "state.json"]

    back = {"run.json": b'{"status": "completed"}', "history.csv": b"new", "metrics.json": b"{}"}
    ray_folders.write_final(run_dir, _zip(back))  # a finished run whose schedule ended: no checkpoint, no progress
    assert sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")) == sorted(back)
    assert json.loads((run_dir / "run.json").read_text()) == {"status": "completed"}
    assert (run_dir / "history.csv").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == [run_dir.name]  # the staging folder is gone


def test_a_rename_and_notes_made_on_the_server_while_a_node_trains_survive_its_relayed_records(tmp_path):
    run_dir = tmp_path / "20261130-120000-abcdef"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"name": "node's name", "status": "running"}))
    runs.update_record(run_dir, name="renamed here", notes="try dropout 0.5", tags=["dropout"])

    relayed = {"name": "node's name", "status": "running", "epochs_trained": 3}
    ray_folders.write_live(run_dir, {"run.json": json.dumps(relayed).encode()})
    assert json.loads((run_dir / "run.json").read_text()) == {
        "name": "renamed here", "status": "running", "epochs_trained": 3, "notes": "try dropout 0.5", "tags": ["dropout"]}

    final = {"name": "node's name", "status": "completed", "notes": "", "epochs_trained": 4}
    ray_folders.write_final(run_dir, _zip({"run.json": json.dumps(final).encode()}))
    assert json.loads((run_dir / "run.json").read_text()) == {**final, "name": "renamed here", "notes": "try dropout 0.5",
                                                                "tags": ["dropout"]}


def test_a_notes_field_cleared_on_the_server_stays_cleared_and_a_first_or_damaged_copy_takes_the_nodes_record(tmp_path):
    run_dir = tmp_path / "20261130-120000-abcdef"
    run_dir.mkdir()
    relayed = {"name": "node's name", "status": "running", "notes": "old notes", "tags": ["old"]}
    ray_folders.write_live(run_dir, {"run.json": json.dumps(relayed).encode()})  # a new run: no copy here yet
    assert json.loads((run_dir / "run.json").read_text()) == relayed
    runs.update_record(run_dir, notes="", tags=[])
    ray_folders.write_live(run_dir, {"run.json": json.dumps(relayed).encode()})
    assert json.loads((run_dir / "run.json").read_text()) == {**relayed, "notes": "", "tags": []}
    (run_dir / "run.json").write_text("{damaged")
    ray_folders.write_live(run_dir, {"run.json": json.dumps(relayed).encode()})
    assert json.loads((run_dir / "run.json").read_text()) == relayed


def test_a_relayed_record_that_is_not_json_is_written_as_it_came_and_reads_as_broken(tmp_path):
    run_dir = tmp_path / "20261130-120000-abcdef"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"name": "a run", "status": "running"}))
    ray_folders.write_live(run_dir, {"run.json": b"{not json"})
    assert (run_dir / "run.json").read_bytes() == b"{not json"
    assert "not valid JSON" in runs.read_run(run_dir).problem


def test_write_order_puts_arrays_before_their_state_and_the_record_last():
    names = ["run.json", "checkpoint/state.json", "history.csv", "checkpoint/epoch-0003.npz", "progress.json"]
    assert sorted(names, key=ray_folders._write_order) == ["checkpoint/epoch-0003.npz", "history.csv", "progress.json",
                                                       "checkpoint/state.json", "run.json"]


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/b/c.txt"])
def test_a_zip_from_a_node_cannot_write_outside_the_run_folder(tmp_path, name):
    with pytest.raises(runs.RunError, match="refused"):
        ray_folders.unzip_folder(_zip({name: b"x"}), tmp_path / "run")
    assert not (tmp_path / "escape.txt").exists()


def test_a_lost_run_reads_as_failed_with_the_reason_and_keeps_its_checkpoint_and_the_time_its_node_ran(tmp_path):
    run_dir = runs.create_run(tmp_path, config().to_dict(), runs.RunLabels("lost"), {})
    started = time.time() - 600
    segment = {"started": datetime.fromtimestamp(started, timezone.utc).isoformat(), "from_epoch": 0, "to_epoch": 0,
               "seconds": 0.0, "status": "running"}
    runs.update_record(run_dir, segments=[segment])
    write_json(run_dir / runs.PROGRESS_FILE, {"updated": started + 250})  # relayed from the node
    (run_dir / checkpoint.FOLDER).mkdir()
    cluster.mark_lost(run_dir, "its Ray node 10.0.0.7 died")
    record = json.loads((run_dir / runs.RUN_FILE).read_text())
    assert record["status"] == "failed" and record["error"] == "its Ray node 10.0.0.7 died"
    [closed] = record["segments"]
    assert closed["status"] == "failed" and closed["error"] == record["error"]
    assert closed["seconds"] == pytest.approx(250, abs=1)  # the start is stored to the second
    assert not (run_dir / runs.PROGRESS_FILE).exists() and (run_dir / checkpoint.FOLDER).is_dir()
