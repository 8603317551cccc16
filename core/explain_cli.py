"""`python -m core explain RUN_DIR --index N --out DIR`: the pictures of core.explain for one test image, as PNG files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from core import datasets, explain, modelfile, runs
from core.config import ConfigError, from_dict

MIN_WIDTH = 256  # small pictures (28 x 28) are enlarged pixel by pixel to about this width


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("explain", help="what a trained run's network looks at for one test image (PNG files)")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run's folder")
    parser.add_argument("--index", type=int, default=0, help="the test image's index (default 0)")
    parser.add_argument("--out", required=True, help="folder for the pictures (made if missing)")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST .gz files and/or cifar100.npz")
    parser.set_defaults(func=cmd_explain)


def load_run(run_dir, data_dir=None):
    """(model, dataset) of a run; RunError or DataError with one sentence when either cannot be had."""
    run_dir = Path(run_dir)
    if not (run_dir / runs.RUN_FILE).is_file():
        raise runs.RunError(f"{run_dir} is not a run folder (it has no {runs.RUN_FILE})")
    run = runs.read_run(run_dir)
    try:
        if not isinstance(run.record.get("config"), dict):
            raise ConfigError("it has none")
        dataset_name = from_dict(run.config).dataset
    except ConfigError as e:
        raise runs.RunError(f"{run_dir / runs.RUN_FILE} has no usable config ({e})") from None
    model_path = run_dir / runs.MODEL_FILE
    if not model_path.is_file():
        raise runs.RunError(f"{run_dir} has no {runs.MODEL_FILE} (a run saves its model when training ends; "
                            f"this one is {run.status})")
    dataset = datasets.load(dataset_name, data_dir)  # before the model: a missing dataset is found without loading Keras
    try:
        model = modelfile.load_model(model_path)
    except modelfile.ModelFileError as e:
        raise runs.RunError(str(e)) from None
    except Exception as e:  # Keras fails in many ways on a damaged archive (ValueError, OSError, KeyError, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise runs.RunError(f"{model_path}: Keras cannot load it ({first})") from None
    return model, dataset


def _scale(picture) -> int:
    return max(1, MIN_WIDTH // picture.shape[1])


def pictures(model, image, true_class: int, class_names) -> dict[str, object]:
    """{file name: PNG picture or JSON object} for one image: every view that applies to this network."""
    top = explain.top_classes(model, image, k=5)
    predicted = top[0][0]
    out = {
        "image.png": image,
        "top5.json": {"true": {"class": true_class, "name": class_names[true_class]},
                      "top5": [{"class": c, "name": class_names[c], "probability": p} for c, p in top]},
        "saliency.png": explain.colormap(explain.saliency(model, image, predicted)),
    }
    for which, c in (("predicted", predicted), ("true", true_class)):
        cam = explain.grad_cam(model, image, c)
        if cam is not None:
            out[f"gradcam_{which}.png"] = explain.overlay(image, cam, 0.5)
    for i, (name, _, shape, array) in enumerate(explain.activations(model, image)):
        if len(shape) == 3:
            maps = explain.stretch_each(np.moveaxis(array, -1, 0))
            out[f"activations_{i:02d}_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"] = explain.grid(maps)
    filters = explain.first_layer_filters(model)
    if filters is not None:
        out["filters.png"] = explain.grid(filters[..., 0] if filters.shape[-1] == 1 else filters)
    templates = explain.dense_templates(model)
    if templates is not None:
        # Signed weights on one grey scale per unit: mid-grey is 0, white pushes the unit up, black down.
        limit = np.abs(templates).reshape(len(templates), -1).max(1).reshape(-1, *[1] * (templates.ndim - 1))
        out["dense_templates.png"] = explain.grid((templates / np.where(limit > 0, limit, 1) + 1) / 2)
    return out


def cmd_explain(args) -> int:
    model, dataset = load_run(args.run_dir, args.data_dir)
    n = len(dataset.x_test)
    if not 0 <= args.index < n:
        raise datasets.DataError(f"--index {args.index} is out of range: the {dataset.info.title} test set has {n} images "
                                 f"(0 to {n - 1})")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    image = dataset.x_test[args.index]
    for name, content in pictures(model, image, int(dataset.y_test[args.index]), dataset.info.class_names).items():
        path = out_dir / name
        if name.endswith(".json"):
            path.write_text(json.dumps(content, indent=2))
        else:
            path.write_bytes(explain.to_png(content, _scale(content)))
        print(path)
    return 0
