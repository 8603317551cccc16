"""Train one config into one run folder: seeded split and weights, live per-epoch metrics,
cancellation between batches, final evaluation, atomic saving.

    run_dir = train(config, runs_dir="runs", listener=print_listener, should_stop=lambda: False)
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import pandas as pd

from core import checkpoint, datasets, evaluation, presets, runs
from core.architectures import build_model
from core.config import TrainConfig

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
PROGRESS_EVERY_S = 0.5
BATCH_POINTS = 600  # the live chart's curve between epochs keeps this many recent points at most


class Listener(Protocol):
    """Subscribes to a training run; every method is optional in practice (see BaseListener)."""

    def on_start(self, run_dir: Path, epochs: int, steps_per_epoch: int) -> None: ...
    def on_batch(self, epoch: int, step: int, steps_per_epoch: int) -> None: ...
    def on_epoch(self, row: dict) -> None: ...


class BaseListener:
    def on_start(self, run_dir, epochs, steps_per_epoch):
        pass

    def on_batch(self, epoch, step, steps_per_epoch):
        pass

    def on_epoch(self, row):
        pass


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


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    import keras

    total = max(1, steps_per_epoch * config.epochs)
    lr = config.learning_rate
    if config.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total)
    elif config.schedule == "onecycle":
        # Warm up over the first 30 % from lr/25 to lr, then cosine down to zero (Smith's one-cycle).
        warmup = max(1, int(0.3 * total))
        lr = keras.optimizers.schedules.CosineDecay(config.learning_rate / 25, decay_steps=total - warmup,
                                                    warmup_target=config.learning_rate, warmup_steps=warmup)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=config.beta_1, nesterov=True)
    return keras.optimizers.Adam(lr, beta_1=config.beta_1)


def compile_model(config: TrainConfig, steps_per_epoch: int, steps_per_execution: int = 1):
    import keras

    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        steps_per_execution=steps_per_execution,
    )
    return model


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[y]


def current_learning_rate(model) -> float:
    import keras

    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _callback_class():
    import keras

    class RunCallback(keras.callbacks.Callback):
        """Writes history, progress and a checkpoint into the run folder, feeds the listener, honours
        cancellation. `rows` starts with the history of the epochs done before (a resumed run)."""

        def __init__(self, run_dir, epochs, steps, images, listener, should_stop, rows=(), save_checkpoint=None,
                     on_begin=None):
            super().__init__()
            self.on_begin = on_begin
            self.run_dir, self.epochs, self.steps, self.images = run_dir, epochs, steps, images
            self.listener, self.should_stop = listener, should_stop
            self.rows: list[dict] = list(rows)
            self.start_epoch = len(self.rows)
            self.save_checkpoint = save_checkpoint
            self.cancelled = False
            self._last_progress = 0.0
            self._epoch_start = time.monotonic()
            self._epoch = 0
            self.batch_loss: list[list[float]] = []  # [epoch position, mean loss of the batches since the last point]
            self._seen = (0, 0.0)  # batches of this epoch and their running mean loss at the last point

        def _progress(self, step, force=False):
            now = time.monotonic()
            if force or now - self._last_progress >= PROGRESS_EVERY_S:
                self._last_progress = now
                runs.write_json(self.run_dir / runs.PROGRESS_FILE, {
                    "epoch": self._epoch, "epochs": self.epochs, "step": step, "steps": self.steps,
                    "epoch_seconds": now - self._epoch_start, "images": self.images, "start_epoch": self.start_epoch,
                    "batch_loss": self.batch_loss, "updated": time.time()})

        def _check_stop(self):
            if not self.cancelled and self.should_stop():
                self.cancelled = True
                self.model.stop_training = True

        def on_train_begin(self, logs=None):
            if self.on_begin:
                self.on_begin()

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch, self._epoch_start = epoch + 1, time.monotonic()
            self._epoch_learning_rate = current_learning_rate(self.model)  # the rate this epoch trains at
            self._seen = (0, 0.0)
            self._progress(0, force=True)

        def _batch_point(self, batches: int, running_loss: float) -> None:
            """The mean loss of the batches since the last point, from the epoch's running mean (fit's batch logs)."""
            before, before_mean = self._seen
            if batches > before:
                loss = (running_loss * batches - before_mean * before) / (batches - before)
                self.batch_loss.append([round(self._epoch - 1 + batches / self.steps, 4), round(float(loss), 5)])
                del self.batch_loss[:-BATCH_POINTS]
            self._seen = (batches, running_loss)

        def on_train_batch_end(self, batch, logs=None):
            self.listener.on_batch(self._epoch, batch + 1, self.steps)
            if logs and "loss" in logs and time.monotonic() - self._last_progress >= PROGRESS_EVERY_S:
                self._batch_point(batch + 1, float(logs["loss"]))
            self._progress(batch + 1)
            self._check_stop()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            row = {
                "epoch": epoch + 1,
                **{k: float(logs[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs},
                "learning_rate": self._epoch_learning_rate,
                "seconds": time.monotonic() - self._epoch_start,
            }
            self.rows.append(row)
            runs.write_csv(self.run_dir / runs.HISTORY_FILE, pd.DataFrame(self.rows, columns=HISTORY_COLUMNS))
            if self.save_checkpoint and not self.cancelled:  # a cancelled epoch is cut short: no checkpoint of it
                self.save_checkpoint(epoch + 1, self.rows)
            self._progress(self.steps, force=True)
            self.listener.on_epoch(row)
            self._check_stop()

    return RunCallback


# What Keras' callbacks count between epochs (reset by their on_train_begin): kept in the checkpoint so that a
# resumed run goes on counting where it stopped.
CALLBACK_COUNTERS = {"EarlyStopping": ("wait", "best", "best_epoch"), "ReduceLROnPlateau": ("wait", "best", "cooldown_counter")}


def callback_state(callbacks) -> tuple[dict, list]:
    """({class name: {counter: value}}, early stopping's best weights or []) of the callbacks in CALLBACK_COUNTERS."""
    counters, best_weights = {}, []
    for cb in callbacks:
        kind = type(cb).__name__
        if kind in CALLBACK_COUNTERS:
            values = {name: getattr(cb, name) for name in CALLBACK_COUNTERS[kind]}
            counters[kind] = {k: None if v is None or not math.isfinite(v) else float(v) for k, v in values.items()}
        if kind == "EarlyStopping" and cb.best_weights is not None:
            best_weights = list(cb.best_weights)
    return counters, best_weights


def restore_callback_state(callbacks, counters: dict, best_weights: list) -> None:
    for cb in callbacks:
        kind = type(cb).__name__
        for name, value in counters.get(kind, {}).items():
            setattr(cb, name, value if name == "best" or value is None else int(value))
        if kind == "EarlyStopping" and best_weights:
            cb.best_weights = best_weights


def keras_callbacks(config: TrainConfig) -> list:
    """Early stopping and reduce-on-plateau, as the config asks (Keras' own callbacks, on the validation loss).
    A resumed run restores what they had counted (callback_state)."""
    import keras

    out = []
    if config.early_stopping:
        out.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping, restore_best_weights=True))
    if config.reduce_lr:
        out.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=config.reduce_lr, min_lr=1e-6))
    return out


