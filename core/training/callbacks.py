"""What happens around each batch and epoch of a run: the live files (progress, history, a checkpoint per epoch),
the listener (CLI progress bar, Ray relay), Stop between batches, and Keras' own early stopping and
reduce-on-plateau, whose counters a resumed run restores."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Protocol

import pandas as pd

from core.networks.config import TrainConfig
from core.storage import runs
from core.system.files import write_csv, write_json
from core.training.compiling import current_learning_rate

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


def run_callback_class():
    import keras

    class RunCallback(keras.callbacks.Callback):
        """Writes history, progress and a checkpoint into the run folder, feeds the listener, honours
        cancellation. `rows` starts with the history of the epochs done before (a resumed run). Epochs are timed by
        `clock`: the run's own time, which in a worker taking turns is not the wall's."""

        def __init__(self, run_dir, epochs, steps, images, listener, should_stop, rows=(), save_checkpoint=None,
                     on_begin=None, clock=time.monotonic):
            super().__init__()
            self.clock = clock
            self.on_begin = on_begin
            self.run_dir, self.epochs, self.steps, self.images = run_dir, epochs, steps, images
            self.listener, self.should_stop = listener, should_stop
            self.rows: list[dict] = list(rows)
            self.start_epoch = len(self.rows)
            self.save_checkpoint = save_checkpoint
            self.cancelled = False
            self._last_progress = 0.0
            self._epoch_start = clock()
            self._epoch = 0
            self.batch_loss: list[list[float]] = []  # [epoch position, mean loss of the batches since the last point]
            self._seen = (0, 0.0)  # batches of this epoch and their running mean loss at the last point

        def _progress(self, step, force=False):
            now = time.monotonic()
            if force or now - self._last_progress >= PROGRESS_EVERY_S:
                self._last_progress = now
                write_json(self.run_dir / runs.PROGRESS_FILE, {
                    "epoch": self._epoch, "epochs": self.epochs, "step": step, "steps": self.steps,
                    "epoch_seconds": self.clock() - self._epoch_start, "images": self.images, "start_epoch": self.start_epoch,
                    "batch_loss": self.batch_loss, "updated": time.time()})

        def _check_stop(self):
            if not self.cancelled and self.should_stop():
                self.cancelled = True
                self.model.stop_training = True

        def stop_now(self) -> bool:
            """Whether Stop has been asked (training then ends at its next chance)."""
            self._check_stop()
            return self.cancelled

        def on_train_begin(self, logs=None):
            if self.on_begin:
                self.on_begin()

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch, self._epoch_start = epoch + 1, self.clock()
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
            # The run's first point goes out at once, however soon after the epoch began: in a worker taking turns,
            # a point held back for the next turn would reach the student only after every other job's turn.
            due = bool(logs and "loss" in logs and (not self.batch_loss
                                                     or time.monotonic() - self._last_progress >= PROGRESS_EVERY_S))
            if due:
                self._batch_point(batch + 1, float(logs["loss"]))
            self._progress(batch + 1, force=due)
            self._check_stop()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            row = {
                "epoch": epoch + 1,
                **{k: float(logs[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs},
                "learning_rate": self._epoch_learning_rate,
                "seconds": self.clock() - self._epoch_start,
            }
            self.rows.append(row)
            write_csv(self.run_dir / runs.HISTORY_FILE, pd.DataFrame(self.rows, columns=runs.HISTORY_COLUMNS))
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
