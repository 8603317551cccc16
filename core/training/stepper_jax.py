"""The fast loop's JAX stepper: the model's stateless train_step in jitted calls, the state kept in Python between
them; compiled ahead of time, in parallel threads, at the start of the first epoch."""

from __future__ import annotations

import os

import numpy as np

from core.training.inputs import split_rows
from core.training.stepper import prepare, resident, validation_batches

# JAX on an accelerator: full batches run in scans of this many steps, an epoch's last few as single jitted
# steps. On the CPU every step is a single jitted step, dispatched from Python: XLA:CPU copies the weights
# on every iteration of a compiled loop, which made a loop 1.7x slower than single steps for Arch 2 at
# batch 32 (docs/benchmarks.md). None: decide by the device (scans on GPU/TPU, single steps on the CPU);
# $CLASSROOM_JAX_SCANS=1 or 0 forces one way (to compare them on a new device).
SCAN_STEPS = 64
STATIC_SCANS: bool | None = {"1": True, "0": False}.get(os.environ.get("CLASSROOM_JAX_SCANS", ""))


class JaxStepper:
    """The model's stateless train_step in jitted loops; the state lives in Python between calls."""

    train_eager = None  # no eager first step: each JAX op run alone would compile on its own

    def __init__(self, model, x, y, validation_data, batch_size, classes, eval_batch_size):
        import jax
        import jax.numpy as jnp
        import keras

        prepare(model, x, y, batch_size)
        self.model, self.batch = model, batch_size
        source, rows = split_rows(x)
        self.data = (resident(source, jnp.asarray), jnp.asarray(rows), jnp.asarray(y))  # images, their rows, labels
        self.n = len(x)
        full, self.rest = divmod(self.n, batch_size)
        self.metrics0 = [v.value for v in model.metrics_variables]
        self.state = (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in model.optimizer.variables],
            list(self.metrics0),
        )
        dtype = keras.backend.floatx()

        def batch_at(data, idx):
            """Batch `idx` of the training's own order: its images from the rows of the shared array."""
            x_all, x_rows, y_all = data
            xb = jnp.take(x_all, jnp.take(x_rows, idx, axis=0), axis=0).astype(dtype)
            yb = jax.nn.one_hot(jnp.take(y_all, idx, axis=0), classes, dtype=dtype)
            return xb, yb

        def body(data, perm):
            def step(i, state):
                idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
                _, state = model.train_step(state, batch_at(data, idx))
                return state

            return step

        def train_one(state, data, perm, i):
            return body(data, perm)(i, state)

        static = STATIC_SCANS if STATIC_SCANS is not None else jax.default_backend() != "cpu"
        self.granule = SCAN_STEPS if static and full >= SCAN_STEPS else 1
        granule = self.granule

        def train_scan(state, data, perm, start):
            step = body(data, perm)
            return jax.lax.fori_loop(0, granule, lambda i, state: step(start + i, state), state)  # a scan

        rest = self.rest

        def train_rest(state, data, perm):
            idx = jax.lax.dynamic_slice_in_dim(perm, full * batch_size, rest)
            _, state = model.train_step(state, batch_at(data, idx))
            return state

        def results(metrics_variables):
            with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metrics_variables))):
                return {k: v for k, v in model.get_metrics_result().items()}

        self._jitted = {"step": jax.jit(train_one), "scan": jax.jit(train_scan), "rest": jax.jit(train_rest),
                        "results": jax.jit(results)}
        self.perm = jnp.zeros(self.n, jnp.int32)
        start = np.int32(0)
        examples = {"results": (self.state[3],)}
        if full:
            examples["step"] = (self.state, self.data, self.perm, start)
        if self.granule > 1:
            examples["scan"] = (self.state, self.data, self.perm, start)
        if self.rest:
            examples["rest"] = (self.state, self.data, self.perm)

        self.has_val = validation_data is not None
        if self.has_val:
            xv, v_rows, yv, eb, vfull, vrest = validation_batches(validation_data, batch_size, eval_batch_size)
            self.val_data = (resident(xv, jnp.asarray), jnp.asarray(v_rows), jnp.asarray(yv))

            def evaluate(trainable, non_trainable, metrics_variables, data):
                def step(state, start, size):
                    idx = start + jnp.arange(size)
                    _, state = model.test_step(state, batch_at(data, idx))
                    return state

                state = (trainable, non_trainable, metrics_variables)
                state = jax.lax.fori_loop(0, vfull, lambda i, s: step(s, i * eb, eb), state)
                if vrest:
                    state = step(state, vfull * eb, vrest)
                return results(state[2])

            self._jitted["evaluate"] = jax.jit(evaluate)
            examples["evaluate"] = (self.state[0], self.state[1], self.metrics0, self.val_data)
        self._compiled = _compile_in_parallel(self._jitted, examples)

    def _call(self, name, *args):
        """The program compiled ahead of time; jit's own path if the arguments' types have changed."""
        compiled = self._compiled.get(name)
        if compiled is not None:
            try:
                return compiled(*args)
            except TypeError:
                del self._compiled[name]
        return self._jitted[name](*args)

    def begin_epoch(self, perm):
        import jax.numpy as jnp

        self.perm = jnp.asarray(perm)
        tv, ntv, ov, _ = self.state
        self.state = (tv, ntv, ov, list(self.metrics0))  # fit resets the metrics every epoch

    def train(self, start, stop):
        """Full batches start..stop-1 of this epoch's permutation; returns when they are done."""
        import jax

        if self.granule > 1:
            while stop - start >= self.granule:  # dispatched back to back, asynchronously
                self.state = self._call("scan", self.state, self.data, self.perm, np.int32(start))
                start += self.granule
        for i in range(start, stop):  # dispatched asynchronously: Python runs ahead of the device
            self.state = self._call("step", self.state, self.data, self.perm, np.int32(i))
        jax.block_until_ready(self.state[0])

    def train_rest(self):
        import jax

        self.state = self._call("rest", self.state, self.data, self.perm)
        jax.block_until_ready(self.state[0])

    def train_logs(self) -> dict:
        return {k: float(v) for k, v in self._call("results", self.state[3]).items()}

    def evaluate(self) -> dict:
        tv, ntv, _, _ = self.state
        return {k: float(v) for k, v in self._call("evaluate", tv, ntv, list(self.metrics0), self.val_data).items()}

    def reload(self):
        """Take the weights and the optimizer's variables back from Keras, where epoch-end callbacks may have
        assigned them (the metrics stay: they are reset at the next epoch)."""
        model, mv = self.model, self.state[3]
        self.state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                      [v.value for v in model.optimizer.variables], mv)

    def sync(self):
        """Write the state into the Keras variables (a reference swap, no copy)."""
        model = self.model
        tv, ntv, ov, mv = self.state
        for variables, values in ((model.trainable_variables, tv), (model.non_trainable_variables, ntv),
                                  (model.optimizer.variables, ov), (model.metrics_variables, mv)):
            for variable, value in zip(variables, values):
                variable.assign(value)


def _compile_in_parallel(jitted: dict, examples: dict) -> dict:
    """Trace the programs one after the other (tracing a Keras model is not thread-safe), then compile
    them in parallel threads (XLA compiles without the GIL): the first epoch waits for the slowest
    compilation, not for their sum. A program that fails to compile ahead is left to jit."""
    from concurrent.futures import ThreadPoolExecutor

    lowered = {name: jitted[name].lower(*args) for name, args in examples.items()}
    workers = len(lowered) if (os.cpu_count() or 1) >= 4 else 1  # two shared cores gain nothing from it
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(program.compile) for name, program in lowered.items()}
    compiled = {}
    for name, future in futures.items():
        try:
            compiled[name] = future.result()
        except Exception:  # noqa: BLE001 - jit compiles it again on first use and reports any real error
            pass
    return compiled
