"""Write realistic FAKE run folders, for the page tests and for looking at the dashboard without training.

The files follow docs/run-format.md and are made by the same code the trainer uses
(core.metrics.evaluation.summarize / select_mistakes / history_summary), so the pages see exactly what a real
run holds; only the predictions and the learning curves are simulated. No Keras.

    .venv/bin/python tools/fake_runs.py /tmp/demo      # writes /tmp/demo/pretrained and /tmp/demo/runs
    CLASSROOM_PRETRAINED_DIR=/tmp/demo/pretrained CLASSROOM_RUNS_DIR=/tmp/demo/runs make run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data.datasets import CIFAR100_FINE_TO_COARSE, DATASET_INFO  # noqa: E402
from core.networks.config import TrainConfig, from_dict  # noqa: E402
from core.networks.presets import PRESETS  # noqa: E402
from core.storage import (
    results,
    runs,  # noqa: E402
)
from core.system.files import write_csv, write_json

DEFAULT_ARCH = {"fashion_mnist": "fmnist_arch1", "cifar100": "cifar_arch1"}
# Fashion-MNIST's usual confusions (true -> likely wrong answers), so fake mistakes look like real ones.
FASHION_NEIGHBOURS = {0: [6, 2, 3], 1: [3], 2: [4, 6], 3: [4, 0, 6], 4: [2, 6, 3], 5: [7, 9], 6: [0, 2, 4],
                      7: [5, 9], 8: [6, 0], 9: [7, 5]}
# How hard each class is (added to an image's difficulty): shirts are the classic trouble, trousers easy.
FASHION_HARDNESS = np.array([0.25, -0.4, 0.3, 0.1, 0.3, -0.2, 0.6, -0.1, -0.35, -0.15])


def make_config(dataset: str = "fashion_mnist", preset: str | None = None, **overrides) -> dict:
    base = (
        PRESETS[preset].config.to_dict() if preset else TrainConfig(dataset=dataset, architecture=DEFAULT_ARCH[dataset]).to_dict()
    )
    return from_dict({**base, **overrides}).to_dict()


def make_history(epochs: int, train_acc: float, val_acc: float, train_loss: float, val_loss: float,
                 rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Learning curves that level off at the given final values, with a little noise."""
    rng = rng or np.random.default_rng(0)
    t = np.arange(1, epochs + 1)
    ramp = 1 - np.exp(-t / max(1.0, epochs / 6))
    s = (ramp - ramp[0]) / (ramp[-1] - ramp[0]) if epochs > 1 else np.ones(1)  # 0 at epoch 1, 1 at the end
    wiggle = lambda scale: rng.normal(0, scale, epochs) * (t < epochs)  # noqa: E731 - the last epoch is exact
    curve = lambda start, end, scale: start + (end - start) * s + wiggle(scale)  # noqa: E731
    return pd.DataFrame({
        "epoch": t,
        "loss": curve(max(2.0, train_loss), train_loss, 0.01),
        "accuracy": curve(min(0.3, train_acc), train_acc, 0.003),
        "val_loss": curve(max(1.8, val_loss), val_loss, 0.02),
        "val_accuracy": curve(min(0.35, val_acc), val_acc, 0.006),
        "learning_rate": 1e-3,
        "seconds": 5.0,
    })


