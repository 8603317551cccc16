import io
import json
import os
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest

from core.metrics import evaluation
from core.networks.config import TrainConfig
from core.storage import results, runs
from core.system.files import write_atomic, write_csv
from core.training import fast


@pytest.fixture(autouse=True)
def _no_real_datasets(sealed_data, tmp_path_factory, monkeypatch):
    # The shipped runs of the checkout must not leak into what the core tests list.
    monkeypatch.setenv("CLASSROOM_PRETRAINED_DIR", str(tmp_path_factory.mktemp("no_shipped_runs")))
    return sealed_data


def keras_archive(config: dict) -> bytes:
    """A .keras zip holding only config.json (what an import inspects without loading Keras)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", json.dumps({"keras_version": "3"}))
    return buffer.getvalue()


@pytest.fixture
def dead_pid() -> int:
    """The id of a process that has just ended here (a killed trainer's, as its run.json would name it)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def fake_run():
    """Makes a sound completed run folder without training (files as core.training writes them)."""

    def make(runs_dir, name="a run", accuracy=0.75, status="completed", **config):
        path = runs.create_run(runs_dir, TrainConfig(epochs=2, limit=100, **config).to_dict(), runs.RunLabels(name),
                               {"backend": "test"})
        write_csv(
            path / runs.HISTORY_FILE,
            pd.DataFrame(
                [
                    {
                        "epoch": 1,
                        "loss": 1.0,
                        "accuracy": 0.5,
                        "val_loss": 1.1,
                        "val_accuracy": 0.5,
                        "learning_rate": 1e-3,
                        "seconds": 1.0,
                    },
                    {
                        "epoch": 2,
                        "loss": 0.5,
                        "accuracy": 0.8,
                        "val_loss": 0.7,
                        "val_accuracy": 0.7,
                        "learning_rate": 1e-3,
                        "seconds": 1.0,
                    },
                ]
            ),
        )
        y_true = np.arange(20) % 10
        y_pred = y_true.copy()
        y_pred[: round(20 * (1 - accuracy))] += 1
        probabilities = np.full((20, 10), 0.01, np.float32)
        probabilities[np.arange(20), y_pred % 10] = 0.91
        results.write_results(path, evaluation.per_example(probabilities, y_true), np.zeros((20, 28, 28, 1), np.uint8),
                           [str(c) for c in range(10)], runs.read_run(path).history().to_dict("records"), test_loss=0.69)
        write_atomic(
            path / runs.MODEL_FILE,
            keras_archive(
                {"module": "keras", "class_name": "Sequential", "config": {"name": "fake", "layers": []}, "registered_name": None}
            ),
        )
        runs.update_record(path, status=status, finished=runs.now_iso())
        return path

    return make


@pytest.fixture(scope="session", autouse=True)
def _jax_compilation_cache(tmp_path_factory):
    """JAX's persistent compilation cache (core.training.fast) goes to one temporary folder for the whole session,
    shared by pytest-xdist's workers and the processes the tests start, never ~/.cache. Switched on from the start:
    the tests build many networks of one shape, and each new model would compile its steps again (4.5 s for the
    Fashion-MNIST CNN; 0.8 s from the cache, measured on the 2-core CPU)."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "jax-cache"
    patch = pytest.MonkeyPatch()
    patch.setenv(fast.JAX_CACHE_ENV, str(shared))
    fast.enable_compilation_cache()
    yield
    patch.undo()
