"""Final evaluation on the held-out test set, the way the report did it and more.

Everything the dashboard's Inspect and Compare pages show comes from what this writes into the run
folder, so they never need the dataset: per-example predictions, the confusion matrix, per-class
scores, the Wald interval, and the images of the most instructive mistakes.
"""

from __future__ import annotations

import numpy as np

from core.metrics.stats import wald_interval

MAX_STORED_MISTAKES = 1000  # images kept in the run (CIFAR-100: 3 MB raw)
TOP_PAIRS, PER_TOP_PAIR = 20, 24  # the most confused pairs keep this many images each before the others get one


def per_example(probabilities: np.ndarray, y_true: np.ndarray) -> dict[str, np.ndarray]:
    """Predicted class, its probability, and the cross-entropy loss of each example."""
    y_pred = probabilities.argmax(axis=1)
    p_true = probabilities[np.arange(len(y_true)), y_true]
    return {
        "y_true": y_true.astype(np.int16),
        "y_pred": y_pred.astype(np.int16),
        "confidence": probabilities.max(axis=1).astype(np.float32),
        "p_true": p_true.astype(np.float32),
        "loss": (-np.log(np.clip(p_true, 1e-7, 1.0))).astype(np.float32),
    }


def worst_first(pred: dict[str, np.ndarray], indices: np.ndarray) -> np.ndarray:
    """`indices` (of mistakes) ordered worst first: the lowest probability given to the true class, then the most
    confident wrong answer. Not by the loss: it is -log of that probability clipped at 1e-7, so its worst ties."""
    indices = np.asarray(indices)
    return indices[np.lexsort((-pred["confidence"][indices], pred["p_true"][indices]))]


def select_mistakes(pred: dict[str, np.ndarray], limit: int = MAX_STORED_MISTAKES) -> np.ndarray:
    """Indices of misclassified examples to keep. First the mistakes of the TOP_PAIRS most confused
    (true, predicted) pairs, up to PER_TOP_PAIR each (what Inspect shows of a cell); then the worst of every
    other pair, the second worst of every pair, and so on, each round worst first."""
    wrong = np.flatnonzero(pred["y_true"] != pred["y_pred"])
    if wrong.size == 0:
        return wrong
    wrong = worst_first(pred, wrong)
    pair = pred["y_true"][wrong].astype(np.int64) * 1000 + pred["y_pred"][wrong]
    rank = np.zeros(wrong.size, dtype=np.int64)
    seen: dict[int, int] = {}
    for i, p in enumerate(pair):
        rank[i] = seen.get(p, 0)
        seen[p] = rank[i] + 1
    most_confused = sorted(seen, key=lambda p: (-seen[p], p))[:TOP_PAIRS]
    later = ~(np.isin(pair, most_confused) & (rank < PER_TOP_PAIR))
    order = np.lexsort((np.arange(wrong.size), rank, later))  # top pairs' first, then by rank, then worst first
    return wrong[order[:limit]]


def summarize(pred: dict[str, np.ndarray], class_names: tuple[str, ...]) -> dict:
    """Test accuracy, 95 % interval of the error, confusion matrix and per-class scores."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true, y_pred = pred["y_true"], pred["y_pred"]
    n = len(y_true)
    errors = int(np.sum(y_true != y_pred))
    labels = np.arange(len(class_names))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n_test": n,
        "test_accuracy": 1 - errors / n,
        "test_error": errors / n,
        "test_error_ci95": list(wald_interval(errors, n)),
        "test_cross_entropy": float(np.mean(pred["loss"])),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "per_class": [
            {"class": class_names[i], "precision": float(precision[i]), "recall": float(recall[i]),
             "f1": float(f1[i]), "support": int(support[i])}
            for i in labels
        ],
    }


def history_summary(history: list[dict]) -> dict:
    """Final and best epoch figures from the per-epoch history."""
    if not history:
        return {}
    last = history[-1]
    best = max(history, key=lambda h: h.get("val_accuracy", float("-inf")))
    return {
        "epochs_trained": len(history),
        "train_accuracy": last.get("accuracy"),
        "train_loss": last.get("loss"),
        "val_accuracy": last.get("val_accuracy"),
        "val_loss": last.get("val_loss"),
        "best_val_accuracy": best.get("val_accuracy"),
        "best_epoch": best.get("epoch"),
    }
