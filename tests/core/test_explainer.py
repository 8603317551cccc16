"""core.explain.explainer: the helper process that draws Inspect's look-inside views into a cache, off the web server."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.data import datasets
from core.explain import explainer
from core.networks.config import TrainConfig
from core.storage import runs
from core.training.trainer import train

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fashion_data):
    """A real one-epoch run of the small dense network on the toy Fashion-MNIST set."""
    runs_dir = tmp_path_factory.mktemp("runs")
    run_dir = train(TrainConfig(architecture="fmnist_arch1", units=16, epochs=1, limit=300), runs_dir,
                             dataset=fashion_data)
    return runs.read_run(run_dir)


class Loaded(explainer._Loaded):
    """The explainer's cache of models, with the test's dataset instead of a data folder."""

    def __init__(self, dataset):
        super().__init__(None)
        self.sets = {dataset.info.name: dataset}


def test_asking_for_an_image_writes_a_request_and_the_explainer_draws_the_bundle(tmp_path, trained, fashion_data):
    assert explainer.ask_image(tmp_path, trained, 7) is None
    (request,) = (tmp_path / explainer.FOLDER / "requests").glob("*.json")
    explainer.ask_image(tmp_path, trained, 7)  # asking again while it is drawn adds nothing
    assert len(list(request.parent.glob("*.json"))) == 1
    explainer.handle(json.loads(request.read_text()), tmp_path, Loaded(fashion_data))
    bundle = explainer.ask_image(tmp_path, trained, 7)
    assert bundle["true"] == int(fashion_data.y_test[7]) and len(bundle["top5"]) == 5
    assert abs(sum(p for _, p in bundle["top5"])) <= 1.0 + 1e-6 and bundle["top5"][0][0] == bundle["predicted"]
    folder = explainer.image_dir(tmp_path, trained.id, 7)
    names = {p.name for p in folder.iterdir()}
    assert {"image.png", "saliency.png", "templates.png", "bundle.json"} <= names
    assert bundle["gradcam"] == {} and bundle["filters"] is None  # a dense network: no convolution to look at
    assert [layer["kind"] for layer in bundle["layers"]] == ["Dense", "Dense"]
    assert all((folder / layer["file"]).read_bytes().startswith(b"\x89PNG") for layer in bundle["layers"])


def test_an_image_that_cannot_be_drawn_is_a_sentence(tmp_path, trained, fashion_data):
    explainer.handle({"kind": "image", "run_id": trained.id, "run_dir": str(trained.path), "what": 10**6}, tmp_path,
                     Loaded(fashion_data))
    answer = explainer.ask_image(tmp_path, trained, 10**6)
    assert answer == {"error": f"There is no test image 1000000: the test set has {len(fashion_data.x_test):,}."}
    folder = explainer.image_dir(tmp_path, trained.id, 10**6)
    old = time.time() - explainer.ERROR_RETRY_S - 1
    os.utime(folder / "bundle.json", (old, old))
    assert explainer.ask_image(tmp_path, trained, 10**6) == answer  # a mistake that stays one is not asked again


def test_a_run_kept_without_its_network_says_so_instead_of_a_path(tmp_path, trained, fashion_data):
    kept = tmp_path / "kept" / trained.path.name
    shutil.copytree(trained.path, kept)
    (kept / runs.MODEL_FILE).unlink()
    run = runs.read_run(kept)
    explainer.handle({"kind": "image", "run_id": run.id, "run_dir": str(kept), "what": 3}, tmp_path, Loaded(fashion_data))
    answer = explainer.ask_image(tmp_path, run, 3)
    assert "kept its results but not its network" in answer["error"] and str(kept) not in answer["error"]


def test_an_error_is_asked_again_once_old_and_a_drawing_then_replaces_it(tmp_path, trained, fashion_data):
    """The test set was missing when a student first looked; once it is there, the views appear."""
    class NoData(Loaded):
        def dataset(self, name):
            raise datasets.DataError("Fashion-MNIST not found in /nowhere.")

    requests = tmp_path / explainer.FOLDER / "requests"
    image_bundle = explainer.image_dir(tmp_path, trained.id, 7) / "bundle.json"
    for ask, kind, what, path in ((explainer.ask_image, "image", 7, image_bundle),
                                  (explainer.ask_map, "map", "pca", explainer.map_file(tmp_path, trained.id, "pca"))):
        request = {"kind": kind, "run_id": trained.id, "run_dir": str(trained.path), "what": what}
        explainer.handle(request, tmp_path, NoData(fashion_data))
        error = str(ask(tmp_path, trained, what)["error"])
        assert error == ("The test images are not on this machine, so its views cannot be drawn: "
                         "Fashion-MNIST not found in /nowhere.")
        assert not list(requests.glob("*.json"))  # a fresh error is not asked for again at once
        old = time.time() - explainer.ERROR_RETRY_S - 1
        os.utime(path, (old, old))
        assert ask(tmp_path, trained, what) is None and not path.exists()  # the page shows "drawing" again...
        (asked,) = requests.glob("*.json")  # ...and the explainer is asked
        asked.unlink()
        explainer.handle(request, tmp_path, Loaded(fashion_data))
        assert "error" not in ask(tmp_path, trained, what)


def test_the_map_of_the_test_set_holds_each_points_labels_and_image(tmp_path, trained, fashion_data):
    assert explainer.ask_map(tmp_path, trained, "pca") is None
    explainer.handle({"kind": "map", "run_id": trained.id, "run_dir": str(trained.path), "what": "pca"}, tmp_path,
                     Loaded(fashion_data))
    drawn = explainer.ask_map(tmp_path, trained, "pca")
    assert drawn["points"].shape == (len(fashion_data.x_test), 2) and len(drawn["images"]) == len(drawn["index"])
    np.testing.assert_array_equal(drawn["y_true"], fashion_data.y_test[drawn["index"]])
    with pytest.raises(ValueError, match="unknown projection"):
        explainer.ask_map(tmp_path, trained, "umap2")


def test_the_explainer_process_answers_a_request_and_leaves_when_its_server_is_gone(tmp_path, trained, fashion_dir):
    explainer.ask_image(tmp_path, trained, 3)
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "core", "explainer", "--runs-dir", str(tmp_path), "--data-dir",
                             str(fashion_dir), "--parent-pid", str(parent.pid)], cwd=PROJECT, env=env)
    try:
        deadline = time.monotonic() + 240
        while explainer.ask_image(tmp_path, trained, 3) is None:
            assert time.monotonic() < deadline and proc.poll() is None, "the explainer drew nothing"
            time.sleep(0.2)
        assert "error" not in explainer.ask_image(tmp_path, trained, 3)
        parent.kill()
        parent.wait()
        assert proc.wait(timeout=30) == 0
    finally:
        parent.kill()
        proc.kill()
