"""What the fast loop's steppers share: the model built as fit builds it, validation in fixed-size batches, and one
device copy of a host array however many trainings read it."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np

from core.training.inputs import split_rows

EVAL_BATCH = 512

_RESIDENT: dict[int, tuple[weakref.ref, object]] = {}  # id(host array) -> (the array, its device copy)


def resident(array: np.ndarray, to_device: Callable[[np.ndarray], object]):
    """The device copy of `array`, made once while the array lives: every training of a worker that reads the
    same dataset (a class's runs, by turns) gathers its batches from one copy. Dropped with the array."""
    key = id(array)
    held = _RESIDENT.get(key)
    if held is not None and held[0]() is array:
        return held[1]
    copy = to_device(array)
    _RESIDENT[key] = (weakref.ref(array, lambda _, key=key: _RESIDENT.pop(key, None)), copy)
    return copy


def prepare(model, x, y, batch_size):
    """Build the model's loss, metrics and optimizer as fit would, and reset the metrics."""
    import keras

    sample = (np.zeros((min(batch_size, len(x)),) + x.shape[1:], np.float32),
              np.zeros((min(batch_size, len(x)), int(model.outputs[0].shape[-1])), np.float32))
    model._symbolic_build(data_batch=sample)
    model.reset_metrics()
    return keras


def validation_batches(validation_data, batch_size, eval_batch_size):
    """Validation images as (the array they live in, their rows in it), int32 labels, the evaluation batch, and how
    many full batches of it there are and what is left over."""
    xv, rows = split_rows(validation_data[0])
    yv = np.asarray(validation_data[1]).astype(np.int32)
    eb = max(1, min(len(rows), eval_batch_size or max(batch_size, EVAL_BATCH)))
    return xv, rows, yv, eb, *divmod(len(rows), eb)
