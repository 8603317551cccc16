"""Benchmark: a class of N students pressing Train at once, through real worker processes, two ways, alternated.

Not a test. Each student's job is their own: Fashion-MNIST Arch 1 trial 1 (or Arch 2 trial 1, or CIFAR-100 Arch 1
on 10,000 images) for a few epochs, each with its own dropout, L2, learning rate and seed. The same jobs go

  - one at a time: each worker trains one job to its end before it takes the next (`--max-active 1`), as the
    queue did before workers took turns;
  - by turns: each worker holds every job it can and trains them by turns (core.queue.turns).

For each way it starts the workers (`python -m core worker`, as the dashboard does), submits all N jobs at once,
and watches the run folders every 0.1 s: each student's wait for a first live point (a batch's loss on the live
chart), for a first epoch point, and for the finished run; the images trained per second; the workers' peak memory
(VmHWM); the load; how many jobs each worker took. Prints a table and one JSON line per way (appended to --out).

    .venv/bin/python bench/bench_class.py --data-dir /usr/share/datasets/fashion-mnist       # 30 x Arch 1 x 6 epochs
    .venv/bin/python bench/bench_class.py --network arch2 --students 10 --epochs 3 --workers 2
    .venv/bin/python bench/bench_class.py --network cifar1 --data-dir ~/data --epochs 3        # 10,000 images each

Results and how to read them: docs/benchmarks.md ("A class at once").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from core.networks import presets  # noqa: E402
from core.queue import jobs  # noqa: E402
from core.queue.queue import Queue  # noqa: E402
from core.storage import runs  # noqa: E402
from core.training.device import configured_backend  # noqa: E402

NETWORKS = {"arch1": ("fmnist-arch1-tr1", {}), "arch2": ("fmnist-arch2-tr1", {}),
            "cifar1": ("cifar-arch1-lr0.0001", {"limit": 10_000})}
WATCH_S = 0.1


def student_jobs(runs_dir: Path, network: str, students: int, epochs: int, data_dir) -> list[jobs.JobSpec]:
    """Each student's own settings: dropout, L2, learning rate and seed drawn for them (seeded: the same class each
    time)."""
    preset, changes = NETWORKS[network]
    base = presets.get(preset).config.replace(epochs=epochs, **changes)
    rng = np.random.default_rng(2026)
    out = []
    for i in range(students):
        config = base.replace(dropout=round(float(rng.choice([0.0, 0.1, 0.2, 0.3, 0.5])), 2),
                              l2=float(rng.choice([0.0, 1e-5, 1e-4, 1e-3])),
                              learning_rate=float(rng.choice([1e-4, 3e-4, 1e-3, 3e-3])), seed=i)
        out.append(jobs.make_job(config, runs_dir, name=f"student {i + 1}", preset=preset, data_dir=data_dir))
    return out


def peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def first_point(run_dir: Path) -> bool:
    """The live chart has a point: a batch's loss in progress.json, or a finished epoch."""
    try:
        progress = json.loads((run_dir / runs.PROGRESS_FILE).read_text())
        if progress.get("batch_loss"):
            return True
    except (OSError, ValueError):
        pass
    return first_epoch(run_dir)


def first_epoch(run_dir: Path) -> bool:
    try:
        return len((run_dir / runs.HISTORY_FILE).read_text().splitlines()) > 1
    except OSError:
        return False