def steps_per_execution_for(steps_per_epoch: int) -> int:
    """Several steps per compiled call for model.fit where core.fast has no loop (torch): 1.3-2.3x faster
    on small MLPs under TensorFlow (docs/benchmarks.md), still a progress/cancel check every few hundred ms."""
    return max(1, min(16, steps_per_epoch))


def train(config: TrainConfig, runs_dir=runs.DEFAULT_RUNS_DIR, *, name: str | None = None, preset: str | None = None,
          data_dir=None, dataset: datasets.Dataset | None = None, listener: Listener | None = None,
          should_stop: Callable[[], bool] = lambda: False, run_id: str | None = None, engine: str | None = None,
          group: dict | None = None, owner: str | None = None, assignment: str | None = None) -> Path:
    """Train and evaluate; returns the run folder. A failure is recorded in the run and re-raised.
    `group` ties the run to the other seeds of the same settings (core.jobs.seed_group).

    `engine` picks the training loop, not the math: "fast" (core.fast: data on the device, many steps per
    compiled call) or "fit" (plain model.fit, the reference); default $CLASSROOM_ENGINE, else "fast".
    A checkpoint is written after every completed epoch (core.checkpoint), so that `resume` can continue.
    """
    from core import fast
    from core.device import environment

    engine = fast.resolve_engine(engine)
    env = environment()
    run_dir = runs.create_run(runs_dir, config.to_dict(), name or preset or config.architecture, preset, env, run_id, owner)
    runs.update_record(run_dir, engine=engine, engine_detail=fast.implementation(engine, env["backend"]), group=group,
                       assignment=assignment,
                       **({"differs_from_preset": presets.get(preset).differences(config)} if preset else {}))
    return _train_segment(run_dir, config, None, engine, env, data_dir, dataset, listener, should_stop)


