"""Training jobs on a Ray cluster (docs/cluster.md). The SQLite queue stays the source of truth.

A dispatcher (`python -m core worker --ray ADDRESS`; the dashboard starts one when CLASSROOM_RAY_ADDRESS is set)
claims queued jobs while the cluster has room and runs each as a Ray task, `train_on_node`: core.worker.run_job
in a temporary folder of whichever node Ray picks, the run folder sent back as a zip in the task's result. Nodes
share no file system, so what the pages read while a job trains (run.json, progress.json, history.csv, and the
checkpoint after every epoch) is pushed by the task to a `Relay` actor beside the dispatcher, which writes it
into the run folder twice a second; Stop travels back as the answer to the task's next push. A job whose node
dies goes back into the queue and continues on another node from the last relayed checkpoint: the run folder
travels out with every task. Ray itself is imported only by the functions that talk to a cluster.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core import checkpoint, jobs, runs, worker
from core.device import configured_backend

POLL_S = 0.5
CONNECT_TIMEOUT_S = 10
DISPATCHER_LOCK = "ray-dispatcher"  # one dispatcher per runs folder, like one worker per slot
INFO_FILE = "slot-ray.json"  # what core.worker.worker_status shows the dashboard
# A GPU's share per job: the small Fashion-MNIST networks use a fraction of one, so several train side by side.
GPU_SHARE = {"fmnist_arch1": 0.25, "fmnist_arch2": 0.25}
# Several jobs on one GPU: each takes GPU memory as it needs it instead of all of it at start.
NODE_ENV = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
CORE_DIR = Path(__file__).resolve().parent
LOST = {"NodeDiedError": "its Ray node {ip} died", "OutOfMemoryError": "Ray node {ip} ran out of memory and stopped it",
        "WorkerCrashedError": "its worker process on Ray node {ip} died (killed, or out of memory)"}


class ClusterError(Exception):
    """The Ray cluster cannot be used (bad address, unreachable, Ray missing); the message says why."""


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"Ray address {address!r} is not host:port (the head's address and its `ray start --port`)")
    return host, int(port)


def connect(address: str):
    """Join the cluster at host:port as a driver, with this project's `core` package shipped to every node that
    runs its tasks (the nodes need its requirements and the datasets, not the project). Returns the ray module."""
    host, port = parse_address(address)
    try:  # Ray retries an unreachable head for a minute or more; a plain connection says it at once
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address} ({e.strerror or e}); is its head started "
                           "(`ray start --head`, docs/cluster.md)?") from None
    try:
        import ray
    except ImportError:
        raise ClusterError("Ray is not installed here: pip install -r requirements.txt") from None
    try:
        ray.init(address=f"{host}:{port}", log_to_driver=False, logging_level="ERROR",
                 runtime_env={"py_modules": [str(CORE_DIR)], "excludes": ["__pycache__"], "env_vars": NODE_ENV})
    except Exception as e:  # Ray raises many kinds (ConnectionError, RuntimeError, ValueError...)
        raise ClusterError(f"cannot join the Ray cluster at {address}: {str(e).strip().splitlines()[0] if str(e) else e!r}") \
            from None
    return ray


def resources_for(config, totals: dict) -> dict:
    """What one job asks of Ray: a share of a GPU where the cluster has GPUs, else one CPU."""
    if totals.get("GPU", 0) > 0:
        return {"num_cpus": 1, "num_gpus": GPU_SHARE.get(config.architecture, 1.0)}
    return {"num_cpus": 1}


# --- run folders as bytes: out to a node, back from it ----------------------------------------------

def zip_folder(run_dir: Path) -> bytes:
    """The run folder (checkpoint/ included) as a zip; the progress file and temporary files are left out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(Path(run_dir).rglob("*")):
            name = path.relative_to(run_dir).as_posix()
            if path.is_file() and not path.is_symlink() and name != runs.PROGRESS_FILE and not path.name.startswith("."):
                z.write(path, name)
    return buffer.getvalue()


