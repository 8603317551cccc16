"""The explainer: a helper process that draws Inspect's "look inside" views, so the web server stays light.

The page asks for a view by writing a small request file; the explainer (`python -m core explainer`, started
by the dashboard like a training worker, one per runs folder) keeps Keras imported and the last models and
test sets loaded, computes the views with core.explain and writes them, once, into a cache folder per run and
image that the page then reads:

    <runs>/.explain/requests/<key>.json                 what to draw (written by the page)
    <runs>/.explain/cache/<run id>/image-<index>/        bundle.json + PNG files (one image's views)
    <runs>/.explain/cache/<run id>/map-<method>.npz      the test set's 2-D map (points, labels, images)

Every result folder or file appears whole (written under a temporary name, then renamed). A view that cannot
be drawn (no model, no dataset on this machine) is a bundle with an "error" sentence. A missing dataset's is
removed by the page's first look once it is ERROR_RETRY_S old, and asked for again: the data may be here now.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from core.data import datasets
from core.explain import views
from core.networks.config import class_names
from core.networks.modelfile import load_model
from core.storage import runs
from core.storage.runs import RunError
from core.system import supervisor
from core.system.files import write_json, write_npz

FOLDER = ".explain"
LOCK = "explainer"
POLL_S = 0.05
IDLE_EXIT_S = 1800
MAP_IMAGES = 1000  # test images on the map (a fixed, seeded sample)
MAP_METHODS = ("pca", "tsne")
SIDE_PX = 224  # pictures are enlarged to about this size, crisp pixels
ERROR_RETRY_S = 30


def _root(runs_dir) -> Path:
    return Path(runs_dir) / FOLDER


def image_dir(runs_dir, run_id: str, index: int) -> Path:
    return _root(runs_dir) / "cache" / run_id / f"image-{index}"


def map_file(runs_dir, run_id: str, method: str) -> Path:
    return _root(runs_dir) / "cache" / run_id / f"map-{method}.npz"


def _request(runs_dir, request: dict) -> None:
    folder = _root(runs_dir) / "requests"
    folder.mkdir(parents=True, exist_ok=True)
    key = "-".join(str(request[k]) for k in ("kind", "run_id", "what"))
    if not (folder / f"{key}.json").exists():
        write_json(folder / f"{key}.json", {**request, "asked": time.time()})


def ask_image(runs_dir, run: runs.Run, index: int) -> dict | None:
    """The bundle of one test image's views if it is drawn, else None (and the explainer is asked for it)."""
    folder = image_dir(runs_dir, run.id, index)
    bundle = read_bundle(folder)
    if bundle is not None and bundle.get("retry") and _older_than(folder / "bundle.json", ERROR_RETRY_S):
        shutil.rmtree(folder, ignore_errors=True)  # drawn again below: the data may be here now
        bundle = None
    if bundle is None:
        _request(runs_dir, {"kind": "image", "run_id": run.id, "run_dir": str(run.path), "what": int(index)})
    return bundle


def ask_map(runs_dir, run: runs.Run, method: str) -> dict | None:
    """The test set's map ({points, y_true, y_pred, index, images}) if it is drawn, else None (and asked for)."""
    if method not in MAP_METHODS:
        raise ValueError(f"unknown projection {method!r}: choose one of {', '.join(MAP_METHODS)}")
    path = map_file(runs_dir, run.id, method)
    drawn = None
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            drawn = {k: npz[k] for k in npz.files}
    if drawn is not None and bool(drawn.get("retry", False)) and _older_than(path, ERROR_RETRY_S):
        path.unlink(missing_ok=True)  # drawn again below: the data may be here now
        drawn = None
    if drawn is None:
        _request(runs_dir, {"kind": "map", "run_id": run.id, "run_dir": str(run.path), "what": method})
    return drawn


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def read_bundle(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "bundle.json").read_text())
    except (OSError, ValueError):
        return None


# --- drawing ------------------------------------------------------------------------------------------

