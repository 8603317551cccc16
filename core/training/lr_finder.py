"""The learning-rate range test (L. Smith, "Cyclical Learning Rates for Training Neural Networks", 2015/2017):
train the config's network from its seeded initial weights while the learning rate rises exponentially, one batch
per rate, and watch the loss. Where it falls fastest, the rate is large enough to make progress and still small
enough to be stable; where it shoots up, the rate is too large: training there diverges or kills the ReLUs.

    result = find_learning_rate(config, dataset)       # about `steps` batches of training
    result.suggestion, result.alternative, result.to_dict()

A plain loop of train_on_batch with the optimizer's learning-rate variable set before each batch: the same code
under TensorFlow and JAX. The loss is Keras' (L2 penalty included), as in history.csv.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from core.data import datasets
from core.networks.config import TrainConfig
from core.training.compiling import compile_model
from core.training.inputs import one_hot, prepare_data

BETA = 0.98  # smoothing of the loss curve (an exponential moving average over about 50 batches)
DIVERGED = 4.0  # stop once the smoothed loss is this many times its best: the rate is far too large
SKIP_START = 10  # the first points' average rests on few batches; the steepest descent is not looked for there


@dataclass
class LRFinderResult:
    learning_rates: list[float]
    losses: list[float]  # one batch's loss at each rate
    smoothed: list[float]  # the losses' moving average, bias-corrected (Adam's correction: early points are not low)
    stop_reason: str  # "diverged" (the loss exploded or became NaN), "finished" (reached `high`), "cancelled"

    @property
    def suggestion(self) -> float | None:
        """The rate where the smoothed loss falls fastest per factor of learning rate, before its minimum; None if the
        curve is too short to tell. Returned as the suggestion because it lies well inside the stable range, and does
        not need the curve to have reached the edge: the alternative (a tenth of the rate at the lowest loss) does,
        and a range that ends before the loss turns up (a small set learnt by heart) puts that rate at `high`."""
        end = int(np.argmin(self.smoothed)) if self.smoothed else 0
        if end - SKIP_START < 2:
            return None
        slope = np.gradient(np.asarray(self.smoothed[SKIP_START:end + 1]), np.log(self.learning_rates[SKIP_START:end + 1]))
        return self.learning_rates[SKIP_START + int(np.argmin(slope))]

    @property
    def min_loss_lr(self) -> float | None:
        """The rate at the lowest smoothed loss: the edge, beyond which larger steps stop helping."""
        return self.learning_rates[int(np.argmin(self.smoothed))] if self.smoothed else None

    @property
    def alternative(self) -> float | None:
        """The other common rule: a tenth of the rate at the lowest loss (fast.ai's first learning-rate finder)."""
        return self.min_loss_lr / 10 if self.smoothed else None

    def to_dict(self) -> dict:
        """Plain JSON: the curve, how it ended and both rules' rates."""
        return {**asdict(self), "suggestion": self.suggestion, "min_loss_lr": self.min_loss_lr,
                "alternative": self.alternative}

    @classmethod
    def from_dict(cls, values: dict) -> "LRFinderResult":
        return cls(**{k: values[k] for k in ("learning_rates", "losses", "smoothed", "stop_reason")})


def find_learning_rate(config: TrainConfig, dataset: datasets.Dataset, *, steps: int = 200, low: float = 1e-6,
                       high: float = 1.0, should_stop: Callable[[], bool] = lambda: False,
                       on_step: Callable[[int, float, float], None] | None = None) -> LRFinderResult:
    """Run the range test for `steps` batches of the config's training split, the rate going from `low` to `high`;
    `on_step(step, learning_rate, loss)` after each batch, `should_stop()` checked before each."""
    import keras

    if not 0 < low < high or steps < 2:
        raise ValueError(f"a range test needs 0 < low < high and at least 2 steps (got low={low}, high={high}, steps={steps})")
    data = prepare_data(config, dataset)
    classes = len(data.class_names)
    n, batch = len(data.x_train), config.batch_size
    # The config's optimizer with a constant rate, set by hand before each batch (a schedule would override it).
    model = compile_model(config.replace(schedule="constant"), math.ceil(n / batch))
    rng = np.random.default_rng(config.seed)
    order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(steps * batch / n))])  # shuffled epochs, end to end
    rates = low * (high / low) ** (np.arange(steps) / (steps - 1))
    result = LRFinderResult([], [], [], "finished")
    average = 0.0
    try:
        for step, rate in enumerate(rates):
            if should_stop():
                result.stop_reason = "cancelled"
                break
            model.optimizer.learning_rate = float(rate)
            index = order[step * batch:(step + 1) * batch]
            logs = model.train_on_batch(data.x_train[index], one_hot(data.y_train[index], classes), return_dict=True)
            loss = float(logs["loss"])
            if not math.isfinite(loss):
                result.stop_reason = "diverged"
                break
            average = BETA * average + (1 - BETA) * loss
            smoothed = average / (1 - BETA ** (step + 1))
            result.learning_rates.append(float(rate))
            result.losses.append(loss)
            result.smoothed.append(smoothed)
            if on_step:
                on_step(step + 1, float(rate), loss)
            if smoothed > DIVERGED * min(result.smoothed):
                result.stop_reason = "diverged"
                break
    finally:
        keras.backend.clear_session()
    return result
