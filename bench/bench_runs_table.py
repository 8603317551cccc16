"""Benchmark: Compare with a big class's worth of runs (issue 15: a page switch under 1 s with 500 runs).

Not a test. Writes N generated run folders (tools/fake_runs.py: the files the trainer writes, with varied
networks, settings, owners, seeds, notes and tags; 500 by default), starts the real dashboard on them, and in
headless Chromium switches between Home and Compare in the page list. Each switch is timed from the click
until Compare's title and its runs table are on screen and the script run is over. The first switch reads
every run from disk; the rest are what a student feels. Prints a table and one JSON line.

    .venv/bin/python bench/bench_runs_table.py --runs 500 --switches 10

Other work on the machine slows it down: say what else ran beside the numbers (the JSON line has the load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.storage import edits, runs  # noqa: E402
from tools.app_server import CHROMIUM, CHROMIUM_ARGS, SCRIPT_RUNNING, free_port, wait_healthy  # noqa: E402
from tools.fake_runs import make_config, write_run  # noqa: E402

TEST_IMAGES = 200  # per run: the table reads run.json and metrics, never the test images
PRESETS = ("fmnist-arch1-tr1", "fmnist-arch2-tr1", "cifar-arch1-lr0.0001")
TIMEOUT_S = 60


def write_class(folder: Path, count: int) -> None:
    """`count` finished runs of 30 students: presets with a changed setting each, a few seed groups, notes, tags."""
    rng = np.random.default_rng(0)
    for i in range(count):
        preset = PRESETS[i % len(PRESETS)]
        dataset = "cifar100" if preset.startswith("cifar") else "fashion_mnist"
        classes = 100 if dataset == "cifar100" else 10
        config = make_config(preset=preset, dropout=round(float(rng.uniform(0, 0.5)), 2), seed=i % 3,
                             learning_rate=float(rng.choice([1e-4, 3e-4, 1e-3, 3e-3])), epochs=int(rng.integers(3, 20)))
        y_true = rng.integers(0, classes, TEST_IMAGES)
        accuracy = rng.uniform(0.2, 0.5) if classes == 100 else rng.uniform(0.8, 0.9)
        y_pred = np.where(rng.random(TEST_IMAGES) < accuracy, y_true, rng.integers(0, classes, TEST_IMAGES))
        run_id = f"20261130-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-{i:06x}"
        path = write_run(folder, name=f"student {i % 30:02d}: try {i // 30}", dataset=dataset, preset=preset, config=config,
                         y_true=y_true, y_pred=y_pred, seed=i, run_id=run_id)
        runs.update_record(path, owner=f"student-{i % 30:02d}")
        if i % 7 == 0:
            edits.annotate_run(runs.read_run(path), notes=f"dropout {config['dropout']} looked better",
                              tags=["dropout", f"week {i % 4 + 1}"])


def switch(page, target: str, title: str) -> float:
    """Seconds from clicking `target` in the page list until its title is up and the script run is over."""
    started = time.perf_counter()
    page.get_by_test_id("stTopNavLink").filter(has_text=target).click(timeout=TIMEOUT_S * 1000)
    page.locator("h1", has_text=title).wait_for(state="visible", timeout=TIMEOUT_S * 1000)
    if target == "Compare":
        page.get_by_test_id("stDataFrame").first.wait_for(state="visible", timeout=TIMEOUT_S * 1000)
    while page.evaluate(SCRIPT_RUNNING):
        if time.perf_counter() - started > TIMEOUT_S:
            break
        time.sleep(0.02)
    return time.perf_counter() - started


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--switches", type=int, default=10)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-runs-table-"))
    try:
        written = time.perf_counter()
        write_class(root / "runs", args.runs)
        written = time.perf_counter() - written
        (root / "pretrained").mkdir()
        port, env = free_port(), {**os.environ, "CLASSROOM_RUNS_DIR": str(root / "runs"),
                                  "CLASSROOM_PRETRAINED_DIR": str(root / "pretrained")}
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                                   "--server.headless", "true"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, server)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"{url}/?client=bench")
                page.locator("h1", has_text="How neural networks train").wait_for(timeout=TIMEOUT_S * 1000)
                first = switch(page, "Compare", "Compare runs")
                times = []
                for _ in range(args.switches):
                    switch(page, "Home", "How neural networks train")
                    times.append(switch(page, "Compare", "Compare runs"))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {"bench": "runs_table", "runs": args.runs, "written_s": round(written, 1), "first_switch_s": round(first, 2),
              "switch_median_s": round(statistics.median(times), 2), "switch_max_s": round(max(times), 2),
              "switches": len(times), "switch_s": [round(t, 2) for t in times], "load1": os.getloadavg()[0],
              "cpu": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"{args.runs} runs written in {written:.1f} s")
    print(f"Home -> Compare, first (reads every run): {first:.2f} s")
    print(f"Home -> Compare, {len(times)} more: median {result['switch_median_s']:.2f} s, max {result['switch_max_s']:.2f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