def simulate_predictions(y_true: np.ndarray, accuracy: float, classes: int, dataset: str,
                         difficulty: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Predicted labels: the hardest (1 - accuracy) share of the examples are wrong, confused the usual way.

    Runs that share `difficulty` make correlated mistakes, as real runs on the same test set do."""
    score = difficulty + rng.normal(0, 0.15, len(y_true))
    wrong = score > np.quantile(score, accuracy)
    y_pred = y_true.copy()
    for i in np.flatnonzero(wrong):
        t = int(y_true[i])
        if dataset == "fashion_mnist" and rng.random() < 0.9:
            y_pred[i] = rng.choice(FASHION_NEIGHBOURS[t])
        elif dataset == "cifar100" and rng.random() < 0.5:
            same = [c for c in range(classes) if CIFAR100_FINE_TO_COARSE[c] == CIFAR100_FINE_TO_COARSE[t] and c != t]
            y_pred[i] = rng.choice(same)
        else:
            y_pred[i] = rng.choice([c for c in range(classes) if c != t])
    return y_pred


def write_run(folder, *, name: str, y_true, y_pred, dataset: str = "fashion_mnist", preset: str | None = None,
              config: dict | None = None, images: np.ndarray | None = None, history: pd.DataFrame | None = None,
              status: str = "completed", created: str | None = None, differs_from_preset: dict | None = None,
              error: str | None = None, seed: int = 0, run_id: str | None = None,
              environment: dict | None = None) -> Path:
    """One run folder as the trainer writes it; `status` other than completed leaves the end files out."""
    rng = np.random.default_rng(seed)
    info = DATASET_INFO[dataset]
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    config = config or make_config(dataset, preset)
    path = runs.create_run(folder, config, runs.RunLabels(name, preset),
                           environment or {"backend": "fake", "device": "none", "accelerator": False}, run_id)
    if created:
        runs.update_record(path, created=created)
    if history is None:
        history = make_history(config["epochs"], 0.95, float(np.mean(y_true == y_pred)), 0.2, 0.4, rng)
    write_csv(path / runs.HISTORY_FILE, history)
    n_train = 60000 if dataset == "fashion_mnist" else 50000
    n_validation = int(round(n_train * config["validation_split"]))
    if differs_from_preset is None and preset:
        differs_from_preset = PRESETS[preset].differences(config)
    changes = {
        "differs_from_preset": differs_from_preset or {},
        "epochs_trained": len(history),
        "data": {
            "source": "fake",
            "train": n_train - n_validation,
            "validation": n_validation,
            "test": len(y_true),
            "limit": None,
        },
    }
    if status in ("completed", "cancelled"):
        confidence = rng.uniform(0.4, 0.995, len(y_true)).astype(np.float32)
        right = y_true == y_pred
        p_true = np.where(right, confidence, (1 - confidence) * rng.uniform(0.05, 0.9, len(y_true))).astype(np.float32)
        pred = {"y_true": y_true.astype(np.int16), "y_pred": y_pred.astype(np.int16), "confidence": confidence,
                "p_true": p_true, "loss": (-np.log(np.clip(p_true, 1e-7, 1))).astype(np.float32)}
        if images is None:
            images = rng.integers(0, 256, (len(y_true), *info.image_shape), dtype=np.uint8)
        results.write_results(path, pred, images, info.class_names, history.to_dict("records"),
                           test_loss=float(np.mean(pred["loss"])) + 0.05)
        changes.update(finished=runs.now_iso(), durations={"data_s": 1.0, "fit_s": 250.0, "total_s": 260.0})
    runs.update_record(path, status=status, error=error, **changes)
    return path


def write_broken(folder, run_id: str = "20260101-000000-0badf0", name: str = "half-copied run") -> Path:
    """A folder that says 'completed' but lacks its results (e.g. copied by hand, half-way)."""
    path = Path(folder) / run_id
    path.mkdir(parents=True)
    write_json(path / runs.RUN_FILE, {"id": run_id, "name": name, "status": "completed", "config": {},
                                           "created": "2026-01-01T00:00:00+00:00"})
    return path


# --- the demo set ---------------------------------------------------------------------------------

def real_test_set(dataset: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The real test images and labels when the dataset is on this machine (makes the gallery realistic)."""
    from core.data.datasets import CIFAR_NPZ, DEBIAN_FASHION_DIR, DataError, read_idx_gz

    try:
        if dataset == "fashion_mnist":
            x = read_idx_gz(DEBIAN_FASHION_DIR / "t10k-images-idx3-ubyte.gz", 3)[..., None]
            return x, read_idx_gz(DEBIAN_FASHION_DIR / "t10k-labels-idx1-ubyte.gz", 1).astype(np.int64)
        path = Path(__file__).resolve().parent.parent / ".data" / CIFAR_NPZ
        with np.load(path, allow_pickle=False) as npz:
            return npz["x_test"], npz["y_test_fine"].reshape(-1).astype(np.int64)
    except (OSError, ValueError, KeyError, DataError):  # not on this machine: the demo uses noise
        return None


def demo(root: Path) -> None:
    rng = np.random.default_rng(7)
    sets = {}
    for dataset, classes in (("fashion_mnist", 10), ("cifar100", 100)):
        real = real_test_set(dataset)
        if real is None:
            labels = np.repeat(np.arange(classes), 10000 // classes)
            real = (rng.integers(0, 256, (len(labels), *DATASET_INFO[dataset].image_shape), dtype=np.uint8), labels)
        hardness = FASHION_HARDNESS[real[1]] if dataset == "fashion_mnist" else 0.0
        sets[dataset] = (*real, rng.random(len(real[1])) + hardness)

    def run(folder, name, dataset, test_acc, train, val, created, preset=None, seed=0, **kw):
        x, y, difficulty = sets[dataset]
        r = np.random.default_rng(seed)
        y_pred = simulate_predictions(y, test_acc, len(DATASET_INFO[dataset].class_names), dataset, difficulty, r)
        cfg = kw.pop("config", None) or make_config(dataset, preset)
        hist = make_history(kw.pop("epochs", cfg["epochs"]), train[0], val[0], train[1], val[1], r)
        return write_run(folder, name=name, dataset=dataset, preset=preset, config=cfg, y_true=y, y_pred=y_pred,
                         images=x, history=hist, created=created, seed=seed, **kw)

    shipped, own = root / "pretrained", root / "runs"
    day = "2026-11-20T10:{:02d}:00+00:00"
    for i, (preset, acc, train, val) in enumerate([
        ("fmnist-arch1-tr1", 0.884, (0.945, 0.150), (0.889, 0.47)),
        ("fmnist-arch1-tr2", 0.770, (0.781, 1.05), (0.779, 1.02)),
        ("fmnist-arch1-tr3", 0.858, (0.874, 0.42), (0.861, 0.47)),
        ("fmnist-arch2-tr1", 0.889, (0.951, 0.18), (0.893, 0.39)),
        ("fmnist-arch2-tr2", 0.883, (0.905, 0.31), (0.889, 0.38)),
        ("cifar-arch1-lr0.01", 0.29, (0.52, 1.55), (0.29, 2.6)),
        ("cifar-arch2", 0.45, (0.63, 1.4), (0.46, 2.2)),
    ]):
        ds = PRESETS[preset].config.dataset
        run(shipped, PRESETS[preset].title, ds, acc, train, val, day.format(i), preset=preset, seed=i)
    cfg = make_config(preset="cifar-arch3", epochs=5)
    run(shipped, PRESETS["cifar-arch3"].title, "cifar100", 0.33, (0.55, 1.7), (0.34, 2.6), day.format(20),
        preset="cifar-arch3", seed=20, config=cfg, differs_from_preset={"epochs": [50, 5]})
    run(own, "My run: dropout 0.3, batch 64", "fashion_mnist", 0.893, (0.93, 0.22), (0.895, 0.33),
        "2026-11-26T09:00:00+00:00", seed=30, config=make_config(preset="fmnist-arch2-tr1", dropout=0.3, batch_size=64))
    run(own, "Same, learning rate 0.001", "fashion_mnist", 0.886, (0.94, 0.19), (0.887, 0.36),
        "2026-11-26T09:30:00+00:00", seed=31,
        config=make_config(preset="fmnist-arch2-tr1", dropout=0.3, batch_size=64, learning_rate=1e-3))
    run(own, "Too big a learning rate", "fashion_mnist", 0.0, (0.10, 2.3), (0.10, 2.3), "2026-11-26T10:00:00+00:00",
        seed=32, config=make_config(learning_rate=0.5), status="failed", epochs=3,
        error="FloatingPointError: the loss became NaN at epoch 3 (learning rate 0.5 is too large)")
    write_broken(own)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder to fill with pretrained/ and runs/ (must not exist)")
    args = parser.parse_args(argv)
    if args.root.exists():
        parser.error(f"{args.root} exists; choose a new folder")
    demo(args.root)
    print(f"CLASSROOM_PRETRAINED_DIR={args.root / 'pretrained'} CLASSROOM_RUNS_DIR={args.root / 'runs'}")
    return 0


def per_class_run(folder, per_class: int, start: str | None, right: int, minute: int):
    """A run on CIFAR-100's second half with `per_class` images a class, right on the first `right` of 100 test images."""
    y_true = np.arange(100) % 50
    y_pred = np.where(np.arange(100) < right, y_true, (y_true + 1) % 50)
    changes = {"class_subset": "second_half", "per_class": per_class}
    if start:
        changes.update(start_from="preset:cifar-half-pretrain", transfer=start)
    path = write_run(folder, name=f"{per_class} {start or 'scratch'}", y_true=y_true, y_pred=y_pred, dataset="cifar100",
                     preset="cifar-half-scratch", config=make_config(preset="cifar-half-scratch", **changes),
                     created=f"2026-12-07T08:{minute:02d}:00+00:00")
    runs.update_record(path, data={"source": "fake", "train": per_class * 50, "validation": 1250, "test": 100})
    return path


if __name__ == "__main__":
    raise SystemExit(main())
