"""`python -m core explain RUN_DIR --index N --out DIR`: the Inspect page's views of one test image, as files.

The same pictures the explainer draws for the page (core.explain.explainer.image_bundle): the image, Grad-CAM and saliency
as heat maps whose transparency follows the heat (lay them over image.png), each layer, the first-layer filters
or the dense templates, and bundle.json (top 5, what each file shows)."""

from __future__ import annotations

import json
from pathlib import Path

from core.data import datasets
from core.explain import explainer
from core.networks import modelfile
from core.networks.config import ConfigError, class_names, from_dict
from core.storage import runs


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("explain", help="what a trained run's network looks at for one test image (PNG files)")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run's folder")
    parser.add_argument("--index", type=int, default=0, help="the test image's index (default 0)")
    parser.add_argument("--out", required=True, help="folder for the pictures (made if missing)")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST .gz files and/or cifar100.npz")
    parser.set_defaults(func=cmd_explain)


def load_run(run_dir, data_dir=None):
    """(model, test set, config) of a run; RunError or DataError with one sentence when one cannot be had."""
    run_dir = Path(run_dir)
    if not (run_dir / runs.RUN_FILE).is_file():
        raise runs.RunError(f"{run_dir} is not a run folder (it has no {runs.RUN_FILE})")
    run = runs.read_run(run_dir)
    try:
        if not isinstance(run.record.get("config"), dict):
            raise ConfigError("it has none")
        config = from_dict(run.config)
    except ConfigError as e:
        raise runs.RunError(f"{run_dir / runs.RUN_FILE} has no usable config ({e})") from None
    model_path = run_dir / runs.MODEL_FILE
    if not model_path.is_file():
        raise runs.RunError(f"{run_dir} has no {runs.MODEL_FILE} (a run saves its model when training ends; "
                            f"this one is {run.status})")
    # Before the model: a missing dataset is found without loading Keras. The test set of the run's classes.
    dataset = datasets.test_of_classes(datasets.load(config.dataset, data_dir), config.class_subset)
    try:
        model = modelfile.load_model(model_path)
    except modelfile.ModelFileError as e:
        raise runs.RunError(str(e)) from None
    except Exception as e:  # Keras fails in many ways on a damaged archive (ValueError, OSError, KeyError, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise runs.RunError(f"{model_path}: Keras cannot load it ({first})") from None
    return model, dataset, config


def cmd_explain(args) -> int:
    model, dataset, config = load_run(args.run_dir, args.data_dir)
    n = len(dataset.x_test)
    if not 0 <= args.index < n:
        raise datasets.DataError(f"--index {args.index} is out of range: the {dataset.info.title} test set has {n} images "
                                 f"(0 to {n - 1})")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle, files = explainer.image_bundle(model, dataset.x_test[args.index], int(dataset.y_test[args.index]),
                                           class_names(config), mirrored=config.test_flip)
    for name, png in {**files, "bundle.json": json.dumps(bundle, indent=2).encode()}.items():
        (out_dir / name).write_bytes(png)
        print(out_dir / name)
    return 0
