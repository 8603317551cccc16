"""Page tests: the whole app (entry, navigation, page) in AppTest, its folders in tmp, no worker processes.

Run folders are written by tools/fake_runs.py through core.storage.runs.write_results, as a trainer writes them;
queue jobs go through core.queue.jobs the way the page and a worker move them. Every page test opens its page
through the entry (`open_page`), as a browser does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "tests" / "pages") not in sys.path:  # run_factory, the fake runs' builders
    sys.path.insert(0, str(ROOT / "tests" / "pages"))

from core.data.datasets import DATASET_INFO  # noqa: E402
from core.networks.presets import PRESETS  # noqa: E402
from core.queue import jobs, worker  # noqa: E402
from core.queue.queue import Queue  # noqa: E402
from core.system import supervisor  # noqa: E402
from tools.fake_runs import make_config, make_history  # noqa: E402
from tools.fake_runs import write_run as write_fake_run  # noqa: E402
from ui import navigation, session  # noqa: E402

CLIENT = "test-client"


@pytest.fixture
def dirs(tmp_path, monkeypatch, sealed_data, fashion_dir):
    """Runs and shipped runs in tmp, set as the deployment's settings; Fashion-MNIST only in a tiny data dir,
    CIFAR-100 nowhere; worker starts recorded instead of made."""
    folders = {"runs": tmp_path / "runs", "pretrained": tmp_path / "pretrained", "data": fashion_dir}
    folders["runs"].mkdir()
    folders["pretrained"].mkdir()
    monkeypatch.setenv("CLASSROOM_RUNS_DIR", str(folders["runs"]))
    monkeypatch.setenv("CLASSROOM_PRETRAINED_DIR", str(folders["pretrained"]))
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(fashion_dir))
    session.settings.cache_clear()  # the server reads its settings once; each test is a new deployment
    # An app exception shows its traceback to the test, as on a laptop (ui.navigation.error_details; its own test
    # puts the real rule back from folders["error_details"]).
    folders["error_details"] = navigation.error_details
    monkeypatch.setattr(navigation, "error_details", lambda address, with_sign_in: "full")
    started, helpers = [], []
    monkeypatch.setattr(worker, "ensure_workers",
                        lambda runs_dir, slots=None, ray_address=None: started.append(Path(runs_dir)) or [])
    monkeypatch.setattr(supervisor, "ensure_helper", lambda runs_dir, name, arguments: helpers.append(name) or True)
    folders["workers_started"], folders["helpers_started"] = started, helpers
    yield folders
    session.settings.cache_clear()


@pytest.fixture
def make_app(dirs):
    """Makes a fresh browser on the whole app (entry + navigation), with a known client id."""
    from streamlit.testing.v1 import AppTest

    def make():
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        at.query_params["client"] = CLIENT
        return at

    return make


@pytest.fixture
def app(make_app):
    """This test's browser on the whole app."""
    return make_app()


def _open_page(at, page: str, check: bool = True):
    at.run()
    if page != "pages/home.py":
        at.switch_page(page).run()
    if check:
        assert not at.exception, at.exception[0].message
    return at


def _write_run(folder: Path, preset: str = "fmnist-arch1-tr1", name: str = "a test run", status: str = "completed",
               epochs: int = 4, run_id: str | None = None, accuracy: float = 0.87, n_test: int = 1000, **overrides) -> Path:
    """A run of a preset with `accuracy` on a test set of n_test images, as training leaves it."""
    config = make_config(preset=preset, epochs=epochs, **overrides)
    classes = len(DATASET_INFO[config["dataset"]].class_names)
    y_true = np.arange(n_test) % classes
    y_pred = np.where(np.arange(n_test) < round(accuracy * n_test), y_true, (y_true + 1) % classes)
    return write_fake_run(folder, name=name, y_true=y_true, y_pred=y_pred, dataset=config["dataset"], preset=preset,
                          config=config, history=make_history(epochs, 0.86, 0.84, 0.4, 0.45), status=status, run_id=run_id)


def _job_in_state(runs_dir: Path, status: str, owner: str = CLIENT, name: str = "a test run", **overrides) -> jobs.Job:
    """A queue job moved to `status` the way the page and a worker move it (this process plays the worker)."""
    queue = Queue(runs_dir)
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
