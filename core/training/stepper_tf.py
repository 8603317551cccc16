"""The fast loop's TensorFlow stepper: the model's train_step in a tf.function while-loop over batches gathered from
tensors that stay on the device (the images once per worker, core.training.stepper.resident)."""

from __future__ import annotations

import logging

from core.training.inputs import split_rows
from core.training.stepper import prepare, resident, validation_batches


class _RunsTraceTheirOwnLoops(logging.Filter):
    """Drops TensorFlow's warning that these loops are retraced too often. Each run traces its own loops by design
    (its dropout and L2 are constants of its graph), so a worker, a sweep or a test traces them once per run; the
    warning, printed in the middle of a student's sweep, is meant for functions retraced by accident."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and "TFStepper.__init__.<locals>" in message)


_QUIET_RETRACING = _RunsTraceTheirOwnLoops()


class TFStepper:
    """The model's train_step in a tf.function while-loop over batches gathered from resident tensors."""

    def __init__(self, model, x, y, validation_data, batch_size, classes, eval_batch_size):
        import keras
        import tensorflow as tf

        logging.getLogger("tensorflow").addFilter(_QUIET_RETRACING)  # once: a filter already there is not added again
        prepare(model, x, y, batch_size)
        self.model, self.batch = model, batch_size
        self.n = len(x)
        self.full, self.rest = divmod(self.n, batch_size)
        self.granule = 1
        dtype = keras.backend.floatx()
        source, rows = split_rows(x)
        self.x, self.x_rows, self.y = resident(source, tf.constant), tf.constant(rows), tf.constant(y)

        def batch_at(x_all, x_rows, y_all, idx):
            """Batch `idx` of the training's own order: its images from the rows of the shared array."""
            return (tf.cast(tf.gather(x_all, tf.gather(x_rows, idx)), dtype),
                    tf.one_hot(tf.gather(y_all, idx), classes, dtype=dtype))

        def loop(count, step):
            """`step(i)` for i in 0..count-1 in one graph while-loop (the body's variable updates are ordered
            before the next iteration by tf.function's automatic control dependencies)."""
            def body(i):
                step(i)
                return (i + 1,)

            tf.while_loop(lambda i: i < count, body, (tf.constant(0),))

        # autograph=False: plain graph code, independent of the source file (autograph re-reads it). The images are
        # arguments, not captured constants: a graph keeps what it captures for as long as TensorFlow keeps the graph,
        # which leaked each job's training set (45 MB for Fashion-MNIST) in a worker that trains job after job.
        def spec(array):
            return tf.TensorSpec([None, *array.shape[1:]], array.dtype)

        @tf.function(input_signature=[spec(self.x), spec(self.x_rows), spec(self.y), tf.TensorSpec([None, None], tf.int32)],
                     autograph=False, reduce_retracing=True)
        def train_rows(x_all, x_rows, y_all, rows):
            loop(tf.shape(rows)[0], lambda i: model.train_step(batch_at(x_all, x_rows, y_all, rows[i])))
            return tf.constant(0)

        self._train_rows = train_rows
        self._batch_at = batch_at
        self.perm = None
        self.has_val = validation_data is not None
        if self.has_val:
            xv, v_rows, yv, eb, vfull, vrest = validation_batches(validation_data, batch_size, eval_batch_size)
            self.xv, self.xv_rows, self.yv = resident(xv, tf.constant), tf.constant(v_rows), tf.constant(yv)

            @tf.function(input_signature=[spec(self.xv), spec(self.xv_rows), spec(self.yv)], autograph=False)
            def evaluate(x_all, x_rows, y_all):
                def batch(start, size):
                    return batch_at(x_all, x_rows, y_all, start + tf.range(size))

                loop(tf.constant(vfull), lambda i: model.test_step(batch(i * eb, eb)))
                if vrest:
                    model.test_step(batch(vfull * eb, vrest))
                return tf.constant(0)

            self._evaluate = evaluate

    def begin_epoch(self, perm):
        self.perm = perm
        self.model.reset_metrics()

    def train(self, start, stop):
        rows = self.perm[start * self.batch: stop * self.batch].reshape(stop - start, self.batch)
        self._train_rows(self.x, self.x_rows, self.y, rows).numpy()

    def train_eager(self, index):
        """Batch `index` of the epoch's order as one eager step, without tracing (Arch 1: 70-170 ms on one core,
        against 0.5 s to trace and run the loop's first call): the run's first point comes at once."""
        rows = self.perm[index * self.batch: (index + 1) * self.batch]
        self.model.train_step(self._batch_at(self.x, self.x_rows, self.y, rows))

    def train_rest(self):
        self._train_rows(self.x, self.x_rows, self.y, self.perm[self.full * self.batch:].reshape(1, self.rest)).numpy()

    def train_logs(self) -> dict:
        return {k: float(v) for k, v in self.model.get_metrics_result().items()}

    def evaluate(self) -> dict:
        model = self.model
        train_metrics = [v.numpy() for v in model.metrics_variables]
        model.reset_metrics()
        self._evaluate(self.xv, self.xv_rows, self.yv).numpy()
        logs = {k: float(v) for k, v in model.get_metrics_result().items()}
        for variable, value in zip(model.metrics_variables, train_metrics):
            variable.assign(value)
        return logs

    def reload(self):
        pass  # the variables are Keras' own

    def sync(self):
        pass