def unzip_folder(data: bytes, dest: Path) -> list[str]:
    """Unpack zip_folder's bytes into dest; returns the file names."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        for name in names:
            if name.startswith("/") or ".." in Path(name).parts or len(Path(name).parts) > 2:
                raise runs.RunError(f"a run folder from a node holds {name!r}: refused")
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(z.read(name))
    return names


def _write_order(name: str) -> tuple:
    """A checkpoint's arrays before its state.json, and run.json last: as the trainer writes them, so that a
    reader never sees a state naming missing arrays, nor a "completed" record before the results."""
    return (name == runs.RUN_FILE, name == f"{checkpoint.FOLDER}/{checkpoint.STATE_FILE}", name)


def _drop_old_arrays(run_dir: Path, keep: set[str]) -> None:
    for old in (run_dir / checkpoint.FOLDER).glob("epoch-*.npz"):
        if f"{checkpoint.FOLDER}/{old.name}" not in keep:
            old.unlink(missing_ok=True)


def write_live(run_dir: Path, files: dict[str, bytes]) -> None:
    """Files relayed from a node while it trains, each written atomically into the server's run folder."""
    for name in sorted(files, key=_write_order):
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        if name == runs.RUN_FILE:
            runs.write_relayed_record(run_dir, files[name])
        else:
            runs.write_atomic(run_dir / name, files[name])
    if f"{checkpoint.FOLDER}/{checkpoint.STATE_FILE}" in files:
        _drop_old_arrays(run_dir, set(files))


