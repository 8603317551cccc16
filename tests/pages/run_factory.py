"""Small fake run folders for the page tests (the set-up that points the pages at them is in conftest.py).

The folders are written by tools/fake_runs.py (the trainer's own evaluation code on made-up predictions),
so no training and no Keras: each page test takes a few seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from core.data.datasets import CIFAR100_FINE
from core.networks.presets import PRESETS
from tools.fake_runs import make_config, make_history, write_broken, write_run

N = 200  # test images per fake Fashion-MNIST run: 20 of each class, in class order
Y_TRUE = np.repeat(np.arange(10), N // 10)
TSHIRT, SHIRT = 0, 6


def created(minute: int) -> str:
    """A creation time; list_runs sorts by it, newest first."""
    return f"2026-11-20T10:{minute:02d}:00+00:00"


def predictions_with_mistakes(wrong: range | list[int], predicted: int = SHIRT) -> np.ndarray:
    """Y_TRUE with the examples at `wrong` predicted as `predicted`."""
    y_pred = Y_TRUE.copy()
    y_pred[list(wrong)] = predicted
    return y_pred


def fashion_run(folder: Path, name: str, wrong, minute: int, **config) -> Path:
    """A completed Fashion-MNIST run whose only mistakes are the examples at `wrong`, called Shirt."""
    cfg = make_config("fashion_mnist", **config)
    acc = 1 - len(wrong) / N
    return write_run(folder, name=name, y_true=Y_TRUE, y_pred=predictions_with_mistakes(wrong), config=cfg,
                     history=make_history(5, 0.97, acc, 0.1, 0.3), created=created(minute))


def cifar_run(folder: Path, name: str, minute: int) -> Path:
    """A CIFAR-100 run on 2 images a class: both maple trees taken for oak trees (same superclass,
    'trees'), one apple taken for a bear (superclass fruit and vegetables -> large carnivores)."""
    y_true = np.repeat(np.arange(100), 2)
    y_pred = y_true.copy()
    maple, oak, apple, bear = (CIFAR100_FINE.index(c) for c in ("maple_tree", "oak_tree", "apple", "bear"))
    y_pred[y_true == maple] = oak
    y_pred[np.flatnonzero(y_true == apple)[0]] = bear
    cfg = make_config("cifar100", epochs=5)
    return write_run(folder, name=name, dataset="cifar100", y_true=y_true, y_pred=y_pred, config=cfg,
                     history=make_history(5, 0.6, 0.98, 1.0, 1.5), created=created(minute))


def texts(elements) -> str:
    """Every value of a list of text elements (markdown, info, error...), joined, for `in` checks; user text
    as it reads on the page (without the backslashes that keep it from being Markdown)."""
    return re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in elements))


def reproduce(folder, preset, *, train=(0.95, 0.2), val=(0.89, 0.4), minute=1, status="completed", name=None, **changes):
    """A fake run of `preset` whose last epoch ends at the given (accuracy, loss) pairs."""
    config = make_config(preset=preset, **changes)
    reference = PRESETS[preset].config.to_dict()
    return write_run(folder, name=name or PRESETS[preset].title, preset=preset, config=config, status=status,
                     y_true=Y_TRUE, y_pred=predictions_with_mistakes(range(0, 22)),
                     history=make_history(config["epochs"], train[0], val[0], train[1], val[1]),
                     differs_from_preset={k: [reference[k], v] for k, v in config.items() if reference[k] != v},
                     created=created(minute))


__all__ = ["N", "Y_TRUE", "TSHIRT", "SHIRT", "cifar_run", "created", "fashion_run", "predictions_with_mistakes",
           "texts", "write_broken", "write_run", "make_config", "make_history",
           "reproduce"]
