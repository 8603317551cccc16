"""core.metrics.evaluation: per-example predictions, the summary of a test set, which mistakes are kept."""

import numpy as np
import pytest

from core.metrics import evaluation
from core.metrics.stats import wald_interval


def test_wald_interval_reproduces_the_report():
    """The report's best model: 1,084 errors on 10,000 test images -> (0.1024, 0.1145)."""
    low, high = wald_interval(1084, 10_000)
    assert low == pytest.approx(0.1024, abs=1e-4) and high == pytest.approx(0.1145, abs=1e-4)
    half = 1.959964 * np.sqrt(0.1084 * 0.8916 / 10_000)
    assert (low, high) == pytest.approx((0.1084 - half, 0.1084 + half), abs=1e-9)


def test_wald_interval_edges():
    assert wald_interval(0, 100) == (0.0, 0.0)
    assert wald_interval(100, 100) == (1.0, 1.0)
    low, high = wald_interval(1, 10)
    assert low == 0.0 and 0.1 < high < 0.3  # clipped at 0
    assert wald_interval(50, 100, confidence=0.99)[0] < wald_interval(50, 100)[0]
    with pytest.raises(ValueError, match="at least one test example"):
        wald_interval(0, 0)


def probabilities_for(rows):
    p = np.asarray(rows, np.float32)
    assert np.allclose(p.sum(axis=1), 1)
    return p


def test_per_example():
    p = probabilities_for([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.0, 1.0, 0.0]])
    pred = evaluation.per_example(p, np.array([0, 1, 0]))
    np.testing.assert_array_equal(pred["y_pred"], [0, 2, 1])
    np.testing.assert_array_equal(pred["y_true"], [0, 1, 0])
    assert pred["y_pred"].dtype == np.int16 and pred["loss"].dtype == np.float32
    np.testing.assert_allclose(pred["confidence"], [0.7, 0.6, 1.0])
    np.testing.assert_allclose(pred["p_true"], [0.7, 0.3, 0.0])
    np.testing.assert_allclose(pred["loss"], [-np.log(0.7), -np.log(0.3), -np.log(1e-7)], rtol=1e-5)  # clipped, finite


def _pred(y_true, y_pred, loss=None):
    y_true, y_pred = np.asarray(y_true, np.int16), np.asarray(y_pred, np.int16)
    loss = np.asarray(loss if loss is not None else np.zeros(len(y_true)), np.float32)
    return {"y_true": y_true, "y_pred": y_pred, "loss": loss, "confidence": np.ones(len(y_true), np.float32),
            "p_true": np.exp(-loss)}


def test_summarize_confusion_and_per_class_scores():
    # true:      0  0  0  0  1  1  1  2  2  2
    # predicted: 0  0  0  1  1  1  0  2  2  1
    pred = _pred([0, 0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 0, 0, 1, 1, 1, 0, 2, 2, 1], loss=np.arange(10) / 10)
    s = evaluation.summarize(pred, ("a", "b", "c"))
    assert s["n_test"] == 10 and s["test_accuracy"] == pytest.approx(0.7) and s["test_error"] == pytest.approx(0.3)
    assert s["confusion"] == [[3, 1, 0], [1, 2, 0], [0, 1, 2]]
    assert s["test_error_ci95"] == pytest.approx(list(wald_interval(3, 10)))
    assert s["test_cross_entropy"] == pytest.approx(0.45)
    a, b, c = s["per_class"]
    assert a == {
        "class": "a",
        "precision": pytest.approx(3 / 4),
        "recall": pytest.approx(3 / 4),
        "f1": pytest.approx(3 / 4),
        "support": 4,
    }
    assert b["precision"] == pytest.approx(2 / 4) and b["recall"] == pytest.approx(2 / 3)
    assert b["f1"] == pytest.approx(2 * (0.5 * 2 / 3) / (0.5 + 2 / 3)) and b["support"] == 3
    assert c["precision"] == pytest.approx(1.0) and c["recall"] == pytest.approx(2 / 3)