def write_final(run_dir: Path, data: bytes) -> None:
    """The node's finished run folder in place of the server's copy: unpacked in a staging folder beside it, moved
    in file by file with os.replace (run.json last, keeping the owner's edits), then what the node no longer has is removed."""
    staging = Path(tempfile.mkdtemp(dir=run_dir.parent, prefix=f".ray-{run_dir.name}-"))
    try:
        names = unzip_folder(data, staging)
        for name in sorted(names, key=_write_order):
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            if name == runs.RUN_FILE:
                runs.write_relayed_record(run_dir, (staging / name).read_bytes())
            else:
                os.replace(staging / name, run_dir / name)
        for path in sorted(run_dir.rglob("*"), reverse=True):  # a folder's files before the folder
            if path.is_file() and path.relative_to(run_dir).as_posix() not in names:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- the node's side ---------------------------------------------------------------------------------

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
    CLASSROOM_DATA_DIR; None searches the Keras cache and the Debian package (core.datasets)."""
    if server_dir and Path(server_dir).is_dir():
        return server_dir
    return os.environ.get("CLASSROOM_DATA_DIR") or None


def train_on_node(spec: dict, folder: bytes | None, relay) -> dict:
    """The Ray task: the job trained with core.worker.run_job in a temporary runs folder of this node (from the
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
            worker.run_job(job, link.should_stop, link)
        except Exception as e:  # recorded in the run by train(); as core.worker words it for the queue
            error = str(e) if isinstance(e, runs.RunError) else f"{type(e).__name__}: {e}"
        made, found = (job.run_dir / runs.RUN_FILE).is_file(), jobs.lr_find_file(tmp, job.run_id)
        return {"folder": zip_folder(job.run_dir) if made else None, "lr_find": found.read_bytes() if found.is_file() else None,
                "stopped": link.stop, "error": error, "node": node}


# --- the dispatcher's side -----------------------------------------------------------------------------

@dataclass
class Flight:
    spec: jobs.JobSpec
    ref: object  # the task's ObjectRef
    request: dict
    job_id: int | None = None
    stopping: bool = False


@dataclass
class Outcome:
    flight: Flight
    status: str  # completed | cancelled | failed | lost (the node or its worker process died: try again)
    error: str | None = None
    node: dict = field(default_factory=dict)


class Dispatcher:
    """Jobs in flight on the cluster, by run id: each task's run folder shipped out, its live files written in."""

    def __init__(self, address: str):
        self.address = address
        self.ray = ray = connect(address)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.relay = ray.remote(num_cpus=0)(Relay).options(scheduling_strategy=here).remote()
        # A GPU task gets a fresh process (Ray's default: a reused one keeps its first GPU); a CPU one reuses
        # a process that has imported Keras already. Ray never retries by itself: the queue does, and says so.
        self.tasks = {False: ray.remote(max_retries=0)(train_on_node),
                      True: ray.remote(max_retries=0, max_calls=1)(train_on_node)}
        self.flights: dict[str, Flight] = {}

    def describe(self) -> str:
        totals = self.ray.cluster_resources()
        nodes = sum(1 for n in self.ray.nodes() if n["Alive"])
        cpus, gpus = totals.get("CPU", 0), totals.get("GPU", 0)
        return f"{'GPU' if gpus else 'CPU'} · Ray cluster at {self.address}: {nodes} nodes, {cpus:g} CPUs, {gpus:g} GPUs"

    def has_room(self, spec: jobs.JobSpec) -> bool:
        """Whether the cluster's alive nodes have room for `spec` beside the jobs in flight."""
        totals = self.ray.cluster_resources()
        used: dict[str, float] = {}
        for flight in self.flights.values():
            for key, amount in flight.request.items():
                used[key] = used.get(key, 0) + amount
        named = {"num_cpus": "CPU", "num_gpus": "GPU"}
        return all(used.get(key, 0) + amount <= totals.get(named[key], 0) + 1e-9
                   for key, amount in resources_for(spec.config, totals).items())

    def submit(self, spec: jobs.JobSpec, job_id: int | None = None, stop: bool = False) -> None:
        request = resources_for(spec.config, self.ray.cluster_resources())
        self.ray.get(self.relay.start.remote(spec.run_id, stop))
        folder = zip_folder(spec.run_dir) if (spec.run_dir / runs.RUN_FILE).is_file() else None
        ref = self.tasks["num_gpus" in request].options(**request).remote(spec.to_dict(), folder, self.relay)
        self.flights[spec.run_id] = Flight(spec, ref, request, job_id, stop)

    def stop(self, run_id: str) -> None:
        flight = self.flights.get(run_id)
        if flight and not flight.stopping:
            flight.stopping = True
            self.relay.stop.remote(run_id)

    def poll(self, timeout_s: float = POLL_S) -> list[Outcome]:
        """Wait up to timeout_s, write what the nodes relayed, and return the jobs that ended."""
        refs = [f.ref for f in self.flights.values()]
        if not refs:
            time.sleep(timeout_s)
            return []
        done, _ = self.ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        # Pushes are synchronous: a task that ended has every push of it in the relay by now.
        for key, files in self.ray.get(self.relay.take.remote()).items():
            if key in self.flights:
                write_live(self.flights[key].spec.run_dir, files)
        ended = [f for f in self.flights.values() if f.ref in done]
        for flight in ended:
            del self.flights[flight.spec.run_id]
        return [self._outcome(flight) for flight in ended]

    def _outcome(self, flight: Flight) -> Outcome:
        try:
            result = self.ray.get(flight.ref)
        except self.ray.exceptions.RayTaskError as e:  # our code failed outside run_job: no use trying again
            cause = e.cause or e
            return Outcome(flight, "failed", f"{type(cause).__name__}: {cause}")
        except self.ray.exceptions.RayError as e:  # the node, its worker process, or the result was lost
            node = (runs.open_live(flight.spec.run_dir).record.get("worker") or {}).get("ray_node") or {}
            reason = LOST.get(type(e).__name__, "its Ray task on node {ip} was lost ({kind})")
            return Outcome(flight, "lost", reason.format(ip=node.get("ip", "?"), kind=type(e).__name__))
        if result["folder"]:
            write_final(flight.spec.run_dir, result["folder"])
        if result["error"]:
            return Outcome(flight, "failed", result["error"], result["node"])
        if flight.spec.lr_find:  # its result is a file, not a run folder (core.worker._lr_find)
            target = jobs.lr_find_file(flight.spec.runs_dir, flight.spec.run_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            runs.write_atomic(target, result["lr_find"])
            return Outcome(flight, "cancelled" if result["stopped"] else "completed", None, result["node"])
        run = runs.read_run(flight.spec.run_dir)
        return Outcome(flight, run.status if run.has_results else "failed", run.record.get("error"), result["node"])


def mark_lost(run_dir: Path, reason: str) -> None:
    """The server's copy of a run whose node died: failed with the reason (what core.training.resume continues)."""
    live = runs.open_live(run_dir)
    if (run_dir / runs.RUN_FILE).is_file() and live.record.get("status") == "running":
        runs.update_record(run_dir, status="failed", error=reason, finished=runs.now_iso(),
                           segments=runs.close_killed_segments(live.record, live.progress().get("updated"), reason))
    (run_dir / runs.PROGRESS_FILE).unlink(missing_ok=True)


def serve_ray(runs_dir, address: str, idle_exit_s: float = worker.IDLE_EXIT_S, parent_pid: int | None = None) -> int:
    """The queue's dispatcher to a Ray cluster: claims jobs while the cluster has room, forwards Stop, records how
    each ended; a job whose node died goes back into the queue (core.jobs.Queue.requeue). Ends as core.worker.serve
    does (idle for idle_exit_s, or idle with its server gone). Returns the number of jobs that ended."""
    lock = worker.hold_lock(runs_dir, DISPATCHER_LOCK)
    if lock is None:
        print(f"the queue of {runs_dir} is already dispatched to Ray by another process", file=sys.stderr)
        return 0
    info_path = Path(runs_dir) / worker.WORKERS_DIR / INFO_FILE
    try:
        queue, dispatcher = jobs.Queue(runs_dir), Dispatcher(address)
        runs.write_json(info_path, {"slot": "ray", "pid": os.getpid(), "started": runs.now_iso(), "environment": {
            "device": dispatcher.describe(), "backend": configured_backend(), "host": socket.gethostname(), "ray": address}})
        done, idle_since = 0, time.monotonic()
        while True:
            queue.reap()  # jobs of a dispatcher (or worker) of this machine that died: queued again, first in line
            active = queue.jobs(active_only=True)
            for job in active:
                if job.cancel_requested:
                    dispatcher.stop(job.run_id)
            waiting = [j for j in active if j.status == "queued"]  # claim() takes the oldest, failing unreadable ones
            while waiting and (waiting[0].spec is None or dispatcher.has_room(waiting[0].spec)) and (job := queue.claim()):
                dispatcher.submit(job.spec, job.id, stop=job.cancel_requested)
                waiting = [j for j in waiting if j.id > job.id]
            for outcome in dispatcher.poll():
                flight = outcome.flight
                if outcome.status == "lost":
                    mark_lost(flight.spec.run_dir, queue.requeue(flight.job_id, outcome.error))
                else:
                    queue.finish(flight.job_id, outcome.status, outcome.error)
                    done += 1
                idle_since = time.monotonic()
            if dispatcher.flights:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > idle_exit_s or (parent_pid and not runs.pid_alive(parent_pid)):
                return done
    finally:
        info_path.unlink(missing_ok=True)
        lock.close()


def train_on_cluster(address: str, specs: list[jobs.JobSpec]) -> list[Path]:
    """`python -m core train --ray`: the jobs on the cluster without the queue, this process their dispatcher
    (a job whose node died continues elsewhere, jobs.MAX_ATTEMPTS starts in all); a line per relayed epoch.
    Returns the run folders; RunError naming the first job that failed."""
    dispatcher = Dispatcher(address)
    print(f"training {len(specs)} run(s) on {dispatcher.describe()}", flush=True)
    pending, starts, shown, failed, said_waiting = list(specs), {}, {}, [], False
    while pending or dispatcher.flights:
        while pending and dispatcher.has_room(pending[0]):
            spec = pending.pop(0)
            starts[spec.run_id] = starts.get(spec.run_id, 0) + 1
            dispatcher.submit(spec)
        if pending and not dispatcher.flights and not said_waiting:
            print("waiting for a node with room: the cluster has no CPU (or GPU) free", flush=True)
            said_waiting = True
        for outcome in dispatcher.poll():
            spec = outcome.flight.spec
            if outcome.status == "lost" and starts[spec.run_id] < jobs.MAX_ATTEMPTS:
                mark_lost(spec.run_dir, outcome.error)
                print(f"{spec.name}: {outcome.error}; it continues from its last completed epoch", flush=True)
                pending.insert(0, spec)
            elif outcome.status in ("failed", "lost"):
                mark_lost(spec.run_dir, outcome.error)
                failed.append(f"run {spec.name!r} failed on the cluster: {outcome.error}")
            else:
                print(f"{spec.name}: {outcome.status} on {outcome.node.get('host')} ({outcome.node.get('ip')})", flush=True)
        for spec in specs:  # the epochs relayed since the last poll
            history = runs.open_live(spec.run_dir).history() if spec.run_dir.is_dir() else None
            for row in [] if history is None else history.iloc[shown.get(spec.run_id, 0):].to_dict("records"):
                print(f"{spec.name}: epoch {row['epoch']:.0f}/{spec.config.epochs}  loss {row['loss']:.4f}  "
                    f"val_accuracy {row.get('val_accuracy', float('nan')):.2%}", flush=True)
            shown[spec.run_id] = 0 if history is None else len(history)
    if failed:
        raise runs.RunError(failed[0])
    return [spec.run_dir for spec in specs]