class ResumeError(runs.RunError):
    """A run cannot be continued; the message says why and what to do."""


def plan_resume(run_dir, epochs: int | None = None) -> tuple[TrainConfig, checkpoint.Checkpoint]:
    """Check that a run can be continued (to `epochs` in all, default its config's), changing nothing.
    Returns the config to continue with and the verified checkpoint."""
    from core.config import ConfigError, from_dict

    path = Path(run_dir)
    if not (path / runs.RUN_FILE).is_file():
        raise ResumeError(f"{path} is not a run folder (it has no {runs.RUN_FILE}); `python -m core runs` lists the runs")
    run = runs.read_run(path)
    if run.problem:
        raise ResumeError(f"run {path.name} is broken ({run.problem}); it cannot be resumed")
    version = run.record.get("schema_version")
    if version != runs.SCHEMA_VERSION:
        raise ResumeError(f"run {path.name} has run format {version!r}; this version resumes format {runs.SCHEMA_VERSION} only")
    if run.status == "running":
        pid = (run.record.get("worker") or {}).get("pid")
        raise ResumeError(f"run {run.name!r} is still training (process {pid}); stop it before resuming it")
    try:
        config = from_dict(run.config)
    except (ConfigError, TypeError) as e:
        raise ResumeError(f"run {path.name} has an invalid config ({e}); it cannot be resumed") from None
    target = config.epochs if epochs is None else epochs
    if run.status == "completed" and epochs is None:
        raise ResumeError(f"run {run.name!r} is complete ({config.epochs} epochs); pass --epochs N (more than "
                          f"{config.epochs}) to train it further")
    if target != config.epochs and config.schedule != "constant":
        raise ResumeError(f"run {run.name!r} cannot change its number of epochs: its {config.schedule} learning-rate "
                          f"schedule was planned for {config.epochs} epochs (only a constant rate can be extended)")
    try:
        saved = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        raise ResumeError(f"run {run.name!r} cannot be resumed: {e}") from None
    # A run killed after its last epoch's checkpoint, before its results were saved, resumes to evaluate and save.
    if target < saved.epoch or (target == saved.epoch and run.has_results):
        raise ResumeError(f"--epochs {target} is not more than the {saved.epoch} epochs run {run.name!r} has done")
    try:
        config = config.replace(epochs=target)
    except ConfigError as e:
        raise ResumeError(str(e)) from None
    return config, saved


def resume(run_dir, *, epochs: int | None = None, data_dir=None, dataset: datasets.Dataset | None = None,
           listener: Listener | None = None, should_stop: Callable[[], bool] = lambda: False,
           engine: str | None = None) -> Path:
    """Continue a cancelled, failed or killed run (or extend a finished one, constant learning rate only)
    from its last checkpoint, in the same folder: the same run, with one more segment in run.json."""
    from core import fast
    from core.device import environment
    config, saved = plan_resume(run_dir, epochs)
    engine = fast.resolve_engine(engine)
    env = environment()
    run_dir = Path(run_dir)
    record = runs.read_run(run_dir).record
    preset = record.get("preset")
    segments = runs.close_killed_segments(record, runs.open_live(run_dir).progress().get("updated"),
                                          record.get("error") or "the training process stopped")
    runs.update_record(run_dir, status="running", finished=None, error=None, traceback=None, config=config.to_dict(),
                       worker={"host": socket.gethostname(), "pid": os.getpid()}, epochs_trained=saved.epoch, segments=segments,
                       **({"differs_from_preset": presets.get(preset).differences(config)} if preset in presets.PRESETS else {}))
    runs.write_csv(run_dir / runs.HISTORY_FILE, pd.DataFrame(saved.history, columns=HISTORY_COLUMNS))
    return _train_segment(run_dir, config, saved, engine, env, data_dir, dataset, listener, should_stop)


