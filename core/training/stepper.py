"""What the fast loop's steppers share: the model built as fit builds it, and validation in fixed-size batches."""

from __future__ import annotations

import numpy as np

EVAL_BATCH = 512


def prepare(model, x, y, batch_size):
    """Build the model's loss, metrics and optimizer as fit would, and reset the metrics."""
    import keras

    sample = (np.zeros((min(batch_size, len(x)),) + x.shape[1:], np.float32),
              np.zeros((min(batch_size, len(x)), int(model.outputs[0].shape[-1])), np.float32))
    model._symbolic_build(data_batch=sample)
    model.reset_metrics()
    return keras


def validation_batches(validation_data, batch_size, eval_batch_size):
    """Validation arrays (images as given, int32 labels), the evaluation batch, and how many full batches
    of it there are and what is left over."""
    xv, yv = np.asarray(validation_data[0]), np.asarray(validation_data[1]).astype(np.int32)
    eb = max(1, min(len(xv), eval_batch_size or max(batch_size, EVAL_BATCH)))
    return xv, yv, eb, *divmod(len(xv), eb)
