"""An epoch gate: a file that holds training back, so that a test (or a demonstration) decides when a run may go on,
whatever the speed of the machine.

While the file holds a number N, a run that has finished N epochs, and has more to train, waits before its next
epoch until the file holds a larger number or is removed. Its checkpoint of epoch N is written before it waits,
and Stop still reaches it. No file, no effect: `$CLASSROOM_EPOCH_GATE` names it (core.settings), and a deployment
leaves it unset.
"""

from __future__ import annotations

import time
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


def hold(path: Path | None):
    """The pace's hold (core.training.trainer.Pace) for the gate `path`: true while it keeps a run that has finished
    `done` epochs waiting; None without a gate."""
    if path is None:
        return None

    def holds(done: int) -> bool:
        allowed = epochs_allowed(path)
        if allowed is not None and done >= allowed:
            time.sleep(POLL_S)  # asked again at once while it waits: a pause, not a busy loop
            return True
        return False

    return holds
