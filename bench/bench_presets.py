"""Benchmark: how long every preset takes on this machine, at its own batch size and settings.

Not a test. For each preset it trains the preset's network with the fast path (core.training.fast, the engine the
dashboard uses) on random images of the right shape: one warm-up epoch (compilation), then timed epochs of
`--images` images, and extrapolates to the preset's real epoch (45,000 or 51,000 training images) and to its
epochs. Prints a table and one JSON line per preset; README's table of times comes from these lines.

    .venv/bin/python bench/bench_presets.py                       # every preset, about 10 minutes on 2 cores
    .venv/bin/python bench/bench_presets.py --presets cifar-arch3 cifar-fast --images 2048

Other work on the machine slows it down: say what else ran beside the numbers (the JSON line has the load).
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

from core.analysis import estimate  # noqa: E402
from core.data.datasets import DATASET_INFO  # noqa: E402
from core.networks import presets  # noqa: E402
from core.training.compiling import compile_model  # noqa: E402


def measure(preset_id: str, images: int, epochs: int) -> dict:
    """Seconds per timed epoch of `images` random images through the preset's compiled network."""
    import keras

    from core.training import fast

    config = presets.get(preset_id).config
    info = DATASET_INFO[config.dataset]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (images, *info.image_shape), dtype=np.uint8)
    y = rng.integers(0, len(info.class_names), images)
    steps = -(-images // config.batch_size)
    model = compile_model(config, steps)
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.began)

    fast.fit(model, x, y, batch_size=config.batch_size, epochs=1 + epochs, seed=0, callbacks=[Clock()])
    keras.backend.clear_session()
    per_image = float(np.median(times[1:])) / images
    real_images = estimate.training_images(config)
    epoch_s = per_image * real_images
    return {"preset": preset_id, "architecture": config.architecture, "batch_size": config.batch_size,
            "images_per_s": round(1 / per_image, 1), "epoch_s": round(epoch_s, 1), "epochs": config.epochs,
            "train_minutes": round(epoch_s * config.epochs / 60, 1), "first_epoch_s": round(times[0], 2),
            "measured_images": images}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(presets.PRESETS), metavar="PRESET")
    parser.add_argument("--images", type=int, default=1024, help="images per timed epoch (default 1024)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up (default 2)")
    args = parser.parse_args(argv)
    unknown = [p for p in args.presets if p not in presets.PRESETS]
    if unknown:
        parser.error(f"unknown preset(s) {', '.join(unknown)}; `python -m core presets` lists them")
    from core.training.device import environment

    env = environment()
    print(json.dumps({"environment": env, "date": time.strftime("%Y-%m-%d %H:%M"), "load": os.getloadavg()}), flush=True)
    rows = []
    for preset_id in args.presets:
        row = {**measure(preset_id, args.images, args.epochs), "device": env["device"], "load": round(os.getloadavg()[0], 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'preset':<24}{'batch':>6}{'images/s':>10}{'s/epoch':>9}{'epochs':>7}{'minutes':>9}")
    for r in rows:
        print(f"{r['preset']:<24}{r['batch_size']:>6}{r['images_per_s']:>10}{r['epoch_s']:>9}{r['epochs']:>7}"
              f"{r['train_minutes']:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
