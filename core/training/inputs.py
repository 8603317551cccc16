"""The data a run trains on: the first `limit` training images, the chosen classes, split into training and
validation by the run's seed, then at most `per_class` training images of each class; the test set's images of the
chosen classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data import datasets
from core.networks.config import TrainConfig, class_names


@dataclass
class PreparedData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: datasets.DatasetInfo
    source: str
    class_names: tuple[str, ...]  # of the chosen classes, in the network's order


def prepare_data(config: TrainConfig, dataset: datasets.Dataset) -> PreparedData:
    """First `limit` training images, then the chosen classes, the seeded train/validation split, and at most
    `per_class` training images of each class (the first in the split's order); the test set of the chosen classes."""
    x, y = dataset.x_train, dataset.y_train
    if config.limit:
        x, y = x[: config.limit], y[: config.limit]
    if config.class_subset != "all":  # all classes: every label kept as it is (a wrong one fails the run)
        x, y = datasets.select_classes(x, y, datasets.chosen_classes(config.dataset, config.class_subset))
    if len(x) < 2:
        raise ValueError(f"limit = {config.limit} leaves too few training images to split off a validation set")
    train_idx, val_idx = datasets.train_validation_split(len(x), config.validation_split, config.seed)
    if config.per_class:
        labels = y[train_idx]
        train_idx = np.sort(np.concatenate([train_idx[labels == c][: config.per_class] for c in np.unique(labels)]))
    test = datasets.test_of_classes(dataset, config.class_subset)
    return PreparedData(x[train_idx], y[train_idx], x[val_idx], y[val_idx], test.x_test, test.y_test, dataset.info,
                        dataset.source, class_names(config))


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[y]
