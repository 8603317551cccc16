"""Benchmark: the fast training path (core.training.fast) against plain model.fit, same config, same process.

Not a test. For each (architecture, batch size) it trains the same model from the same seed with each
engine and reports epoch 1 (compilation included) and the mean of epochs 2..k, as images per second and
the ratio fit / fast; a table at the end and one JSON line per row as each row finishes.

    # here (CPU, TensorFlow; capped image counts so that it takes a few minutes)
    .venv/bin/python bench/bench_train.py --grid cpu
    # the MLPs under JAX on the CPU
    KERAS_BACKEND=jax .venv/bin/python bench/bench_train.py --grid cpu --rows fmnist_arch1:32,256 fmnist_arch2:32,256
    # the GPU machine (JAX, data of the real sizes, the ResNet too): see docs/benchmarks.md
    KERAS_BACKEND=jax python3 bench/bench_train.py --grid gpu
    # whole runs through core.training.trainer.train (compilation, validation, evaluation, saving), real data
    .venv/bin/python bench/bench_train.py --full-run --rows fmnist_arch2:32 --epochs 50 --real-data DIR

Engines: `fit` is model.fit with steps_per_execution=1 (the reference); `fast` is core.training.fast.fit;
`fit-speN` is model.fit with steps_per_execution=N, `fast-scans` / `fast-steps` the JAX fast path with
its loop forced to fixed-length scans / single jitted steps (for comparison). An epoch's time is measured
from one epoch end to the next, validation included, as history.csv's `seconds` would show it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from core.data import datasets  # noqa: E402

# The setting each architecture is benchmarked in: its report preset (dropout, L2, optimizer as trained).
PRESET_FOR = {
    "fmnist_arch1": "fmnist-arch1-tr1",
    "fmnist_arch2": "fmnist-arch2-tr1",
    "cifar_arch1": "cifar-arch1-lr0.01",
    "cifar_arch2": "cifar-arch2",
    "cifar_arch3": "cifar-arch3",
    "cifar_resnet": "cifar-resnet",
}
# Training images after the validation split, as the presets train (60,000 x 0.85, 50,000 x 0.9).
REAL_TRAIN = {"fashion_mnist": 51000, "cifar100": 45000}
GRIDS = {
    # Capped so the CPU run takes minutes: per-step costs show after a few hundred steps.
    "cpu": [("fmnist_arch1", 32, 12800), ("fmnist_arch1", 256, 25600), ("fmnist_arch2", 32, 12800),
            ("fmnist_arch2", 256, 25600), ("cifar_arch1", 32, 3200), ("cifar_arch3", 32, 640)],
    "gpu": [("fmnist_arch1", 32, None), ("fmnist_arch1", 256, None), ("fmnist_arch2", 32, None),
            ("fmnist_arch2", 256, None), ("cifar_arch1", 32, None), ("cifar_arch1", 256, None),
            ("cifar_arch3", 32, None), ("cifar_arch3", 256, None), ("cifar_resnet", 32, None),
            ("cifar_resnet", 128, None)],
}


def environment() -> dict:
    from core.training.device import environment as env

    info = env()
    info.pop("host", None)
    info["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info["cpus"] = os.cpu_count()
    info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    info["platform"] = platform.platform()
    return info


def config_for(arch: str, batch_size: int, epochs: int, seed: int):
    from core.networks.presets import get

    return get(PRESET_FOR[arch]).config.replace(batch_size=batch_size, epochs=epochs, seed=seed)


def synthetic(config, n_train: int, seed: int) -> datasets.Dataset:
    """Random uint8 images of the real shape with random labels (the timing does not care)."""
    info = datasets.DATASET_INFO[config.dataset]
    rng = np.random.default_rng(seed)
    # Train + validation together, split by core.training.prepare_data as in a real run.
    n = int(round(n_train / (1 - config.validation_split)))
    x = rng.integers(0, 256, (n, *info.image_shape), dtype=np.uint8)
    y = rng.integers(0, len(info.class_names), n).astype(np.int64)
    xt = rng.integers(0, 256, (1000, *info.image_shape), dtype=np.uint8)
    yt = rng.integers(0, len(info.class_names), 1000).astype(np.int64)
    return datasets.Dataset(info, x, y, xt, yt, "synthetic")


def load_data(config, n_train, seed, real_dir):
    if real_dir:
        data = datasets.load(config.dataset, real_dir)
        if n_train:
            keep = int(round(n_train / (1 - config.validation_split)))
            data = datasets.Dataset(data.info, data.x_train[:keep], data.y_train[:keep], data.x_test, data.y_test, data.source)
        return data
    return synthetic(config, n_train or REAL_TRAIN[config.dataset], seed)


def _timer_class():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.started = time.perf_counter()
            self.ends: list[float] = []
            self.logs: list[dict] = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())
            self.logs.append({k: float(v) for k, v in (logs or {}).items()})

    return EpochTimer


def time_engine(engine: str, config, data, epochs: int) -> dict:
    """Train `epochs` epochs with one engine; the timings and the last logs."""
    import math

    import keras

    from core.training import fast, stepper_jax
    from core.training.compiling import compile_model
    from core.training.inputs import one_hot, prepare_data

    prepared = prepare_data(config, data)
    classes = len(prepared.info.class_names)
    steps = math.ceil(len(prepared.x_train) / config.batch_size)
    spe = int(engine[len("fit-spe"):]) if engine.startswith("fit-spe") else 1
    model = compile_model(config, steps, spe)
    static_scans = stepper_jax.STATIC_SCANS
    timer = _timer_class()()
    timer.started = time.perf_counter()
    if engine.startswith("fast"):
        fast.enable_compilation_cache()  # as core.training.trainer.train does (a fresh folder unless --jax-cache)
        stepper_jax.STATIC_SCANS = {"fast-scans": True, "fast-steps": False}.get(engine, static_scans)
        try:
            fast.fit(model, prepared.x_train, prepared.y_train, validation_data=(prepared.x_val, prepared.y_val),
                     batch_size=config.batch_size, epochs=epochs, seed=config.seed, callbacks=[timer])
        finally:
            stepper_jax.STATIC_SCANS = static_scans
    else:
        model.fit(prepared.x_train, one_hot(prepared.y_train, classes),
                  validation_data=(prepared.x_val, one_hot(prepared.y_val, classes)),
                  batch_size=config.batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    keras.backend.clear_session()
    epoch_s = np.diff([timer.started] + timer.ends)
    later = epoch_s[1:] if len(epoch_s) > 1 else epoch_s  # the median: robust to a busy neighbour's burst
    n = len(prepared.x_train)
    last = timer.logs[-1]
    return {"engine": engine, "train_images": n, "steps_per_epoch": steps, "first_epoch_s": round(float(epoch_s[0]), 3),
            "epoch_s": round(float(np.median(later)), 4), "images_per_s": round(n / float(np.median(later)), 1),
            "epoch_s_min": round(float(np.min(later)), 4),
            "val_accuracy": round(last.get("val_accuracy", float("nan")), 4),
            "best_val_accuracy": round(max(log.get("val_accuracy", float("nan")) for log in timer.logs), 4),
            "loss": round(last.get("loss", float("nan")), 4)}


def full_run(engine: str, config, data) -> dict:
    """One whole run through core.training.trainer.train (into a temporary folder): what a user waits for."""
    import pandas as pd

    from core.storage import runs
    from core.training.callbacks import BaseListener
    from core.training.trainer import train

    class FirstRow(BaseListener):
        def on_epoch(self, row):
            if row["epoch"] == 1:
                self.at = time.perf_counter()

    listener = FirstRow()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        run_dir = train(config, folder, dataset=data, engine=engine, listener=listener)
        wall = time.perf_counter() - started
        record = json.loads((run_dir / runs.RUN_FILE).read_text())
        metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
        history = pd.read_csv(run_dir / runs.HISTORY_FILE)
    # first_row_s: from calling train() to the first epoch's row (what the dashboard's chart waits for).
    return {
        "engine": engine,
        "train_images": record["data"]["train"],
        "epochs": len(history),
        "wall_s": round(wall, 2),
        "first_row_s": round(listener.at - started, 2),
        "fit_s": round(record["durations"]["fit_s"], 2),
        "total_s": round(record["durations"]["total_s"], 2),
        "first_epoch_s": round(float(history.seconds.iloc[0]), 3),
        "epoch_s": round(float(history.seconds.iloc[1:].median() if len(history) > 1 else history.seconds.iloc[0]), 4),
        "best_val_accuracy": round(float(history.val_accuracy.max()), 4),
        "val_accuracy": round(float(history.val_accuracy.iloc[-1]), 4),
        "test_accuracy": round(float(metrics["test_accuracy"]), 4),
    }


def parse_rows(specs: list[str], default_images: int | None) -> list[tuple[str, int, int | None]]:
    rows = []
    for spec in specs:
        arch, _, sizes = spec.partition(":")
        if arch not in PRESET_FOR:
            raise SystemExit(f"unknown architecture {arch!r}: choose from {', '.join(PRESET_FOR)}")
        for size in (sizes or "32").split(","):
            rows.append((arch, int(size), default_images))
    return rows


def summarize(results: list[dict], key: str) -> list[dict]:
    """One row per (architecture, batch size, engine): its best attempt by `key`, with the ratio to fit's best."""
    best: dict[tuple, dict] = {}
    for r in results:
        k = (r["architecture"], r["batch_size"], r["engine"])
        if k not in best or r[key] < best[k][key]:
            best[k] = r
    rows = []
    for (arch, batch_size, engine), r in best.items():
        row = {
            **r,
            "summary": True,
            "attempts": sum(
                1 for x in results if (x["architecture"], x["batch_size"], x["engine"]) == (arch, batch_size, engine)
            ),
        }
        reference = best.get((arch, batch_size, "fit"))
        if reference is not None and engine != "fit":
            row["ratio"] = round(reference[key] / r[key], 2)
        rows.append(row)
    return rows


