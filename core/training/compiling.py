"""A network compiled as a config asks: its optimizer (Adam or SGD with Nesterov momentum), learning-rate schedule,
loss (label smoothing included) and accuracy metric. Keras is imported when called."""

from __future__ import annotations

import sys

from core.networks.architectures import build_model
from core.networks.config import TrainConfig


def seed_everything(seed: int) -> None:
    """keras.utils.set_random_seed (Python, NumPy, Keras' generators), without importing TensorFlow under another
    backend. Keras also seeds tf.random whenever TensorFlow is installed, for tf.data pipelines that only the
    TensorFlow backend builds here; that import alone cost a JAX process 5-10 s of CPU on the 2-core EPYC
    (2026-12-07). So under JAX, with TensorFlow not yet imported, Keras is told it is absent, as on the GPU machines
    where it is not installed, and Keras keeps that answer for the process."""
    import keras

    if keras.backend.backend() == "tensorflow" or sys.modules.get("tensorflow") is not None:
        keras.utils.set_random_seed(seed)
        return
    sys.modules["tensorflow"] = None  # an import of it now fails: Keras' lazy check answers "not installed"
    try:
        keras.utils.set_random_seed(seed)
    finally:
        del sys.modules["tensorflow"]


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


def compile_model(config: TrainConfig, steps_per_epoch: int, steps_per_execution: int = 1, prepare=None):
    """The network built with the config's seed, `prepare(model)` applied before compiling (transfer learning copies
    and freezes layers there), then compiled."""
    import keras

    seed_everything(config.seed)
    model = build_model(config)
    if prepare is not None:
        prepare(model)
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        steps_per_execution=steps_per_execution,
    )
    return model


def current_learning_rate(model) -> float:
    import keras

    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def steps_per_execution_for(steps_per_epoch: int) -> int:
    """Several steps per compiled call for model.fit where core.training.fast has no loop (torch): 1.3-2.3x faster
    on small MLPs under TensorFlow (docs/benchmarks.md), still a progress/cancel check every few hundred ms."""
    return max(1, min(16, steps_per_epoch))
