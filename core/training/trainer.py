"""Train one config into one run folder: seeded split and weights, live per-epoch metrics, cancellation between
batches, a checkpoint every epoch, final evaluation, atomic saving.

    run_dir = train(config, "runs", runs.RunLabels("my run"), listener=print_listener, should_stop=lambda: False)
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data import datasets
from core.metrics import evaluation
from core.networks.config import TrainConfig
from core.storage import runs
from core.storage.results import write_results
from core.system.steps import run_to_end
from core.training import checkpoint, fast, transfer
from core.training.callbacks import (
    BaseListener,
    Listener,
    callback_state,
    keras_callbacks,
    restore_callback_state,
    run_callback_class,
)
from core.training.compiling import compile_model, steps_per_execution_for
from core.training.device import environment
from core.training.inputs import PreparedData, one_hot, prepare_data

Steps = Generator[None, None, Path]  # a training a step at a time (drive() runs one to its end)


@dataclass(frozen=True)
class Pace:
    """How a training is paced: `clock` times it (its own time, where it takes turns with others), and `hold(n)`,
    asked after each epoch n, keeps it waiting while true (an epoch gate, core.training.gate). Stop still ends it."""

    clock: Callable[[], float] = time.monotonic
    hold: Callable[[int], bool] | None = None


def drive(steps: Steps) -> Path:
    """Run a training's steps to the end, alone; its run folder. Keras' global state is released after it."""
    try:
        return run_to_end(steps)
    finally:
        release()


def release() -> None:
    """Release Keras' global state (names, kernel caches) once no training of this process is alive: between
    trainings, never beside one (a worker taking turns calls it when it holds no job)."""
    import keras

    keras.backend.clear_session()


def train(config: TrainConfig, runs_dir=runs.DEFAULT_RUNS_DIR, labels: runs.RunLabels | None = None, **options) -> Path:
    """Train and evaluate; returns the run folder (training_steps' options, run to the end)."""
    return drive(training_steps(config, runs_dir, labels, **options))


def training_steps(config: TrainConfig, runs_dir=runs.DEFAULT_RUNS_DIR, labels: runs.RunLabels | None = None, *,
                   run_id: str | None = None, data_dir=None,
                   dataset: datasets.Dataset | Callable[[], datasets.Dataset] | None = None,
                   listener: Listener | None = None, should_stop: Callable[[], bool] = lambda: False,
                   engine: str | None = None, pace: Pace = Pace()) -> Steps:
    """Train and evaluate, a step at a time (a worker interleaves several); returns the run folder. A failure is
    recorded in the run and re-raised. `labels` say what the run is and whose (default: named after its network).

    `engine` picks the training loop, not the math: "fast" (core.training.fast: data on the device, many steps per
    compiled call) or "fit" (plain model.fit, the reference, in one step); default $CLASSROOM_ENGINE, else "fast".
    A checkpoint is written after every completed epoch (core.training.checkpoint), so that `resume` can continue.
    """
    engine = fast.resolve_engine(engine)
    env = environment()
    run_dir = runs.create_run(runs_dir, config.to_dict(), labels or runs.RunLabels(config.architecture), env, run_id)
    runs.update_record(run_dir, engine=engine, engine_detail=fast.implementation(engine, env["backend"]))
    return (yield from segment_steps(run_dir, config, None, engine, env, data_dir, dataset, listener, should_stop, pace))


def segment_steps(run_dir: Path, config: TrainConfig, saved: checkpoint.Checkpoint | None, engine: str, env: dict,
                  data_dir, dataset, listener, should_stop, pace: Pace) -> Steps:
    """One uninterrupted stretch of a run: from scratch (saved is None) or from a checkpoint, to the end, timed by
    the pace's clock."""
    listener = listener or BaseListener()
    clock = pace.clock
    started = clock()
    start_epoch = saved.epoch if saved else 0
    previous = runs.read_run(run_dir).record
    segment = {"started": runs.now_iso(), "from_epoch": start_epoch, "to_epoch": start_epoch, "seconds": 0.0,
               "status": "running", "host": env.get("host"), "backend": env.get("backend"), "device": env.get("device"),
               "engine": engine}
    segments = list(previous.get("segments") or []) + [segment]
    runs.update_record(run_dir, segments=segments)
    try:
        if engine == "fast":
            fast.enable_compilation_cache()
        data_started = clock()
        dataset = dataset() if callable(dataset) else dataset or datasets.load(config.dataset, data_dir)
        data = prepare_data(config, dataset)
        classes = len(data.class_names)
        runs.update_record(run_dir, data={"source": data.source, "train": len(data.y_train), "validation": len(data.y_val),
                                          "test": len(data.x_test), "limit": config.limit or None})
        steps = math.ceil(len(data.y_train) / config.batch_size)
        # Backends without a fast loop (torch) get model.fit with several steps per compiled call.
        fast_loop = engine == "fast" and fast.supported(env["backend"])
        prepare, source = transfer.starter(config, [run_dir.parent, runs.PRETRAINED_DIR])
        model = compile_model(config, steps, steps_per_execution_for(steps) if engine == "fast" and not fast_loop else 1,
                              prepare)
        if source is not None:
            runs.update_record(run_dir, started_from=transfer.describe(source, config))
        rng = np.random.default_rng(config.seed)
        if saved:
            checkpoint.restore(model, saved)
            if saved.rng_state and fast_loop:
                rng.bit_generator.state = saved.rng_state
        listener.on_start(run_dir, config.epochs, steps)

        watchers = keras_callbacks(config)

        def save_checkpoint(epoch: int, rows: list[dict]) -> None:
            counters, best_weights = callback_state(watchers)
            checkpoint.save(run_dir, model, epoch, rows, rng.bit_generator.state if fast_loop else None, counters,
                            best_weights)
            segment.update(to_epoch=epoch, seconds=clock() - started)
            runs.update_record(run_dir, segments=segments, epochs_trained=epoch)

        callback = run_callback_class()(run_dir, config.epochs, steps, len(data.y_train), listener, should_stop,
                                     rows=saved.history if saved else (), save_checkpoint=save_checkpoint,
                                     on_begin=(lambda: restore_callback_state(watchers, saved.callbacks, saved.best_weights))
                                     if saved else None, clock=clock)
        # Ours last: its on_train_begin restores the others' counters after they reset them, and its checkpoint
        # holds what reduce-on-plateau has just decided for the next epoch.
        callbacks = [*watchers, callback]
        fit_started = clock()
        if fast_loop:
            for event in fast.fit_steps(model, data.train_rows, data.y_train, validation_data=(data.val_rows, data.y_val),
                                        batch_size=config.batch_size, epochs=config.epochs, seed=config.seed,
                                        callbacks=callbacks, initial_epoch=start_epoch, rng=rng):
                yield
                while (event == fast.EPOCH_END and pace.hold is not None and len(callback.rows) < config.epochs
                       and not callback.stop_now() and pace.hold(len(callback.rows))):
                    yield
        else:
            model.fit(data.x_train, one_hot(data.y_train, classes), validation_data=(data.x_val, one_hot(data.y_val, classes)),
                      batch_size=config.batch_size, epochs=config.epochs, shuffle=True, verbose=0, callbacks=callbacks,
                      initial_epoch=start_epoch)
        fit_seconds = clock() - fit_started
        evaluate_started = clock()
        _finish(run_dir, model, data, callback.rows, config)
        status = "cancelled" if callback.cancelled else "completed"
        before = previous.get("durations") or {}
        durations = {"data_s": fit_started - data_started, "fit_s": before.get("fit_s", 0.0) + fit_seconds,
                     "evaluate_s": clock() - evaluate_started,
                     "total_s": sum(s["seconds"] for s in segments[:-1]) + clock() - started}
        segment.update(status=status, to_epoch=len(callback.rows), seconds=clock() - started)
        stopped = next((cb.stopped_epoch + 1 for cb in watchers if getattr(cb, "stopped_epoch", 0)), None)
        runs.update_record(run_dir, status=status, finished=runs.now_iso(), durations=durations,
                           epochs_trained=len(callback.rows), segments=segments, stopped_early_at=stopped)
        (run_dir / runs.PROGRESS_FILE).unlink(missing_ok=True)
        if status == "completed" and config.schedule != "constant":
            checkpoint.remove(run_dir)  # its optimizer state can never be used: the schedule has ended
        return run_dir
    except BaseException as e:
        message = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        segment.update(status="failed", seconds=clock() - started, error=message)
        runs.update_record(run_dir, status="failed", finished=runs.now_iso(), error=message, segments=segments,
                           traceback=traceback.format_exc(limit=8))
        raise


def _finish(run_dir: Path, model, data: PreparedData, history: list[dict], config: TrainConfig) -> None:
    """Evaluate on the test set and write metrics, predictions, mistakes and the model."""
    probabilities = predict_test_set(model, data.x_test, max(256, config.batch_size), config.test_flip)
    test_loss = loss_from_predictions(model, probabilities, data.y_test)
    predictions = evaluation.per_example(probabilities, data.y_test)
    write_results(run_dir, predictions, data.x_test, data.class_names, history, test_loss)
    save_weights_only_model(model, run_dir / runs.MODEL_FILE)


def predict_test_set(model, x: np.ndarray, batch_size: int, mirrored: bool) -> np.ndarray:
    """The network's class probabilities for images (N, height, width, channels); `mirrored` averages each image's
    with its left-right mirror image's (test-time augmentation: a mirrored coat or truck keeps its class). A run's
    test loss, accuracy, predictions and mistakes all come from these; its validation figures do not mirror."""
    probabilities = _predict(model, x, batch_size)
    if mirrored:
        probabilities = (probabilities + _predict(model, x[:, :, ::-1], batch_size)) / 2
    return np.asarray(probabilities, np.float32)


def _predict(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """model.predict's probabilities. Under TensorFlow the network is called eagerly a batch at a time instead: the
    same kernels give the same numbers, without tracing a predict function for one pass (Arch 1's 10,000 test images
    on one core: 0.13-0.19 s against 0.22-0.77 s, paid by each of a class's runs). Under JAX every eager op would
    compile on its own, so model.predict's one compiled function."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return model.predict(x, batch_size=batch_size, verbose=0)
    return np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def loss_from_predictions(model, probabilities: np.ndarray, y: np.ndarray) -> float:
    """The loss model.evaluate reports (the compiled loss, label smoothing included, plus the L2 penalty), from
    predictions already made: one pass over the test set instead of two (a minute per Arch 3 run on the CPU)."""
    import keras

    loss = model.loss(one_hot(y, probabilities.shape[1]), probabilities)
    return float(keras.ops.convert_to_numpy(loss)) + sum(float(keras.ops.convert_to_numpy(p)) for p in model.losses)


def save_weights_only_model(model, path: Path) -> None:
    """Save the network without its optimizer's state (half to a third of the file): a finished run keeps its
    weights; the checkpoint is what continues training. Rebuilt from its config, uncompiled, since
    keras.models.clone_model compiles the clone and so saves an optimizer again. Written atomically."""
    export = type(model).from_config(model.get_config())
    export.set_weights(model.get_weights())
    tmp = path.with_name(f".{path.name}.tmp.keras")
    export.save(tmp)
    tmp.replace(path)
