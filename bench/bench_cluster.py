"""Benchmark: how many small jobs a minute the queue gets through on a Ray cluster of 1 node and of 2.

Not a test. For each cluster size it starts a real local cluster (tools/ray_cluster.py: nodes on loopback, one
CPU each, all on this machine), queues N jobs (default 40 x fmnist_arch1, limit 2000, 2 epochs, the real
Fashion-MNIST), serves the queue with `python -m core worker --ray` as the dashboard would, and times it:
from the dispatcher's start to the last job's end (Ray's start-up and each node's Keras import included), and
the steady rate between the first job's end and the last's. A table at the end and one JSON line.

    .venv/bin/python bench/bench_cluster.py                       # 40 jobs on 1 node, then on 2 (docs/cluster.md)
    .venv/bin/python bench/bench_cluster.py --jobs 8 --nodes 2    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.networks import presets  # noqa: E402
from core.queue import jobs  # noqa: E402
from core.queue.queue import Queue  # noqa: E402
from tools.ray_cluster import LocalCluster  # noqa: E402

PRESET = "fmnist-arch1-tr1"


def run_queue(nodes: int, count: int, limit: int, epochs: int, data_dir: str) -> dict:
    """Queue `count` jobs, serve them on a fresh cluster of `nodes` nodes, and time them."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the nodes get `core` from the dispatcher
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp, LocalCluster(nodes=nodes, cpus=1, env=env) as cluster:
        queue = Queue(Path(tmp) / "runs")
        config = presets.get(PRESET).config.replace(limit=limit, epochs=epochs)
        ids = [queue.submit(jobs.make_job(config, queue.runs_dir, name=f"job {i}", preset=PRESET, data_dir=data_dir), "bench")
               for i in range(count)]
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        dispatcher = subprocess.Popen([sys.executable, "-m", "core", "worker", "--ray", cluster.address, "--runs-dir",
                                       str(queue.runs_dir)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                      stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / "dispatcher.log", "wb"))
        try:
            ended: dict[int, float] = {}
            while len(ended) < count:
                if dispatcher.poll() is not None:
                    raise RuntimeError(f"the dispatcher stopped: {(Path(tmp) / 'dispatcher.log').read_text()[-2000:]}")
                for job in queue.jobs():
                    if not job.active and job.id not in ended:
                        ended[job.id] = time.monotonic() - started
                time.sleep(0.5)
        finally:
            dispatcher.kill()
            dispatcher.wait()
        statuses = [queue.get(i).status for i in ids]
        first, last = min(ended.values()), max(ended.values())
        return {"nodes": nodes, "cpus_per_node": 1, "jobs": count, "completed": statuses.count("completed"),
                "wall_s": round(last, 1), "jobs_per_min": round(count / last * 60, 2),
                "steady_jobs_per_min": round((count - 1) / (last - first) * 60, 2) if last > first else None,
                "first_job_s": round(first, 1), "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    import ray

    rows = []
    for nodes in args.nodes:
        rows.append(run_queue(nodes, args.jobs, args.limit, args.epochs, args.data_dir))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.jobs} x {PRESET} (limit {args.limit}, {args.epochs} epochs), Ray {ray.__version__}, "
          f"{os.cpu_count()} cores on {platform.node()}, all nodes on this machine")
    print(f"{'nodes':>5} {'completed':>9} {'wall s':>8} {'jobs/min':>9} {'steady jobs/min':>16} {'first job s':>12} {'load':>11}")
    for r in rows:
        print(f"{r['nodes']:>5} {r['completed']:>9} {r['wall_s']:>8} {r['jobs_per_min']:>9} {r['steady_jobs_per_min']!s:>16} "
              f"{r['first_job_s']:>12} {r['load_before']:>5}-{r['load_after']:<5}")
    print(json.dumps({"bench": "cluster", "preset": PRESET, "limit": args.limit, "epochs": args.epochs, "ray": ray.__version__,
                      "cores": os.cpu_count(), "rows": rows}))


if __name__ == "__main__":
    main()