def test_summarize_class_never_predicted_nor_present():
    s = evaluation.summarize(_pred([0, 0, 1], [0, 0, 0]), ("a", "b", "c"))
    assert s["confusion"] == [[2, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert s["per_class"][1] == {"class": "b", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert s["per_class"][2]["support"] == 0 and s["per_class"][2]["f1"] == 0.0


def test_select_mistakes_worst_of_every_pair_first():
    #            index: 0    1    2    3    4    5    6
    pred = _pred([0, 0, 0, 1, 2, 0, 1],
                 [1, 1, 1, 0, 1, 0, 1],
                 [2.0, 3.0, 1.0, 0.5, 1.5, 9.0, 9.0])  # 5 and 6 are right: never kept, whatever their loss
    # Round 1, worst first: (0->1) #1 3.0, (2->1) #4 1.5, (1->0) #3 0.5; round 2: #0 2.0; round 3: #2 1.0.
    np.testing.assert_array_equal(evaluation.select_mistakes(pred), [1, 4, 3, 0, 2])
    np.testing.assert_array_equal(evaluation.select_mistakes(pred, limit=2), [1, 4])
    np.testing.assert_array_equal(evaluation.select_mistakes(pred, limit=4), [1, 4, 3, 0])
    assert evaluation.select_mistakes(_pred([0, 1], [0, 1])).size == 0


def test_the_worst_mistakes_come_first_even_where_the_clipped_loss_ties():
    """Probabilities of the true class below 1e-7 all have the loss -log(1e-7) = 16.12: the probability itself,
    then the confidence of the wrong answer, still order them."""
    p_true = np.array([1e-9, 0.3, 1e-12, 1e-8, 1e-12], np.float32)
    pred = {"p_true": p_true, "loss": -np.log(np.clip(p_true, 1e-7, 1)), "confidence": np.array([.9, .5, .4, .8, .95])}
    np.testing.assert_array_equal(evaluation.worst_first(pred, np.arange(5)), [4, 2, 0, 3, 1])
    np.testing.assert_array_equal(evaluation.worst_first(pred, np.array([3, 1, 0])), [0, 3, 1])


def test_select_mistakes_respects_the_limit_on_many(monkeypatch):
    monkeypatch.setattr(evaluation, "TOP_PAIRS", 0)  # the round robin alone
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 5000)
    y_pred = np.where(rng.random(5000) < 0.3, rng.integers(0, 10, 5000), y_true)
    pred = _pred(y_true, y_pred, rng.random(5000))
    keep = evaluation.select_mistakes(pred, limit=100)
    assert len(keep) == 100 and len(set(keep)) == 100
    assert np.all(pred["y_true"][keep] != pred["y_pred"][keep])
    pairs = {(int(pred["y_true"][i]), int(pred["y_pred"][i])) for i in np.flatnonzero(pred["y_true"] != pred["y_pred"])}
    assert len(pairs) == 90  # every (true, predicted) pair of 10 classes occurs
    first = [(int(pred["y_true"][i]), int(pred["y_pred"][i])) for i in keep[:90]]
    assert sorted(first) == sorted(pairs)  # every confused pair once before any pair twice
    losses = pred["loss"][keep[:90]]
    assert np.all(np.diff(losses) <= 0)  # each round worst first (p_true = exp(-loss) here)
    assert len(evaluation.select_mistakes(pred)) == min(evaluation.MAX_STORED_MISTAKES, int(np.sum(y_true != y_pred)))


def test_the_most_confused_pairs_keep_a_whole_cell_of_images_among_a_hundred_classes():
    """CIFAR-100-like: 4,000 mistakes spread over thousands of pairs, one pair confused 21 times (maple -> oak):
    the cell Inspect shows first has all its 21 images, not the 1 that a pure round robin would keep."""
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 100, 6000)
    y_pred = np.where(rng.random(6000) < 0.65, (y_true + rng.integers(1, 100, 6000)) % 100, y_true)
    y_true[:21], y_pred[:21] = 47, 52
    pred = _pred(y_true, y_pred, rng.random(6000))
    keep = evaluation.select_mistakes(pred)
    assert len(keep) == evaluation.MAX_STORED_MISTAKES
    assert set(range(21)) <= set(keep.tolist())
    kept_pairs = {(int(pred["y_true"][i]), int(pred["y_pred"][i])) for i in keep}
    assert len(kept_pairs) > 500  # the rest still spreads over many pairs


def test_history_summary():
    history = [
        {"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.45},
        {"epoch": 2, "loss": 0.6, "accuracy": 0.7, "val_loss": 0.8, "val_accuracy": 0.72},
        {"epoch": 3, "loss": 0.4, "accuracy": 0.8, "val_loss": 0.9, "val_accuracy": 0.70},
    ]
    s = evaluation.history_summary(history)
    assert s == {"epochs_trained": 3, "train_accuracy": 0.8, "train_loss": 0.4, "val_accuracy": 0.70, "val_loss": 0.9,
                 "best_val_accuracy": 0.72, "best_epoch": 2}
    assert evaluation.history_summary([]) == {}
