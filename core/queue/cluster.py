"""Training jobs on a Ray cluster (docs/cluster.md). The SQLite queue stays the source of truth.

A dispatcher (`python -m core worker --ray ADDRESS`; the dashboard starts one when CLASSROOM_RAY_ADDRESS is set)
claims queued jobs while the cluster has room and runs each as a Ray task, `train_on_node` (core.queue.ray_node)
in a temporary folder of whichever node Ray picks, the run folder sent back as a zip in the task's result. Nodes
share no file system, so what the pages read while a job trains (run.json, progress.json, history.csv, and the
checkpoint after every epoch) is pushed by the task to a `Relay` actor beside the dispatcher, which writes it
into the run folder twice a second; Stop travels back as the answer to the task's next push. A job whose node
dies goes back into the queue and continues on another node from the last relayed checkpoint: the run folder
travels out with every task. Ray itself is imported only by the functions that talk to a cluster.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.queue import jobs
from core.queue.policy import OPEN, Policy
from core.queue.queue import Queue
from core.queue.ray_folders import write_final, write_live, zip_folder
from core.queue.ray_node import Relay, train_on_node
from core.queue.worker import DISPATCHER_LOCK, IDLE_EXIT_S
from core.storage import runs
from core.system import supervisor
from core.system.files import write_atomic
from core.training.device import configured_backend

POLL_S = 0.5
CONNECT_TIMEOUT_S = 10
INFO_FILE = "slot-ray.json"  # what core.queue.worker.worker_status shows the dashboard
# A GPU's share per job: the small Fashion-MNIST networks use a fraction of one, so several train side by side.
GPU_SHARE = {"fmnist_arch1": 0.25, "fmnist_arch2": 0.25}
# Several jobs on one GPU: each takes GPU memory as it needs it instead of all of it at start.
NODE_ENV = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
CORE_DIR = Path(__file__).resolve().parent.parent  # the `core` package, shipped to every node
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

# --- the node's side ---------------------------------------------------------------------------------

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

    def __init__(self, address: str, gate: Path | None = None):
        self.address, self.gate = address, gate  # an epoch gate (core.training.gate) on the nodes' file system
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
        ref = self.tasks["num_gpus" in request].options(**request).remote(spec.to_dict(), folder, self.relay,
                                                                          str(self.gate) if self.gate else None)
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
        if flight.spec.lr_find:  # its result is a file, not a run folder (core.queue.worker._lr_find)
            target = jobs.lr_find_file(flight.spec.runs_dir, flight.spec.run_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, result["lr_find"])
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


def serve_ray(runs_dir, address: str, idle_exit_s: float = IDLE_EXIT_S, parent_pid: int | None = None,
              policy: Policy = OPEN, gate: Path | None = None) -> int:
    """The queue's dispatcher to a Ray cluster: claims jobs while the cluster has room, forwards Stop, records how
    each ended; a job whose node died goes back into the queue (Queue.requeue). Ends as a local worker does (idle
    for idle_exit_s, or idle with its server gone). Returns how many jobs ended (0 if another process
    dispatches this queue)."""
    queue = Queue(runs_dir, policy)
    dispatcher: Dispatcher | None = None
    ended = [0]  # jobs that ended (not the lost ones, which go back into the queue)

    def connect_then_step():
        nonlocal dispatcher
        dispatcher = Dispatcher(address, gate)
        return step

    def step() -> bool:
        queue.reap()  # jobs of a dispatcher (or worker) of this machine that died: queued again, first in line
        active = queue.jobs(active_only=True)
        for job in active:
            if job.cancel_requested:
                dispatcher.stop(job.run_id)
        waiting = [j for j in active if j.status == "queued"]  # claim() takes the oldest, failing unreadable ones
        while waiting and (waiting[0].spec is None or dispatcher.has_room(waiting[0].spec)) and (job := queue.claim()):
            dispatcher.submit(job.spec, job.id, stop=job.cancel_requested)
            waiting = [j for j in waiting if j.id > job.id]
        outcomes = dispatcher.poll()  # waits up to POLL_S
        for outcome in outcomes:
            flight = outcome.flight
            if outcome.status == "lost":
                mark_lost(flight.spec.run_dir, queue.requeue(flight.job_id, outcome.error))
            else:
                queue.finish(flight.job_id, outcome.status, outcome.error)
                ended[0] += 1
        return bool(outcomes or dispatcher.flights)

    def published() -> dict:
        return {"slot": "ray", "pid": os.getpid(), "started": runs.now_iso(), "environment": {
            "device": dispatcher.describe(), "backend": configured_backend(), "host": socket.gethostname(), "ray": address}}

    if not supervisor.serve(runs_dir, DISPATCHER_LOCK, connect_then_step, idle_exit_s=idle_exit_s, poll_s=0,
                            parent_pid=parent_pid, info=(INFO_FILE, published)):
        print(f"the queue of {runs_dir} is already dispatched to Ray by another process", file=sys.stderr)
    return ended[0]


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
