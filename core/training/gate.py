"""An epoch gate: a file that holds training back, so that a test (or a demonstration) decides when a run may go on,
whatever the speed of the machine.

While the file holds a number N, a run that has finished N epochs, and has more to train, waits before its next
epoch until the file holds a larger number or is removed. Its checkpoint of epoch N is written before it waits,
and Stop still reaches it. No file, no effect: `$CLASSROOM_EPOCH_GATE` names it (core.settings), and a deployment
leaves it unset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

POLL_S = 0.05


def epochs_allowed(path: Path | None) -> int | None:
    """The number of epochs the gate lets a run finish before it waits; None when it holds nothing back."""
    if path is None:
        return None
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None  # no file (released), or one being written


class GatedListener:
    """A training listener (core.training.callbacks.Listener) that passes every event on to `inner`, then, after an
    epoch, waits at the gate `path` while `should_stop` says nothing."""

    def __init__(self, inner, path: Path, should_stop: Callable[[], bool]):
        self.inner, self.path, self.should_stop = inner, Path(path), should_stop
        self.epochs = 0

    def on_start(self, run_dir, epochs, steps_per_epoch):
        self.epochs = epochs
        self.inner.on_start(run_dir, epochs, steps_per_epoch)

    def on_batch(self, epoch, step, steps_per_epoch):
        self.inner.on_batch(epoch, step, steps_per_epoch)

    def on_epoch(self, row):
        self.inner.on_epoch(row)
        done = int(row["epoch"])
        while done < self.epochs and not self.should_stop():
            allowed = epochs_allowed(self.path)
            if allowed is None or done < allowed:
                return
            time.sleep(POLL_S)
