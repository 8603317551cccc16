"""The end files of a tested run: per-image predictions, the mistakes worth showing, and the metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.metrics import evaluation
from core.storage.runs import METRICS_FILE, MISCLASSIFIED_FILE, PREDICTIONS_FILE
from core.system.files import write_json, write_npz


def write_results(run_dir, predictions: dict[str, np.ndarray], test_images: np.ndarray, class_names, history: list[dict],
                  test_loss: float) -> dict:
    """The end files of a tested run: predictions.npz, misclassified.npz (the mistakes worth showing, with
    their images) and metrics.json. `predictions` is core.metrics.evaluation.per_example's. Returns the metrics."""
    keep = evaluation.select_mistakes(predictions)
    write_npz(Path(run_dir) / PREDICTIONS_FILE, **predictions)
    write_npz(Path(run_dir) / MISCLASSIFIED_FILE, index=keep.astype(np.int32), image=np.asarray(test_images)[keep],
              **{k: v[keep] for k, v in predictions.items()})
    metrics = {"test_loss": float(test_loss), **evaluation.summarize(predictions, class_names),
               **evaluation.history_summary(history)}
    write_json(Path(run_dir) / METRICS_FILE, metrics)
    return metrics