def print_table(results: list[dict], full: bool) -> None:
    if full:
        head = (f"{'architecture':<14}{'batch':>6}{'engine':>12}{'try':>4}{'images':>8}{'epochs':>7}{'to row 1':>9}"
                f"{'s/epoch':>9}{'total s':>9}{'best val':>9}{'test':>8}{'ratio':>7}")
    else:
        head = (f"{'architecture':<14}{'batch':>6}{'engine':>12}{'images':>8}{'first s':>9}{'s/epoch':>9}{'images/s':>10}"
                f"{'val acc':>9}{'ratio':>7}")
    print(head)
    print("-" * len(head))
    for r in results:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else ""
        if full:
            print(f"{r['architecture']:<14}{r['batch_size']:>6}{r['engine']:>12}{r['attempt']:>4}{r['train_images']:>8}{r['epochs']:>7}"
                  f"{r['first_row_s']:>9.2f}{r['epoch_s']:>9.3f}{r['total_s']:>9.1f}{r['best_val_accuracy']:>9.4f}"
                  f"{r['test_accuracy']:>8.4f}{ratio:>7}")
        else:
            print(f"{r['architecture']:<14}{r['batch_size']:>6}{r['engine']:>12}{r['train_images']:>8}{r['first_epoch_s']:>9.2f}"
                  f"{r['epoch_s']:>9.3f}{r['images_per_s']:>10.0f}{r['val_accuracy']:>9.4f}{ratio:>7}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), help="preset rows (default: gpu if an accelerator is found, else cpu)")
    parser.add_argument("--rows", nargs="+", metavar="ARCH:BS[,BS]", help="instead of the grid, e.g. fmnist_arch2:32,256")
    parser.add_argument("--images", type=int, help="training images per row (default: the grid's cap, else the real size)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per engine: epoch 1 and the median of 2..k (default 3)")
    parser.add_argument("--engines", default="fit,fast", help="comma-separated: fit, fast, fit-speN, and for JAX "
                        "fast-scans / fast-steps (fast with its loop forced one way) (default fit,fast)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--real-data", metavar="DIR", help="train on the real datasets found in DIR (validation accuracy is then meaningful)"
    )
    parser.add_argument("--full-run", action="store_true",
                        help="whole runs through core.training.trainer.train (evaluation and saving included)")
    parser.add_argument("--repeat", type=int, default=1, help="run each engine this many times (with --full-run: "
                        "the second run of a configuration shows JAX's compilation cache)")
    parser.add_argument("--jax-cache", metavar="DIR", help="JAX compilation cache folder (default: a fresh temporary "
                        "one, so that epoch 1 includes a cold compilation)")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="an attempt's s/epoch: the median of epochs 2..k, or the fastest of them (on a shared, "
                        "busy machine the fastest is closest to the machine's speed)")
    parser.add_argument("--jsonl", metavar="FILE", help="also append the JSON lines to FILE")
    args = parser.parse_args(argv)

    from core.training import fast

    os.environ[fast.JAX_CACHE_ENV] = args.jax_cache or tempfile.mkdtemp(prefix="bench-jax-cache-")
    env = environment()
    if args.rows:
        rows = parse_rows(args.rows, args.images)
    else:
        grid = args.grid or ("gpu" if env["accelerator"] else "cpu")
        rows = [(a, b, args.images if args.images else n) for a, b, n in GRIDS[grid]]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for engine in engines:
        fit_with_steps = engine.startswith("fit-spe") and engine[7:].isdigit()
        if engine not in ("fit", "fast", "fast-scans", "fast-steps") and not fit_with_steps:
            raise SystemExit(f"unknown engine {engine!r}")
    print(json.dumps({"environment": env}), flush=True)
    out = open(args.jsonl, "a") if args.jsonl else None
    results = []

    def emit(row):
        line = json.dumps(row)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    for arch, batch_size, n_images in rows:
        config = config_for(arch, batch_size, args.epochs, args.seed)
        data = load_data(config, n_images, args.seed, args.real_data)
        for engine, attempt in [(e, i) for i in range(1, args.repeat + 1) for e in engines]:
            result = full_run(engine, config, data) if args.full_run else time_engine(engine, config, data, args.epochs)
            result = {"architecture": arch, "batch_size": batch_size, "backend": env["backend"], "device": env["device"],
                      "data": "real" if args.real_data else "synthetic", "attempt": attempt, **result,
                      "load_average": [round(x, 2) for x in os.getloadavg()]}
            results.append(result)
            emit(result)
    key = "total_s" if args.full_run else ("epoch_s_min" if args.stat == "min" else "epoch_s")
    if key == "epoch_s_min":  # the table and the summary lines show the fastest epochs
        for r in results:
            r["epoch_s_median"], r["epoch_s"] = r["epoch_s"], r["epoch_s_min"]
            r["images_per_s"] = round(r["train_images"] / r["epoch_s"], 1)
        key = "epoch_s"
    summary = summarize(results, key)
    for row in summary:
        if not args.full_run:
            row["stat"] = args.stat
        emit(row)
    print()
    print(f"{env['backend']} on {env['device']}, keras {env['keras']}, {env['backend']} {env['backend_version']}, "
          f"{env['date']}, load average at start {env['load_average']}, at end {[round(x, 2) for x in os.getloadavg()]}")
    print(f"ratio = fit's time / this engine's time ({args.stat} s/epoch over epochs 2..k; total s with --full-run); "
          "with --repeat, each engine's best attempt")
    if args.full_run:  # every attempt: the second run of a configuration is the compilation cache's case
        fit_best = {(r["architecture"], r["batch_size"]): r[key] for r in summary if r["engine"] == "fit"}
        for r in results:
            reference = fit_best.get((r["architecture"], r["batch_size"]))
            if reference and r["engine"] != "fit":
                r["ratio"] = round(reference / r[key], 2)
        print_table(results, True)
    else:
        print_table(summary, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