def _enlarge(picture: np.ndarray) -> int:
    return max(1, SIDE_PX // max(picture.shape[:2]))


def _heat_png(heat: np.ndarray, scale: int) -> bytes:
    """A heat map as a colour picture whose transparency follows the heat (overlaid by the page, any opacity)."""
    rgba = np.concatenate([views.colormap(heat), (np.clip(heat, 0, 1) * 255).astype(np.uint8)[..., None]], axis=-1)
    return views.to_png(rgba, scale)


def image_bundle(model, image: np.ndarray, true_class: int, class_names,
                 mirrored: bool = False) -> tuple[dict, dict[str, bytes]]:
    """One image's views: (bundle.json's content, {file name: PNG bytes}). `mirrored`: the run was tested on each image
    and its mirror image (`test_flip`), so its answer here is theirs averaged; the heat maps are of the image."""
    scale = _enlarge(image)
    top = views.top_classes(model, image, k=5, mirrored=mirrored)
    predicted = top[0][0]
    files = {"image.png": views.to_png(image, scale),
             "saliency.png": _heat_png(views.saliency(model, image, predicted), scale)}
    bundle = {"true": int(true_class), "predicted": int(predicted), "class_names": list(class_names),
              "top5": [[int(c), float(p)] for c, p in top], "mirrored": mirrored, "gradcam": {}, "layers": [],
              "filters": None, "templates": None}
    for which, c in (("predicted", predicted), ("true", true_class)):
        cam = views.grad_cam(model, image, c)
        if cam is not None:
            files[f"gradcam-{which}.png"] = _heat_png(cam, scale)
            bundle["gradcam"][which] = f"gradcam-{which}.png"
    for i, (name, kind, shape, values) in enumerate(views.activations(model, image)):
        file = f"layer-{i:02d}.png"
        if len(shape) == 3:  # feature maps, one small picture each
            files[file] = views.to_png(views.grid(views.stretch_each(np.moveaxis(values, -1, 0))), 2)
        else:  # a dense layer's units as a strip
            strip = views.colormap(views.stretch_each(values[None, None, :])[0])
            files[file] = views.to_png(np.repeat(strip, 12, axis=0), 1 if len(values) > 400 else 2)
        bundle["layers"].append({"name": name, "kind": kind, "shape": list(shape), "file": file})
    filters = views.first_layer_filters(model)
    if filters is not None:
        files["filters.png"] = views.to_png(views.grid(filters[..., 0] if filters.shape[-1] == 1 else filters), 8)
        bundle["filters"] = "filters.png"
    templates = views.dense_templates(model)
    if templates is not None:
        # Signed weights on one grey scale per unit: mid-grey is 0, white pushes the unit up, black down.
        limit = np.abs(templates).reshape(len(templates), -1).max(1).reshape(-1, *[1] * (templates.ndim - 1))
        files["templates.png"] = views.to_png(views.grid((templates / np.where(limit > 0, limit, 1) + 1) / 2), 2)
        bundle["templates"] = "templates.png"
    return bundle, files


def map_arrays(model, dataset: datasets.Dataset, predictions: dict, method: str) -> dict[str, np.ndarray]:
    """The last hidden layer of a seeded sample of test images, projected to 2-D, with what the page needs."""
    index = np.sort(np.random.default_rng(0).permutation(len(dataset.x_test))[:MAP_IMAGES])
    points = views.embedding(model, dataset.x_test[index], method=method, seed=0)
    out = {"points": points.astype(np.float32), "index": index.astype(np.int32), "images": dataset.x_test[index],
           "y_true": dataset.y_test[index].astype(np.int16), "y_pred": predictions["y_pred"][index].astype(np.int16)}
    if dataset.y_test_coarse is not None:
        out["y_coarse"] = np.asarray(dataset.y_test_coarse)[index].astype(np.int16)
    return out


# --- the process -------------------------------------------------------------------------------------------

class _Loaded:
    """The last few models and test sets, so that a student clicking through images waits for the views only."""

    def __init__(self, data_dir, size: int = 4):
        self.data_dir, self.size = data_dir, size
        self.models: OrderedDict[str, object] = OrderedDict()
        self.sets: dict[str, datasets.Dataset] = {}

    def model(self, run: runs.Run):
        if not run.has_model:
            raise runs.RunError("it kept its results but not its network (the shipped runs of a curve do, to stay "
                                "small): train the same settings to look inside it")
        key = f"{run.path}:{(run.path / runs.MODEL_FILE).stat().st_mtime_ns}"
        if key not in self.models:
            self.models[key] = load_model(run.path / runs.MODEL_FILE)
            while len(self.models) > self.size:
                self.models.popitem(last=False)
        self.models.move_to_end(key)
        return self.models[key]

    def dataset(self, run: runs.Run) -> datasets.Dataset:
        """The run's dataset, its test set cut to the run's classes (what its predictions index)."""
        name = run.record["dataset"]
        if name not in self.sets:
            self.sets[name] = datasets.load(name, self.data_dir, download=False)
        return datasets.test_of_classes(self.sets[name], run.config.get("class_subset", "all"))


def _write_folder(target: Path, bundle: dict, files: dict[str, bytes]) -> None:
    staging = target.parent / f".{target.name}.{secrets.token_hex(3)}"
    staging.mkdir(parents=True)
    for name, data in files.items():
        (staging / name).write_bytes(data)
    (staging / "bundle.json").write_text(json.dumps(bundle))
    try:
        os.replace(staging, target)
    except OSError:  # drawn meanwhile by another explainer: keep that one
        shutil.rmtree(staging, ignore_errors=True)


def _failed(error: Exception) -> dict:
    """The answer for a view that cannot be drawn. A missing test set is asked for again later (it may arrive);
    other failures stay as they are."""
    if isinstance(error, datasets.DataError):
        return {"error": f"The test images are not on this machine, so its views cannot be drawn: "
                         f"{str(error).rstrip('.')}.", "retry": True}
    return {"error": f"This run's network cannot be loaded or explained: {str(error).rstrip('.')}."}


def handle(request: dict, runs_dir, loaded: _Loaded) -> None:
    """Draw what one request asks for into the cache (an error sentence in the bundle if it cannot be drawn)."""
    run = runs.read_run(Path(request["run_dir"]))
    if request["kind"] == "image":
        target = image_dir(runs_dir, request["run_id"], int(request["what"]))
        try:
            dataset = loaded.dataset(run)
            index = int(request["what"])
            if 0 <= index < len(dataset.x_test):
                bundle, files = image_bundle(loaded.model(run), dataset.x_test[index], int(dataset.y_test[index]),
                                             class_names(run.config), mirrored=bool(run.config.get("test_flip")))
            else:
                bundle, files = {"error": f"There is no test image {index}: the test set has {len(dataset.x_test):,}."}, {}
        except Exception as e:  # noqa: BLE001 - any failure becomes the sentence the page shows
            bundle, files = _failed(e), {}
        _write_folder(target, bundle, files)
    else:
        target = map_file(runs_dir, request["run_id"], request["what"])
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            arrays = map_arrays(loaded.model(run), loaded.dataset(run), run.predictions(),
                                request["what"])
        except Exception as e:  # noqa: BLE001
            arrays = {key: np.array(value) for key, value in _failed(e).items()}
        write_npz(target, **arrays)


def serve(runs_dir, data_dir=None, parent_pid: int | None = None, idle_exit_s: float = IDLE_EXIT_S,
          max_requests: int | None = None) -> int | None:
    """Answer requests, oldest first, until idle for idle_exit_s or, once idle, the server is gone. Returns how many;
    None if another explainer serves this runs folder."""
    loaded = _Loaded(data_dir)
    answered = [0]
    requests = _root(runs_dir) / "requests"
    requests.mkdir(parents=True, exist_ok=True)

    def step() -> bool:
        waiting = sorted(requests.glob("*.json"), key=lambda p: p.stat().st_mtime)
        if not waiting:
            return False
        try:
            handle(json.loads(waiting[0].read_text()), runs_dir, loaded)
        except (OSError, ValueError, KeyError, RunError):
            pass  # a request for a run that is gone, or a half-written file: dropped
        waiting[0].unlink(missing_ok=True)
        answered[0] += 1
        return True

    served = supervisor.serve(runs_dir, LOCK, lambda: step, idle_exit_s=idle_exit_s, poll_s=POLL_S, parent_pid=parent_pid,
                              until=None if max_requests is None else lambda: answered[0] >= max_requests)
    return answered[0] if served else None


def ensure_running(runs_dir, data_dir=None) -> bool:
    """Start the explainer for this runs folder unless one runs; True if started."""
    arguments = ["explainer", "--runs-dir", str(Path(runs_dir).resolve())]
    return supervisor.ensure_helper(runs_dir, LOCK, arguments + (["--data-dir", str(data_dir)] if data_dir else []))
