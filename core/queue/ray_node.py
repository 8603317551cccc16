"""A job's side of a Ray cluster: the Ray task that trains one job on whichever node Ray picks (`train_on_node`,
core.queue.worker.run_job in a temporary folder there), the listener that pushes its live files to the dispatcher,
and the `Relay` actor beside the dispatcher that holds them until they are written, and answers Stop."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

from core.queue import jobs
from core.queue.jobs import job_error
from core.queue.ray_folders import unzip_folder, zip_folder
from core.queue.worker import run_job
from core.storage import runs
from core.training import checkpoint

POLL_S = 0.5


class Relay:
    """A Ray actor beside the dispatcher: the latest live files of each job, pushed by its node, until the
    dispatcher takes them; and the Stop requests, answered to each push."""

    def __init__(self):
        self.files: dict[str, dict[str, bytes]] = {}
        self.stops: set[str] = set()

    def start(self, key: str, stop: bool) -> None:
        self.files.pop(key, None)
        (self.stops.add if stop else self.stops.discard)(key)

    def push(self, key: str, files: dict[str, bytes]) -> bool:
        self.files.setdefault(key, {}).update(files)
        return key in self.stops

    def stop(self, key: str) -> None:
        self.stops.add(key)

    def take(self) -> dict[str, dict[str, bytes]]:
        taken, self.files = self.files, {}
        return taken


class _NodeLink:
    """The task's side of the relay, a core.training listener: pushes the live files (and waits for the relay
    to have them: a checkpoint is safe beside the dispatcher before the next epoch starts); learns of Stop."""

    def __init__(self, ray, relay, key: str, node: dict):
        self.ray, self.relay, self.key, self.node = ray, relay, key, node
        self.run_dir: Path | None = None
        self.stop, self._last = False, 0.0

    def _push(self, names=()) -> None:
        files = {n: (self.run_dir / n).read_bytes() for n in names if (self.run_dir / n).is_file()}
        self.stop = self.ray.get(self.relay.push.remote(self.key, files))
        self._last = time.monotonic()

    def on_start(self, run_dir, epochs, steps_per_epoch):
        self.run_dir = Path(run_dir)
        worker_record = runs.open_live(self.run_dir).record.get("worker") or {}
        runs.update_record(self.run_dir, worker={**worker_record, "ray_node": self.node})
        self._push([runs.RUN_FILE, runs.HISTORY_FILE])

    def on_batch(self, epoch, step, steps_per_epoch):
        if time.monotonic() - self._last >= POLL_S:
            self._push([runs.PROGRESS_FILE])

    def on_epoch(self, row):
        state = checkpoint.describe(self.run_dir)
        saved = [f"{checkpoint.FOLDER}/{state['arrays']}", f"{checkpoint.FOLDER}/{checkpoint.STATE_FILE}"] if state else []
        self._push([runs.RUN_FILE, runs.HISTORY_FILE, runs.PROGRESS_FILE, *saved])

    def should_stop(self) -> bool:
        if time.monotonic() - self._last >= POLL_S:  # a job that pushes nothing (the learning-rate finder) asks
            self._push()
        return self.stop


def _node_data_dir(server_dir: str | None) -> str | None:
    """The server's data folder where this node has it too (one machine, a shared mount), else the node's own
    CLASSROOM_DATA_DIR; None searches the Keras cache and the Debian package (core.data.datasets)."""
    if server_dir and Path(server_dir).is_dir():
        return server_dir
    return os.environ.get("CLASSROOM_DATA_DIR") or None


def train_on_node(spec: dict, folder: bytes | None, relay, gate: str | None = None) -> dict:
    """The Ray task: the job trained with core.queue.worker.run_job in a temporary runs folder of this node (from the
    run folder `folder` if it has one: a resume, or a job whose node died). Returns {"folder": the run folder as a
    zip or None, "lr_find": a learning-rate finder job's result file or None, "stopped": whether Stop reached it,
    "error": why it failed or None, "node": where it ran}."""
    import ray

    node = {"id": ray.get_runtime_context().get_node_id(), "ip": ray.util.get_node_ip_address(), "host": socket.gethostname()}
    with tempfile.TemporaryDirectory(prefix="classroom-job-") as tmp:
        job = jobs.JobSpec.from_dict({**spec, "runs_dir": tmp, "data_dir": _node_data_dir(spec.get("data_dir"))})
        if folder:
            unzip_folder(folder, job.run_dir)
        link = _NodeLink(ray, relay, job.run_id, node)
        error = None
        try:
            run_job(job, link.should_stop, link, Path(gate) if gate else None)
        except Exception as e:  # recorded in the run by train(); worded for the queue as a local worker does
            error = job_error(e)
        made, found = (job.run_dir / runs.RUN_FILE).is_file(), jobs.lr_find_file(tmp, job.run_id)
        return {"folder": zip_folder(job.run_dir) if made else None, "lr_find": found.read_bytes() if found.is_file() else None,
                "stopped": link.stop, "error": error, "node": node}
