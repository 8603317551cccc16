"""core.training.lr_finder on the tiny learnable Fashion-MNIST set: the curve over rising rates, the stop on divergence, a
suggestion that trains, cancellation, and the result as plain JSON."""

import json
import math

import numpy as np
import pytest

from core.networks.config import TrainConfig
from core.training import lr_finder
from core.training.trainer import train

pytestmark = pytest.mark.backend

# Label smoothing keeps the gradients alive once the 340 training images are learnt (the loss cannot reach 0), so
# that too large a rate still throws the network off: without it the toy set is memorised before the rate is large.
CONFIG = TrainConfig(dataset="fashion_mnist", architecture="fmnist_arch1", label_smoothing=0.1, epochs=2)
# The curve rises to 10, past the dashboard's 1: at 1 the toy set's loss only just crossed the divergence line, and with
# TensorFlow on one thread (a one-core machine) it stayed under it by a few percent.
LOW, HIGH = 1e-6, 10.0


@pytest.fixture(scope="module")
def curve(request):
    fashion_data = request.getfixturevalue("fashion_data")
    steps = []
    result = lr_finder.find_learning_rate(CONFIG, fashion_data, low=LOW, high=HIGH, on_step=lambda *a: steps.append(a))
    return result, steps


def test_the_loss_is_recorded_over_rising_rates_and_smoothed(curve):
    result, steps = curve
    rates, losses, smoothed = (np.array(v) for v in (result.learning_rates, result.losses, result.smoothed))
    assert len(rates) == len(losses) == len(smoothed) == len(steps) > 50
    assert rates[0] == pytest.approx(LOW) and np.diff(np.log(rates)) == pytest.approx(math.log(HIGH / LOW) / 199)
    assert [s for s, _, _ in steps] == list(range(1, len(rates) + 1)) and [r for _, r, _ in steps] == list(rates)
    assert smoothed[0] == pytest.approx(losses[0])  # bias-corrected: the first point is not pulled towards 0
    assert losses[:10].mean() > 2 > smoothed.min()  # it starts at chance (ln 10 = 2.3) and learns


def test_it_stops_when_the_loss_diverges_before_the_highest_rate(curve):
    result, _ = curve
    assert result.stop_reason == "diverged" and len(result.losses) < 200 and result.learning_rates[-1] < HIGH
    assert result.smoothed[-1] > lr_finder.DIVERGED * min(result.smoothed)


def test_the_suggestion_lies_before_the_divergence_and_trains(curve, fashion_data, tmp_path):
    result, _ = curve
    assert 1e-6 < result.suggestion < result.min_loss_lr < result.learning_rates[-1]
    assert result.alternative == pytest.approx(result.min_loss_lr / 10)
    run = train(CONFIG.replace(learning_rate=result.suggestion), tmp_path, dataset=fashion_data)
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] > 0.8


def test_should_stop_ends_it(fashion_data):
    calls = []
    result = lr_finder.find_learning_rate(CONFIG, fashion_data, steps=50, should_stop=lambda: len(calls) >= 5,
                                          on_step=lambda *a: calls.append(a))
    assert result.stop_reason == "cancelled" and len(result.losses) == 5
    assert result.suggestion is None  # five points cannot tell where the loss falls fastest
    nothing = lr_finder.find_learning_rate(CONFIG, fashion_data, should_stop=lambda: True)
    assert nothing.to_dict() == {"learning_rates": [], "losses": [], "smoothed": [], "stop_reason": "cancelled",
                                 "suggestion": None, "min_loss_lr": None, "alternative": None}


def test_the_result_is_plain_json(curve):
    result, _ = curve
    stored = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert stored["suggestion"] == result.suggestion and stored["stop_reason"] == "diverged"
    assert lr_finder.LRFinderResult.from_dict(stored) == result


def test_bad_ranges_are_refused(fashion_data):
    with pytest.raises(ValueError, match="0 < low < high"):
        lr_finder.find_learning_rate(CONFIG, fashion_data, low=1.0, high=1e-3)
