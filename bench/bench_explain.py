"""Benchmark: how soon Inspect's "Look inside" shows an image's views, with the explainer idle and warm.

Not a test. Starts the real explainer process (`python -m core explainer`) on a temporary runs folder, lets it
import Keras with one throw-away request, then asks, as the page does (core.explain.explainer.ask_image), for test
images of shipped runs: the first image of a run (its model and test set are loaded then) and a second one
of the same run. Times each from the request until the bundle is on disk. Prints a table and one JSON line.

    .venv/bin/python bench/bench_explain.py --data-dir /var/tmp/classroom-data

Other work on the machine slows it down: say what else ran beside the numbers (the JSON line has the load).
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
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from core.explain import explainer  # noqa: E402
from core.storage import listing, runs  # noqa: E402

WARM_UP_PRESET = "fmnist-arch1-tr1"
TIMED_PRESETS = ("fmnist-arch2-tr1", "cifar-arch1-lr0.0001", "cifar-fast")
TIMEOUT_S = 300


def shipped(preset: str) -> runs.Run:
    found = [r for r in listing.list_runs(ROOT / "pretrained") if r.record.get("preset") == preset and r.has_results]
    if not found:
        raise SystemExit(f"no shipped run of {preset} in pretrained/")
    return found[0]


def time_view(runs_dir: Path, run: runs.Run, index: int) -> float:
    """Seconds from the page's request until the image's views are drawn."""
    started = time.perf_counter()
    while (bundle := explainer.ask_image(runs_dir, run, index)) is None:
        if time.perf_counter() - started > TIMEOUT_S:
            raise SystemExit(f"no views of {run.name} image {index} after {TIMEOUT_S} s: is the explainer running?")
        time.sleep(0.02)
    if bundle.get("error"):
        raise SystemExit(f"{run.name} image {index}: {bundle['error']}")
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with cifar100.npz (Fashion-MNIST: the Debian package)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-explain-") as tmp:
        runs_dir = Path(tmp)
        command = [sys.executable, "-m", "core", "explainer", "--runs-dir", str(runs_dir)]
        if args.data_dir:
            command += ["--data-dir", str(args.data_dir)]
        helper = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            warm_up = time_view(runs_dir, shipped(WARM_UP_PRESET), 0)
            rows = []
            for preset in TIMED_PRESETS:
                run = shipped(preset)
                first, second = time_view(runs_dir, run, 3), time_view(runs_dir, run, 4)
                rows.append({"preset": preset, "first_view_s": round(first, 2), "next_image_s": round(second, 2)})
        finally:
            helper.terminate()
            helper.wait(timeout=30)
    print(f"explainer start + Keras import + first view (warm-up): {warm_up:.1f} s")
    print(f"{'preset':<24} {'first view s':>12} {'next image s':>12}")
    for row in rows:
        print(f"{row['preset']:<24} {row['first_view_s']:>12.2f} {row['next_image_s']:>12.2f}")
    print(json.dumps({"bench": "explain", "warm_up_s": round(warm_up, 1), "views": rows, "load1": os.getloadavg()[0],
                      "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                      "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
