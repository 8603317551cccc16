"""Do two runs really differ on the test set? One rule for every page that says so (Compare, the class board):
McNemar's paired test on the test images both runs were scored on; runs that were not scored on the same images in
the same order cannot be paired, and then nothing is claimed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.metrics.stats import McNemarResult, mcnemar_test
from core.storage import runs
from core.system.memo import FileMemo, mtimes

_CORRECT = FileMemo(limit=2_000)  # per run: which test images it got right (the board asks every few seconds)


@dataclass(frozen=True)
class Versus:
    """Run A against run B: McNemar's test where they can be paired, else why they cannot."""

    paired: McNemarResult | None
    unpaired_because: str | None = None

    @property
    def differs(self) -> bool | None:
        """True: really different on this test set; False: not shown to differ; None: they cannot be compared."""
        return None if self.paired is None else self.paired.significant()


def _answers(run: runs.Run) -> tuple[str, np.ndarray, np.ndarray]:
    """(dataset, true classes, right or wrong per test image) of a run with results."""
    path = run.path / runs.PREDICTIONS_FILE

    def read():
        predictions = run.predictions()
        return run.record.get("dataset"), predictions["y_true"], predictions["y_true"] == predictions["y_pred"]

    return _CORRECT.get(str(path), mtimes(path), read)


def versus(a: runs.Run, b: runs.Run) -> Versus:
    """Whether run `a` and run `b` really differ in test accuracy (RunError if either's predictions are unreadable)."""
    dataset_a, truth_a, right_a = _answers(a)
    dataset_b, truth_b, right_b = _answers(b)
    if dataset_a != dataset_b:
        return Versus(None, "they were tested on different datasets, so there is nothing to pair")
    if truth_a.shape != truth_b.shape or not np.array_equal(truth_a, truth_b):
        return Versus(None, "they were not tested on the same images in the same order, so their predictions cannot be "
                            "paired")
    return Versus(mcnemar_test(right_a, right_b))
