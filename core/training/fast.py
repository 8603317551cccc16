"""The fast training path: many steps per compiled call on data that stays on the device.

    fast.fit(model, x_train, y_train, validation_data=(x_val, y_val), batch_size=32, epochs=50,
             seed=0, callbacks=[callback])

`model` is a compiled Keras model (core.training.compile_model); `x` holds uint8 images and `y` integer
labels (one-hot encoding and the cast to float32 happen inside the compiled step). The math is Keras'
own: every step is the model's `train_step` (JAX: the stateless `train_step(state, data)`, i.e.
`stateless_call` + the compiled loss + the L2 penalties + `optimizer.stateless_apply`; TensorFlow:
the stateful `train_step(data)`), so dropout, L2, batch normalization, augmentation, label smoothing,
schedules and the metrics behave exactly as under `model.fit`. What changes is the loop around it:

- the training and validation images are copied to the device once, as uint8;
- each epoch draws a permutation on the host (numpy, seeded) and trains the full batches in a few
  compiled calls (JAX on an accelerator: scans of SCAN_STEPS steps; JAX on the CPU: jitted steps
  dispatched from a Python loop; TensorFlow: a `tf.function` while-loop), about CHUNK_SECONDS of work
  between two checks, so that progress, the listener and cancellation still come several times a
  second; the last, smaller batch (as fit has it) is one more compiled step;
- validation runs on device in one compiled call (batches of at least EVAL_BATCH; the loss is a
  batch-size-weighted mean, so the batch size does not change it);
- callbacks get `on_epoch_begin`, `on_train_batch_end` (after each call, with the epoch's running `loss` and
  `accuracy` as fit's batch logs have them) and `on_epoch_end` with the same logs keys as fit (`loss`,
  `accuracy`, `val_loss`, `val_accuracy`); a callback that sets `model.stop_training` stops training after
  the current call, and the epoch is finished (validated, reported) as fit does.

At every epoch end the variables are written back into the Keras model, so the model, its saving and
its evaluation stay ordinary Keras. With JAX the programs are compiled at the start of epoch 1, in
parallel threads, and kept in a persistent compilation cache (`enable_compilation_cache`): a
configuration trained before loads them instead of compiling. There is no fast loop for other backends
(torch): core.training uses model.fit with steps_per_execution there. Measurements: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from core.networks.config import ConfigError

ENGINES = ("fast", "fit")
DEFAULT_ENGINE = "fast"
ENGINE_ENV = "CLASSROOM_ENGINE"
JAX_CACHE_ENV = "CLASSROOM_JAX_CACHE"  # a folder, or "off"
DEFAULT_JAX_CACHE = Path.home() / ".cache" / "classroom" / "jax"
CHUNK_SECONDS = 0.3  # target length of one compiled call: progress and cancellation at least this often
FIRST_CHUNK_STEPS = 16  # the first call (with compilation) is short, then the length adapts
EVAL_BATCH = 512
# JAX on an accelerator: full batches run in scans of this many steps, an epoch's last few as single jitted
# steps. On the CPU every step is a single jitted step, dispatched from Python: XLA:CPU copies the weights
# on every iteration of a compiled loop, which made a loop 1.7x slower than single steps for Arch 2 at
# batch 32 (docs/benchmarks.md). None: decide by the device (scans on GPU/TPU, single steps on the CPU);
# $CLASSROOM_JAX_SCANS=1 or 0 forces one way (to compare them on a new device).
SCAN_STEPS = 64
STATIC_SCANS: bool | None = {"1": True, "0": False}.get(os.environ.get("CLASSROOM_JAX_SCANS", ""))


def resolve_engine(engine: str | None = None) -> str:
    """The engine to use: the argument, else $CLASSROOM_ENGINE, else "fast"."""
    value = engine or os.environ.get(ENGINE_ENV) or DEFAULT_ENGINE
    value = value.strip().lower()
    if value not in ENGINES:
        raise ConfigError(f"engine {value!r} is unknown: choose one of {', '.join(ENGINES)} "
                         f"(argument --engine or ${ENGINE_ENV})")
    return value


def implementation(engine: str, backend: str | None = None) -> str:
    """What an engine does on a backend, in words (recorded in run.json)."""
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if engine == "fit":
        return "model.fit, steps_per_execution=1"
    if backend == "jax":
        return "jax: jitted fori_loop over resident batches (core.fast)"
    if backend == "tensorflow":
        return "tensorflow: tf.function loop over resident batches (core.fast)"
    return "model.fit with steps_per_execution (no fast loop for this backend)"


def supported(backend: str | None = None) -> bool:
    if backend is None:
        import keras

        backend = keras.backend.backend()
    return backend in ("jax", "tensorflow")


def enable_compilation_cache(path=None) -> Path | None:
    """Keep JAX's compiled programs on disk (no-op for other backends or with $CLASSROOM_JAX_CACHE=off)."""
    import keras

    if keras.backend.backend() != "jax":
        return None
    setting = path or os.environ.get(JAX_CACHE_ENV) or DEFAULT_JAX_CACHE
    if str(setting).lower() in ("off", "0", "none", "false"):
        return None
    import jax

    folder = Path(setting).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # read-only home: train without the cache
    if jax.config.jax_compilation_cache_dir != str(folder):
        jax.config.update("jax_compilation_cache_dir", str(folder))
    # Train steps take 0.3-10 s to compile; the many tiny eager ops are not worth a file each.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return folder


