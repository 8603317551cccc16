"""The data a run trains on: the first `limit` training images, the chosen classes, split into training and
validation by the run's seed, then at most `per_class` training images of each class; the test set's images of the
chosen classes.

A run's training and validation images are rows of the dataset's own array (`Rows`), not copies of them: a worker
that trains thirty runs of one dataset by turns keeps the images once (core.training.stepper.resident), where copies
took 90 MB a Fashion-MNIST run and 300 MB a CIFAR-100 one."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from core.data import datasets
from core.networks.config import TrainConfig, class_names


@dataclass(frozen=True)
class Rows:
    """Some rows of a shared array, in order: `source[index]` without the copy."""

    source: np.ndarray
    index: np.ndarray  # int positions into source

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.source.shape[1:])

    def copy(self) -> np.ndarray:
        return self.source[self.index]


def split_rows(x) -> tuple[np.ndarray, np.ndarray]:
    """(the array the images live in, int32 positions of the images in it) for Rows or a plain array."""
    if isinstance(x, Rows):
        return x.source, x.index.astype(np.int32)
    x = np.asarray(x)
    return x, np.arange(len(x), dtype=np.int32)


@dataclass
class PreparedData:
    train_rows: Rows
    y_train: np.ndarray
    val_rows: Rows
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: datasets.DatasetInfo
    source: str
    class_names: tuple[str, ...]  # of the chosen classes, in the network's order

    @cached_property
    def x_train(self) -> np.ndarray:
        """The training images as an array of their own (model.fit and the learning-rate finder want one)."""
        return self.train_rows.copy()

    @cached_property
    def x_val(self) -> np.ndarray:
        return self.val_rows.copy()


def prepare_data(config: TrainConfig, dataset: datasets.Dataset) -> PreparedData:
    """First `limit` training images, then the chosen classes, the seeded train/validation split, and at most
    `per_class` training images of each class (the first in the split's order); the test set of the chosen classes."""
    rows, y = np.arange(len(dataset.x_train)), dataset.y_train
    if config.limit:
        rows, y = rows[: config.limit], y[: config.limit]
    if config.class_subset != "all":  # all classes: every label kept as it is (a wrong one fails the run)
        rows, y = datasets.select_classes(rows, y, datasets.chosen_classes(config.dataset, config.class_subset))
    if len(rows) < 2:
        raise ValueError(f"limit = {config.limit} leaves too few training images to split off a validation set")
    train_idx, val_idx = datasets.train_validation_split(len(rows), config.validation_split, config.seed)
    if config.per_class:
        labels = y[train_idx]
        train_idx = np.sort(np.concatenate([train_idx[labels == c][: config.per_class] for c in np.unique(labels)]))
    test = datasets.test_of_classes(dataset, config.class_subset)
    x = dataset.x_train
    return PreparedData(Rows(x, rows[train_idx]), y[train_idx], Rows(x, rows[val_idx]), y[val_idx], test.x_test,
                        test.y_test, dataset.info, dataset.source, class_names(config))


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[y]