def _train_segment(run_dir: Path, config: TrainConfig, saved: checkpoint.Checkpoint | None, engine: str, env: dict,
                   data_dir, dataset, listener, should_stop) -> Path:
    """One uninterrupted stretch of a run: from scratch (saved is None) or from a checkpoint, to the end."""
    from core import fast

    listener = listener or BaseListener()
    started = time.monotonic()
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
        data_started = time.monotonic()
        dataset = dataset or datasets.load(config.dataset, data_dir)
        data = prepare_data(config, dataset)
        classes = len(data.info.class_names)
        runs.update_record(run_dir, data={"source": data.source, "train": len(data.x_train), "validation": len(data.x_val),
                                          "test": len(data.x_test), "limit": config.limit or None})
        steps = math.ceil(len(data.x_train) / config.batch_size)
        # Backends without a fast loop (torch) get model.fit with several steps per compiled call.
        fast_loop = engine == "fast" and fast.supported(env["backend"])
        model = compile_model(config, steps, steps_per_execution_for(steps) if engine == "fast" and not fast_loop else 1)
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
            segment.update(to_epoch=epoch, seconds=time.monotonic() - started)
            runs.update_record(run_dir, segments=segments, epochs_trained=epoch)

        callback = _callback_class()(run_dir, config.epochs, steps, len(data.x_train), listener, should_stop,
                                     rows=saved.history if saved else (), save_checkpoint=save_checkpoint,
                                     on_begin=(lambda: restore_callback_state(watchers, saved.callbacks, saved.best_weights))
                                     if saved else None)
        # Ours last: its on_train_begin restores the others' counters after they reset them, and its checkpoint
        # holds what reduce-on-plateau has just decided for the next epoch.
        callbacks = [*watchers, callback]
        fit_started = time.monotonic()
        if fast_loop:
            fast.fit(model, data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), batch_size=config.batch_size,
                     epochs=config.epochs, seed=config.seed, callbacks=callbacks, initial_epoch=start_epoch, rng=rng)
        else:
            model.fit(data.x_train, one_hot(data.y_train, classes), validation_data=(data.x_val, one_hot(data.y_val, classes)),
                      batch_size=config.batch_size, epochs=config.epochs, shuffle=True, verbose=0, callbacks=callbacks,
                      initial_epoch=start_epoch)
        fit_seconds = time.monotonic() - fit_started
        evaluate_started = time.monotonic()
        _finish(run_dir, model, data, callback.rows, config)
        status = "cancelled" if callback.cancelled else "completed"
        before = previous.get("durations") or {}
        durations = {"data_s": fit_started - data_started, "fit_s": before.get("fit_s", 0.0) + fit_seconds,
                     "evaluate_s": time.monotonic() - evaluate_started,
                     "total_s": sum(s["seconds"] for s in segments[:-1]) + time.monotonic() - started}
        segment.update(status=status, to_epoch=len(callback.rows), seconds=time.monotonic() - started)
        stopped = next((cb.stopped_epoch + 1 for cb in watchers if getattr(cb, "stopped_epoch", 0)), None)
        runs.update_record(run_dir, status=status, finished=runs.now_iso(), durations=durations,
                           epochs_trained=len(callback.rows), segments=segments, stopped_early_at=stopped)
        (run_dir / runs.PROGRESS_FILE).unlink(missing_ok=True)
        if status == "completed" and config.schedule != "constant":
            checkpoint.remove(run_dir)  # its optimizer state can never be used: the schedule has ended
        return run_dir
    except BaseException as e:
        message = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        segment.update(status="failed", seconds=time.monotonic() - started, error=message)
        runs.update_record(run_dir, status="failed", finished=runs.now_iso(), error=message, segments=segments,
                           traceback=traceback.format_exc(limit=8))
        raise


def _finish(run_dir: Path, model, data: PreparedData, history: list[dict], config: TrainConfig) -> None:
    """Evaluate on the test set and write metrics, predictions, mistakes and the model."""
    import keras

    probabilities = np.asarray(model.predict(data.x_test, batch_size=max(256, config.batch_size), verbose=0), np.float32)
    test_loss = loss_from_predictions(model, probabilities, data.y_test)
    predictions = evaluation.per_example(probabilities, data.y_test)
    runs.write_results(run_dir, predictions, data.x_test, data.info.class_names, history, test_loss)
    save_weights_only_model(model, run_dir / runs.MODEL_FILE)
    keras.backend.clear_session()


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