# --- the loop, common to the backends ------------------------------------------------------------

def fit(model, x, y, *, validation_data=None, batch_size: int, epochs: int, seed: int = 0, shuffle: bool = True,
        callbacks=(), chunk_seconds: float | None = None, eval_batch_size: int | None = None, initial_epoch: int = 0,
        rng: np.random.Generator | None = None) -> list[dict]:
    """Train a compiled model like `model.fit(x, one_hot(y), ..., initial_epoch=...)`; returns the logs of the
    epochs it trained. `rng` draws each epoch's permutation (default: seeded by `seed`); a caller that keeps it
    can save its state with a checkpoint and pass the restored generator to continue the same sequence."""
    import keras

    x = np.asarray(x)
    y = np.asarray(y).astype(np.int32)
    n = len(x)
    if n == 0:
        raise ValueError("no training images")
    classes = int(model.outputs[0].shape[-1])
    _check_labels("training", y, classes)
    if validation_data is not None:
        _check_labels("validation", np.asarray(validation_data[1]), classes)
    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow"):
        raise NotImplementedError(f"no fast loop for the {backend} backend; use model.fit")
    stepper_class = _JaxStepper if backend == "jax" else _TFStepper

    full, rest = divmod(n, batch_size)
    steps = full + (1 if rest else 0)
    rng = np.random.default_rng(seed) if rng is None else rng
    chunk_seconds = CHUNK_SECONDS if chunk_seconds is None else chunk_seconds
    callbacks = list(callbacks)
    for cb in callbacks:
        cb.set_model(model)
    model.stop_training = False
    for cb in callbacks:
        cb.on_train_begin()
    history: list[dict] = []
    stepper = None
    chunk = min(full, FIRST_CHUNK_STEPS)
    granule = 1
    seconds_per_step = None
    calls = 0
    for epoch in range(initial_epoch, epochs):
        perm = rng.permutation(n).astype(np.int32) if shuffle else np.arange(n, dtype=np.int32)
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        if stepper is None:  # compiled inside epoch 1, as under fit: its time shows in the first epoch's seconds
            stepper = stepper_class(model, x, y, validation_data, batch_size, classes, eval_batch_size)
            granule = stepper.granule
            chunk = min(full, max(chunk, granule))
        stepper.begin_epoch(perm)
        done = 0
        while done < steps:
            if done < full:
                count = min(chunk, full - done)
                began = time.perf_counter()
                stepper.train(done, done + count)
                elapsed = time.perf_counter() - began
                calls += 1
                if calls > 1:  # the first call compiles: it says nothing about the speed
                    rate = elapsed / count
                    seconds_per_step = rate if seconds_per_step is None else 0.5 * (seconds_per_step + rate)
                    chunk = max(granule, min(full, int(chunk_seconds / seconds_per_step) // granule * granule))
                done += count
            else:
                stepper.train_rest()
                done += 1
            logs = stepper.train_logs()  # the epoch's running means so far, as fit's batch logs
            for cb in callbacks:
                cb.on_train_batch_end(done - 1, logs)
            if model.stop_training:
                break
        logs = stepper.train_logs()
        if validation_data is not None:
            logs.update({f"val_{k}": v for k, v in stepper.evaluate().items()})
        stepper.sync()
        history.append(logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, dict(logs))
        stepper.reload()  # a callback may have set the learning rate or the weights (ReduceLROnPlateau, EarlyStopping)
        if model.stop_training:
            break
    if stepper is not None:
        stepper.sync()
    model.optimizer.finalize_variable_values(model.trainable_weights)
    for cb in callbacks:
        cb.on_train_end()
    return history


def _check_labels(part, y, classes):
    """model.fit fails on a label outside 0..classes-1 (one-hot encoding); so does the fast loop,
    which would otherwise encode it as all zeros."""
    if len(y) and (y.min() < 0 or y.max() >= classes):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise ValueError(f"{part} label {bad} is out of range: the network has {classes} classes (0 to {classes - 1})")


def _prepare(model, x, y, batch_size):
    """Build the model's loss, metrics and optimizer as fit would, and reset the metrics."""
    import keras

    sample = (np.zeros((min(batch_size, len(x)),) + x.shape[1:], np.float32),
              np.zeros((min(batch_size, len(x)), int(model.outputs[0].shape[-1])), np.float32))
    model._symbolic_build(data_batch=sample)
    model.reset_metrics()
    return keras


def _validation_batches(validation_data, batch_size, eval_batch_size):
    """Validation arrays (images as given, int32 labels), the evaluation batch, and how many full batches
    of it there are and what is left over."""
    xv, yv = np.asarray(validation_data[0]), np.asarray(validation_data[1]).astype(np.int32)
    eb = max(1, min(len(xv), eval_batch_size or max(batch_size, EVAL_BATCH)))
    return xv, yv, eb, *divmod(len(xv), eb)


# --- JAX -----------------------------------------------------------------------------------------

class _JaxStepper:
    """The model's stateless train_step in jitted loops; the state lives in Python between calls."""

    def __init__(self, model, x, y, validation_data, batch_size, classes, eval_batch_size):
        import jax
        import jax.numpy as jnp
        import keras

        _prepare(model, x, y, batch_size)
        self.model, self.batch = model, batch_size
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)
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

        def batch_at(x_all, y_all, idx):
            xb = jnp.take(x_all, idx, axis=0).astype(dtype)
            yb = jax.nn.one_hot(jnp.take(y_all, idx, axis=0), classes, dtype=dtype)
            return xb, yb

        def body(x_all, y_all, perm):
            def step(i, state):
                idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
                _, state = model.train_step(state, batch_at(x_all, y_all, idx))
                return state

            return step

        def train_one(state, x_all, y_all, perm, i):
            return body(x_all, y_all, perm)(i, state)

        static = STATIC_SCANS if STATIC_SCANS is not None else jax.default_backend() != "cpu"
        self.granule = SCAN_STEPS if static and full >= SCAN_STEPS else 1
        granule = self.granule

        def train_scan(state, x_all, y_all, perm, start):
            step = body(x_all, y_all, perm)
            return jax.lax.fori_loop(0, granule, lambda i, state: step(start + i, state), state)  # a scan

        rest = self.rest

        def train_rest(state, x_all, y_all, perm):
            idx = jax.lax.dynamic_slice_in_dim(perm, full * batch_size, rest)
            _, state = model.train_step(state, batch_at(x_all, y_all, idx))
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
            examples["step"] = (self.state, self.x, self.y, self.perm, start)
        if self.granule > 1:
            examples["scan"] = (self.state, self.x, self.y, self.perm, start)
        if self.rest:
            examples["rest"] = (self.state, self.x, self.y, self.perm)

        self.has_val = validation_data is not None
        if self.has_val:
            xv, yv, eb, vfull, vrest = _validation_batches(validation_data, batch_size, eval_batch_size)
            self.xv, self.yv = jnp.asarray(xv), jnp.asarray(yv)

            def evaluate(trainable, non_trainable, metrics_variables, x_all, y_all):
                def step(state, start, size):
                    idx = start + jnp.arange(size)
                    _, state = model.test_step(state, batch_at(x_all, y_all, idx))
                    return state

                state = (trainable, non_trainable, metrics_variables)
                state = jax.lax.fori_loop(0, vfull, lambda i, s: step(s, i * eb, eb), state)
                if vrest:
                    state = step(state, vfull * eb, vrest)
                return results(state[2])

            self._jitted["evaluate"] = jax.jit(evaluate)
            examples["evaluate"] = (self.state[0], self.state[1], self.metrics0, self.xv, self.yv)
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
                self.state = self._call("scan", self.state, self.x, self.y, self.perm, np.int32(start))
                start += self.granule
        for i in range(start, stop):  # dispatched asynchronously: Python runs ahead of the device
            self.state = self._call("step", self.state, self.x, self.y, self.perm, np.int32(i))
        jax.block_until_ready(self.state[0])

    def train_rest(self):
        import jax

        self.state = self._call("rest", self.state, self.x, self.y, self.perm)
        jax.block_until_ready(self.state[0])

    def train_logs(self) -> dict:
        return {k: float(v) for k, v in self._call("results", self.state[3]).items()}

    def evaluate(self) -> dict:
        tv, ntv, _, _ = self.state
        return {k: float(v) for k, v in self._call("evaluate", tv, ntv, list(self.metrics0), self.xv, self.yv).items()}

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


# --- TensorFlow ----------------------------------------------------------------------------------

class _TFStepper:
    """The model's train_step in a tf.function while-loop over batches gathered from resident tensors."""

    def __init__(self, model, x, y, validation_data, batch_size, classes, eval_batch_size):
        import keras
        import tensorflow as tf

        _prepare(model, x, y, batch_size)
        self.model, self.batch = model, batch_size
        self.n = len(x)
        self.full, self.rest = divmod(self.n, batch_size)
        self.granule = 1
        dtype = keras.backend.floatx()
        self.x, self.y = tf.constant(x), tf.constant(y)  # on the default device, once

        def batch_at(x_all, y_all, idx):
            return (tf.cast(tf.gather(x_all, idx), dtype), tf.one_hot(tf.gather(y_all, idx), classes, dtype=dtype))

        def loop(count, step):
            """`step(i)` for i in 0..count-1 in one graph while-loop (the body's variable updates are ordered
            before the next iteration by tf.function's automatic control dependencies)."""
            def body(i):
                step(i)
                return (i + 1,)

            tf.while_loop(lambda i: i < count, body, (tf.constant(0),))

        # autograph=False: plain graph code, independent of the source file (autograph re-reads it).
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)], autograph=False, reduce_retracing=True)
        def train_rows(rows):
            loop(tf.shape(rows)[0], lambda i: model.train_step(batch_at(self.x, self.y, rows[i])))
            return tf.constant(0)

        self._train_rows = train_rows
        self.perm = None
        self.has_val = validation_data is not None
        if self.has_val:
            xv, yv, eb, vfull, vrest = _validation_batches(validation_data, batch_size, eval_batch_size)
            self.xv, self.yv = tf.constant(xv), tf.constant(yv)

            @tf.function(autograph=False)
            def evaluate():
                loop(tf.constant(vfull), lambda i: model.test_step(batch_at(self.xv, self.yv, i * eb + tf.range(eb))))
                if vrest:
                    model.test_step(batch_at(self.xv, self.yv, vfull * eb + tf.range(vrest)))
                return tf.constant(0)

            self._evaluate = evaluate

    def begin_epoch(self, perm):
        self.perm = perm
        self.model.reset_metrics()

    def train(self, start, stop):
        rows = self.perm[start * self.batch: stop * self.batch].reshape(stop - start, self.batch)
        self._train_rows(rows).numpy()

    def train_rest(self):
        self._train_rows(self.perm[self.full * self.batch:].reshape(1, self.rest)).numpy()

    def train_logs(self) -> dict:
        return {k: float(v) for k, v in self.model.get_metrics_result().items()}

    def evaluate(self) -> dict:
        model = self.model
        train_metrics = [v.numpy() for v in model.metrics_variables]
        model.reset_metrics()
        self._evaluate().numpy()
        logs = {k: float(v) for k, v in model.get_metrics_result().items()}
        for variable, value in zip(model.metrics_variables, train_metrics):
            variable.assign(value)
        return logs

    def reload(self):
        pass  # the variables are Keras' own

    def sync(self):
        pass

