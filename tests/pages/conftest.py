"""Page tests: the real app in AppTest, with its folders in tmp and no worker processes.

Run folders are written through core.runs (and core.evaluation for the metrics), so the pages read
exactly what a trainer writes; queue jobs go through core.jobs the way the page and a worker move them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import evaluation, jobs, runs, worker
from core.datasets import DATASET_INFO
from core.presets import PRESETS

ROOT = Path(__file__).resolve().parents[2]
CLIENT = "test-client"


@pytest.fixture
def dirs(tmp_path, monkeypatch, sealed_data, fashion_dir):
    """Runs and shipped runs in tmp; Fashion-MNIST only in a tiny data dir, CIFAR-100 nowhere; no worker spawns."""
    import pages.common as common

    folders = {"runs": tmp_path / "runs", "pretrained": tmp_path / "pretrained", "data": fashion_dir}
    folders["pretrained"].mkdir()
    monkeypatch.setattr(common, "RUNS_DIR", folders["runs"])
    monkeypatch.setattr(common, "PRETRAINED_DIR", folders["pretrained"])
    monkeypatch.setattr(common, "DATA_DIR", str(fashion_dir))
    started = []
    monkeypatch.setattr(worker, "ensure_workers", lambda runs_dir, slots=None: started.append(Path(runs_dir)) or [])
    folders["workers_started"] = started
    return folders


@pytest.fixture
def app(dirs):
    """The whole app (entry + navigation) as this test's browser, with a known client id."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["client"] = CLIENT
    return at


def _open_page(at, page: str):
    at.run()
    if page != "pages/home.py":
        at.switch_page(page).run()
    assert not at.exception, at.exception[0].message
    return at


def _write_run(folder: Path, preset: str = "fmnist-arch1-tr1", name: str = "a test run", status: str = "completed",
              epochs: int = 4, run_id: str | None = None, accuracy: float = 0.87, n_test: int = 1000, **overrides) -> Path:
    """A run folder as training leaves it: record, per-epoch history, predictions, mistakes, metrics."""
    config = PRESETS[preset].config.replace(epochs=epochs, **overrides).to_dict()
    path = runs.create_run(folder, config, name, preset, {"backend": "tensorflow", "device": "CPU (test)"}, run_id)
    history = pd.DataFrame([{"epoch": e, "loss": 1 / e, "accuracy": 0.7 + 0.04 * e, "val_loss": 1.1 / e,
                             "val_accuracy": 0.68 + 0.04 * e, "learning_rate": 1e-3, "seconds": 2.0}
                            for e in range(1, epochs + 1)])
    runs.write_csv(path / runs.HISTORY_FILE, history)
    if status in ("completed", "cancelled"):
        classes = DATASET_INFO[config["dataset"]].class_names
        rng = np.random.default_rng(0)
        y_true = np.arange(n_test) % len(classes)
        right = np.arange(n_test) < round(accuracy * n_test)
        y_pred = np.where(right, y_true, (y_true + 1) % len(classes))
        probabilities = np.full((n_test, len(classes)), 0.02, np.float32)
        probabilities[np.arange(n_test), y_pred] = 0.8 + 0.1 * rng.random(n_test)
        pred = evaluation.per_example(probabilities, y_true)
        keep = evaluation.select_mistakes(pred)
        runs.write_npz(path / runs.PREDICTIONS_FILE, **pred)
        runs.write_npz(path / runs.MISCLASSIFIED_FILE, index=keep, image=np.zeros((len(keep), 28, 28, 1), np.uint8),
                       **{k: v[keep] for k, v in pred.items()})
        metrics = {"test_loss": 0.4, **evaluation.summarize(pred, classes),
                   **evaluation.history_summary(history.to_dict("records"))}
        runs.write_json(path / runs.METRICS_FILE, metrics)
    runs.update_record(path, status=status, finished=runs.now_iso() if status != "running" else None,
                       durations={"total_s": 75.0}, epochs_trained=epochs)
    return path


def _job_in_state(runs_dir: Path, status: str, owner: str = CLIENT, name: str = "a test run", **overrides) -> dict:
    """A queue job moved to `status` the way the page and a worker move it (this process plays the worker)."""
    queue = jobs.Queue(runs_dir)
    config = PRESETS["fmnist-arch1-tr1"].config.replace(**overrides)
    job_id = queue.submit(jobs.make_job(config, runs_dir, name=name, preset="fmnist-arch1-tr1"), owner=owner)
    if status != "queued":
        queue.claim()
    if status in ("completed", "cancelled", "failed"):
        queue.finish(job_id, status, "RuntimeError: boom" if status == "failed" else None)
    return queue.get(job_id)


# The helpers as fixtures: test modules share them without importing this conftest by name.
@pytest.fixture
def open_page():
    return _open_page


@pytest.fixture
def write_run():
    return _write_run


@pytest.fixture
def job_in_state():
    return _job_in_state


@pytest.fixture
def client():
    return CLIENT