def one_way(way: str, args, folder: Path) -> dict:
    runs_dir = folder / way
    specs = student_jobs(runs_dir, args.network, args.students, args.epochs, args.data_dir)
    queue = Queue(runs_dir)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-m", "core", "worker", "--runs-dir", str(runs_dir), "--slot", str(i),
                                 "--max-active", "1" if way == "one at a time" else str(args.max_active),
                                 "--threads", str(args.threads)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for i in range(args.workers)]
    time.sleep(args.warm_up)  # the workers import Keras first, as the dashboard's do before a class presses Train
    pressed = time.monotonic()
    watching = time.process_time()
    ids = [queue.submit(s, f"student {i}") for i, s in enumerate(specs)]
    seen: dict[str, dict[str, float]] = {s.run_id: {} for s in specs}
    loads = [os.getloadavg()[0]]
    deadline = pressed + args.timeout
    try:
        while time.monotonic() < deadline:
            now = time.monotonic() - pressed
            for s in specs:
                marks = seen[s.run_id]
                if "point" not in marks and first_point(s.run_dir):
                    marks["point"] = now
                if "epoch" not in marks and first_epoch(s.run_dir):
                    marks["epoch"] = now
            states = [job.status for job in queue.jobs()]  # one connection for the class, not one a job
            for s, state in zip(specs, states):
                if state not in jobs.ACTIVE and "done" not in seen[s.run_id]:
                    seen[s.run_id]["done"] = now
            loads.append(os.getloadavg()[0])
            if all(state not in jobs.ACTIVE for state in states):
                break
            time.sleep(WATCH_S)
        peak = sum(peak_kb(w.pid) for w in workers)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
    finished = [queue.get(i) for i in ids]
    statuses = [job.status for job in finished]
    per_worker = sorted(Counter(job.worker_pid for job in finished).values())
    images = sum(runs.read_run(s.run_dir).record.get("data", {}).get("train", 0) * s.config.epochs
                 for s, state in zip(specs, statuses) if state == "completed")
    done = [m.get("done", float("nan")) for m in seen.values()]
    points = [m.get("point", float("nan")) for m in seen.values()]
    epochs = [m.get("epoch", float("nan")) for m in seen.values()]
    all_done = max(done) if all(state == "completed" for state in statuses) else None
    return {"way": way, "network": args.network, "students": args.students, "epochs": args.epochs,
            "workers": args.workers, "threads": args.threads, "completed": statuses.count("completed"),
            "all_done_s": all_done, "first_point_median_s": statistics.median(points), "first_point_max_s": max(points),
            "first_epoch_median_s": statistics.median(epochs), "first_epoch_max_s": max(epochs),
            "first_points_s": sorted(round(p, 1) for p in points), "jobs_per_worker": per_worker,
            "images_per_s": images / all_done if all_done else None, "peak_memory_gb": peak / 1024**2,
            "watcher_cpu_s": time.process_time() - watching,
            "load_min": min(loads), "load_max": max(loads)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", choices=NETWORKS, default="arch1")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads per worker (0: TensorFlow's choice)")
    parser.add_argument("--max-active", type=int, default=32, help="jobs a worker holds at once when taking turns")
    parser.add_argument("--ways", nargs="+", default=["one at a time", "by turns"], choices=["one at a time", "by turns"])
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST .gz files and/or cifar100.npz")
    parser.add_argument("--warm-up", type=float, default=15.0, help="seconds the workers get to start before the press")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / f"class-cpu-{datetime.now():%Y-%m-%d}.jsonl"))
    args = parser.parse_args()
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
               "backend": configured_backend(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with open("/proc/cpuinfo") as f:
        machine["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), machine["cpu"])
    print(f"{args.students} students, {args.network}, {args.epochs} epochs, {args.workers} worker(s) · {machine['cpu']}, "
          f"{machine['cores']} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        results = []
        for way in args.ways:
            result = {**one_way(way, args, Path(tmp)), **machine}
            results.append(result)
            print(json.dumps(result), flush=True)
            with open(args.out, "a") as out:
                out.write(json.dumps(result) + "\n")
    print(f"\n{'way':<15} {'done':>8} {'1st point med/max':>18} {'1st epoch med/max':>18} {'images/s':>9} {'memory':>8} "
          f"{'load':>9}")
    for r in results:
        done = f"{r['all_done_s']:.0f} s" if r["all_done_s"] else f"{r['completed']}/{r['students']}"
        print(f"{r['way']:<15} {done:>8} {r['first_point_median_s']:>8.1f} / {r['first_point_max_s']:<7.1f} "
              f"{r['first_epoch_median_s']:>8.1f} / {r['first_epoch_max_s']:<7.1f} {r['images_per_s'] or 0:>9,.0f} "
              f"{r['peak_memory_gb']:>6.2f} GB {r['load_min']:.1f}-{r['load_max']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
