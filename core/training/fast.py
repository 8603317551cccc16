"""The fast training path: many steps per compiled call on data that stays on the device.

    fast.fit(model, x_train, y_train, validation_data=(x_val, y_val), batch_size=32, epochs=50,
             seed=0, callbacks=[callback])

`model` is a compiled Keras model (core.training.compile_model); `x` holds uint8 images (an array, or
core.training.inputs.Rows of a shared one) and `y` integer labels (one-hot encoding and the cast to float32 happen
inside the compiled step). The math is Keras' own: every step is the model's `train_step` (JAX: the stateless
`train_step(state, data)`, i.e. `stateless_call` + the compiled loss + the L2 penalties +
`optimizer.stateless_apply`; TensorFlow: the stateful `train_step(data)`), so dropout, L2, batch normalization,
augmentation, label smoothing, schedules and the metrics behave exactly as under `model.fit`. What changes is the
loop around it:

- the training and validation images are copied to the device once, as uint8 (once per process for the rows of
  one shared array: core.training.stepper.resident);
- each epoch draws a permutation on the host (numpy, seeded) and trains the full batches in a few
  compiled calls (JAX on an accelerator: scans of SCAN_STEPS steps; JAX on the CPU: jitted steps
  dispatched from a Python loop; TensorFlow: a `tf.function` while-loop), about CHUNK_SECONDS of work
  between two checks, so that progress, the listener and cancellation still come several times a
  second; the last, smaller batch (as fit has it) is one more compiled step;
- validation runs on device in one compiled call (batches of at least EVAL_BATCH; the loss is a
  batch-size-weighted mean, so the batch size does not change it);
- under TensorFlow the first batch trains eagerly, before the loop is traced (tracing takes about half a second): a
  run's first point comes at once, and a worker taking turns gives every new job its first point before tracing any;
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
from collections.abc import Generator
from pathlib import Path

import numpy as np

from core.networks.config import ConfigError
from core.system.steps import run_to_end
from core.training.inputs import Rows
from core.training.stepper_jax import JaxStepper
from core.training.stepper_tf import TFStepper

ENGINES = ("fast", "fit")
DEFAULT_ENGINE = "fast"
ENGINE_ENV = "CLASSROOM_ENGINE"
JAX_CACHE_ENV = "CLASSROOM_JAX_CACHE"  # a folder, or "off"
DEFAULT_JAX_CACHE = Path.home() / ".cache" / "classroom" / "jax"
CHUNK_SECONDS = 0.3  # target length of one compiled call: progress and cancellation at least this often
FIRST_CHUNK_STEPS = 16  # the first call (with compilation) is short, then the length adapts


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
        return "jax: jitted fori_loop over resident batches (core.training.fast)"
    if backend == "tensorflow":
        return "tensorflow: tf.function loop over resident batches (core.training.fast)"
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

EPOCH_END = "epoch end"  # what fit_steps yields after an epoch's callbacks; None after each compiled call


def fit(model, x, y, **options) -> list[dict]:
    """Train a compiled model like `model.fit(x, one_hot(y), ..., initial_epoch=...)` (fit_steps' options), to the end;
    returns the logs of the epochs it trained."""
    return run_to_end(fit_steps(model, x, y, **options))


def fit_steps(model, x, y, *, validation_data=None, batch_size: int, epochs: int, seed: int = 0, shuffle: bool = True,
              callbacks=(), chunk_seconds: float | None = None, eval_batch_size: int | None = None, initial_epoch: int = 0,
              rng: np.random.Generator | None = None) -> Generator[str | None, None, list[dict]]:
    """fit, a compiled call at a time: yields None after each call (about `chunk_seconds` of work) and EPOCH_END
    after each epoch's callbacks, so that a caller can interleave several trainings, or hold one between epochs
    (setting model.stop_training before resuming stops it there). `rng` draws each epoch's permutation (default:
    seeded by `seed`); a caller that keeps it can save its state with a checkpoint and pass the restored generator
    to continue the same sequence. Returns the logs of the epochs it trained."""
    import keras

    x = x if isinstance(x, Rows) else np.asarray(x)
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
    stepper_class = JaxStepper if backend == "jax" else TFStepper

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
    calls = 0  # compiled calls
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
            if epoch == initial_epoch and done == 0 < full and stepper.train_eager is not None:
                stepper.train_eager(done)  # the first batch, before the loop is traced: a first point at once
                done += 1
            elif done < full:
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
            yield None
        logs = stepper.train_logs()
        if validation_data is not None:
            logs.update({f"val_{k}": v for k, v in stepper.evaluate().items()})
        stepper.sync()
        history.append(logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, dict(logs))
        stepper.reload()  # a callback may have set the learning rate or the weights (ReduceLROnPlateau, EarlyStopping)
        if not model.stop_training:
            yield EPOCH_END
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
