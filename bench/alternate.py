"""Training epochs of fit and fast, alternated: the check for a shared, busy machine.

bench_train.py runs all epochs of one engine, then all of the other; on a machine whose load changes
by the minute the two then see different machines. Here both models are built first, and one training
epoch of each (no validation) alternates for --rounds rounds, so both see the same load; the minimum
and the median of each are printed, with the ratios fit / fast, as a line and as JSON.

    .venv/bin/python bench/alternate.py --rows fmnist_arch2:256 cifar_arch1:32 --rounds 10
    KERAS_BACKEND=jax .venv/bin/python bench/alternate.py --rows fmnist_arch2:32
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench.bench_train import config_for, environment, parse_rows  # noqa: E402
from core.data import datasets  # noqa: E402

DEFAULT_STEPS = 50  # training steps per epoch unless --images


def measure(arch: str, batch_size: int, images: int | None, rounds: int, seed: int) -> dict:
    import keras

    from core.training.compiling import compile_model
    from core.training.inputs import one_hot
    from core.training.stepper_jax import JaxStepper
    from core.training.stepper_tf import TFStepper

    config = config_for(arch, batch_size, 1, seed)
    info = datasets.DATASET_INFO[config.dataset]
    classes = len(info.class_names)
    n = images or DEFAULT_STEPS * batch_size
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, *info.image_shape), dtype=np.uint8)
    y = rng.integers(0, classes, n)
    y_hot = one_hot(y, classes)
    steps = -(-n // batch_size)
    reference = compile_model(config, steps, 1)
    reference.fit(x, y_hot, batch_size=batch_size, epochs=1, verbose=0)  # compiled
    model = compile_model(config, steps)
    stepper = (JaxStepper if keras.backend.backend() == "jax" else TFStepper)(
        model, x, y, None, batch_size, classes, None)
    full = n // batch_size

    def fast_epoch():
        stepper.begin_epoch(rng.permutation(n).astype(np.int32))
        stepper.train(0, full)
        if stepper.rest:
            stepper.train_rest()
        stepper.train_logs()

    fast_epoch()  # compiled
    times = {"fit": [], "fast": []}
    for _ in range(rounds):
        for name, run in (("fit", lambda: reference.fit(x, y_hot, batch_size=batch_size, epochs=1, verbose=0)),
                          ("fast", fast_epoch)):
            began = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - began)
    keras.backend.clear_session()
    out = {"architecture": arch, "batch_size": batch_size, "train_images": n, "rounds": rounds}
    for name, values in times.items():
        out[f"{name}_min_s"] = round(min(values), 4)
        out[f"{name}_median_s"] = round(float(np.median(values)), 4)
    out["ratio_min"] = round(out["fit_min_s"] / out["fast_min_s"], 2)
    out["ratio_median"] = round(out["fit_median_s"] / out["fast_median_s"], 2)
    out["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", required=True, metavar="ARCH:BS[,BS]")
    parser.add_argument("--images", type=int, help=f"training images (default: {DEFAULT_STEPS} batches)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    env = environment()
    print(json.dumps({"environment": env}), flush=True)
    for arch, batch_size, _ in parse_rows(args.rows, None):
        r = measure(arch, batch_size, args.images, args.rounds, args.seed)
        print(json.dumps(r), flush=True)
        print(f"{arch} batch {batch_size}, {r['train_images']} images, {args.rounds} rounds: fit {r['fit_min_s']:.3f} s "
              f"(median {r['fit_median_s']:.3f}), fast {r['fast_min_s']:.3f} s (median {r['fast_median_s']:.3f}): "
              f"ratio {r['ratio_min']:.2f} (median {r['ratio_median']:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
