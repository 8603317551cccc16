"""Small fake run folders for the page tests, and the AppTest set-up that points the pages at them.

The folders are written by tools/fake_runs.py (the trainer's own evaluation code on made-up predictions),
so no training and no Keras: each page test takes a few seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # page scripts import `pages.common`, `core`, ... from the project root
    sys.path.insert(0, str(ROOT))

from core.datasets import CIFAR100_FINE  # noqa: E402
from tools.fake_runs import make_config, make_history, write_broken, write_run  # noqa: E402

PAGES = ROOT / "pages"
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


@pytest.fixture
def run_dirs(tmp_path, monkeypatch):
    """Empty (own, shipped) run folders, set in the environment and in the already imported pages.common."""
    import pages.common

    own, shipped = tmp_path / "runs", tmp_path / "pretrained"
    own.mkdir()
    shipped.mkdir()
    monkeypatch.setenv("CLASSROOM_RUNS_DIR", str(own))
    monkeypatch.setenv("CLASSROOM_PRETRAINED_DIR", str(shipped))
    # pages.common reads the environment once, at its first import: this process may have done so already.
    monkeypatch.setattr(pages.common, "RUNS_DIR", own)
    monkeypatch.setattr(pages.common, "PRETRAINED_DIR", shipped)
    return own, shipped


def app(page: str):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60)


def texts(elements) -> str:
    """Every value of a list of text elements (markdown, info, error...), joined, for `in` checks."""
    return "\n".join(str(e.value) for e in elements)


__all__ = ["N", "Y_TRUE", "TSHIRT", "SHIRT", "app", "cifar_run", "created", "fashion_run", "predictions_with_mistakes",
           "run_dirs", "texts", "write_broken", "write_run", "make_config", "make_history"]
