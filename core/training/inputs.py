"""The data a run trains on: the first `limit` training images, split into training and validation by the run's
seed; the test set untouched."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data import datasets
from core.networks.config import TrainConfig


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


def prepare_data(config: TrainConfig, dataset: datasets.Dataset) -> PreparedData:
    """First `limit` training images, then the seeded train/validation split; the test set untouched."""
    x, y = dataset.x_train, dataset.y_train
    if config.limit:
        x, y = x[: config.limit], y[: config.limit]
    if len(x) < 2:
        raise ValueError(f"limit = {config.limit} leaves too few training images to split off a validation set")
    train_idx, val_idx = datasets.train_validation_split(len(x), config.validation_split, config.seed)
    return PreparedData(x[train_idx], y[train_idx], x[val_idx], y[val_idx], dataset.x_test, dataset.y_test,
                        dataset.info, dataset.source)


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[y]
