"""One typed training config: what the sliders set, what the CLI sets, what a run saves.

Every field carries its valid range in its metadata, so the dashboard builds its widgets from it
and `validate()` can name the field and the range when a value is out of bounds.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from core.data.datasets import CLASS_SUBSETS, DATASET_INFO, chosen_classes
from core.networks.architectures import ARCHITECTURES

DATASETS = ("fashion_mnist", "cifar100")
OPTIMIZERS = ("adam", "sgd")
TRANSFERS = ("fine_tune", "frozen")  # starting from another run's network: train all of it, or its new last layer only
START_FROM_PATTERN = re.compile(r"^(|[0-9]{8}-[0-9]{6}-[0-9a-f]{6}|preset:[a-z0-9.-]{1,60})$")
SCHEDULES = ("constant", "cosine", "onecycle")


class ConfigError(ValueError):
    """A config value is missing, of the wrong type, or outside its range."""


def _num(default, low, high, help, log=False, step=None):
    return field(default=default, metadata=dict(kind="number", low=low, high=high, help=help, log=log, step=step))


def _choice(default, choices, help):
    return field(default=default, metadata=dict(kind="choice", choices=choices, help=help))


def _flag(default, help):
    return field(default=default, metadata=dict(kind="flag", help=help))


def _run(default, help):
    return field(default=default, metadata=dict(kind="run", help=help))


@dataclass(frozen=True)
class TrainConfig:
    # What to train on and with which network (names from core.networks.architectures.ARCHITECTURES).
    dataset: str = _choice("fashion_mnist", DATASETS, "Dataset")
    architecture: str = _choice("fmnist_arch1", (), "Architecture")
    # Network shape. `depth` is used by the stacked networks (Fashion-MNIST Arch 2: hidden layers).
    depth: int = _num(9, 1, 16, "Hidden layers (Arch 2 only)")
    units: int = _num(200, 16, 1024, "Neurons per hidden layer", step=8)
    # Regularization. l2 = 0 switches L2 off, as in the report's "Not used".
    dropout: float = _num(0.0, 0.0, 0.9, "Dropout rate", step=0.05)
    l2: float = _num(0.0, 0.0, 0.1, "L2 strength (0 = off)", log=True)
    label_smoothing: float = _num(0.0, 0.0, 0.3, "Label smoothing", step=0.05)
    augment: bool = _flag(False, "Augment: random flips, and shifts on CIFAR-100")
    # A mirrored coat is still a coat: the test set is judged on each image and its mirror image, averaged. Only for a
    # network trained on mirrored images too (augment).
    test_flip: bool = _flag(False, "Test on mirror images too (averaged)")
    # Optimization. Adam with beta_1 = 0.95 is the report's Arch 2 TR1.
    optimizer: str = _choice("adam", OPTIMIZERS, "Optimizer")
    learning_rate: float = _num(1e-3, 1e-5, 1.0, "Learning rate", log=True)
    beta_1: float = _num(0.9, 0.5, 0.999, "Adam beta 1 / SGD momentum", step=0.005)
    schedule: str = _choice("constant", SCHEDULES, "Learning-rate schedule")
    batch_size: int = _num(32, 8, 1024, "Batch size")
    epochs: int = _num(50, 1, 300, "Epochs")
    # Data handling: the report holds out 15 % (Fashion-MNIST) or 10 % (CIFAR-100) for validation.
    validation_split: float = _num(0.15, 0.05, 0.5, "Validation share of the training set", step=0.05)
    limit: int = _num(0, 0, 60000, "Train on the first N training images (0 = all)")
    # Fewer images per class and half the classes: the report's closing claims (more images per class, transfer
    # learning) tested inside one dataset. The test set keeps the chosen classes only.
    class_subset: str = _choice("all", CLASS_SUBSETS, "Classes to train on")
    per_class: int = _num(0, 0, 6000, "Training images per class (0 = all)")
    # Start from a finished run's network (a run id, or "preset:ID" for the newest finished run of that preset): its
    # layers are copied, all but the last, which is new (its classes may differ).
    start_from: str = _run("", "Start from this run's network (empty = from scratch)")
    transfer: str = _choice("fine_tune", TRANSFERS, "With a starting network: fine-tune all of it, or train its last layer")
    # Keras' own callbacks, watching the validation loss: stop when it stops improving (keeping the best
    # weights), or halve the learning rate when it stalls (a constant schedule only).
    early_stopping: int = _num(0, 0, 50, "Stop after this many epochs without a better validation loss (0 = off)")
    reduce_lr: int = _num(0, 0, 50, "Halve the learning rate after this many epochs without progress (0 = off)")
    seed: int = _num(0, 0, 2**31 - 1, "Random seed (split, initial weights, shuffling, dropout)")

    def __post_init__(self):
        validate(self)
        # validate() accepts 4.0 for an int field and 0 for a float one; store the field's own type
        # (the builders call range(depth), and JSON should say 4, not 4.0).
        for name, f in FIELDS.items():
            if f.metadata["kind"] == "number":
                value = getattr(self, name)
                object.__setattr__(self, name, int(value) if f.type in ("int", int) else float(value))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        return from_dict({**self.to_dict(), **changes})

    def differences(self, other: "TrainConfig | dict") -> dict[str, list]:
        """{field: [this config's value, the other's]} for every field in which the other departs from this one
        (a saved run's config may lack newer fields: those are not counted)."""
        values = other.to_dict() if isinstance(other, TrainConfig) else other
        reference = self.to_dict()
        return {k: [reference[k], v] for k, v in values.items() if k in reference and reference[k] != v}


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def field_range(name: str) -> tuple[float, float]:
    meta = FIELDS[name].metadata
    return meta["low"], meta["high"]


MAX_EPOCHS = int(field_range("epochs")[1])


def class_names(config: TrainConfig | dict) -> tuple[str, ...]:
    """The names of the classes a run's network tells apart, in its own order (its class i is the i-th)."""
    values = config.to_dict() if isinstance(config, TrainConfig) else config
    names = DATASET_INFO[values["dataset"]].class_names
    return tuple(names[i] for i in chosen_classes(values["dataset"], values.get("class_subset", "all")))


def validate(config: TrainConfig) -> None:
    """Raise ConfigError naming the first field that is out of range or of the wrong type."""

    for name, f in FIELDS.items():
        value = getattr(config, name)
        meta = f.metadata
        if meta["kind"] == "number":
            expected = int if f.type in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            if expected is int and not float(value).is_integer():
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
            if not math.isfinite(value) or not meta["low"] <= value <= meta["high"]:
                raise ConfigError(f"{name} = {value!r} is out of range: it must be between {meta['low']} and {meta['high']}")
        elif meta["kind"] == "flag":
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be true or false, got {value!r}")
        elif meta["kind"] == "run":
            if not isinstance(value, str) or not START_FROM_PATTERN.match(value):
                raise ConfigError(f"{name} = {value!r} is not a run id (like 20261130-101500-a1b2c3), preset:ID or empty")
        elif name == "architecture":
            if value not in ARCHITECTURES:
                raise ConfigError(f"architecture {value!r} is unknown: choose one of {', '.join(ARCHITECTURES)}")
        elif value not in meta["choices"]:
            raise ConfigError(f"{name} = {value!r} is not allowed: choose one of {', '.join(meta['choices'])}")
    if config.reduce_lr and config.schedule != "constant":
        raise ConfigError(f"reduce_lr works with a constant learning rate only; the {config.schedule} schedule already "
                          "plans every step's rate (set reduce_lr = 0 or schedule = constant)")
    arch = ARCHITECTURES[config.architecture]
    if arch.dataset != config.dataset:
        raise ConfigError(f"architecture {config.architecture!r} is for {arch.dataset}, not for dataset {config.dataset!r}")
    if config.test_flip and not (config.augment and "augment" in arch.uses):
        raise ConfigError("test_flip needs augment: a network that never saw a mirrored image misreads them (Fashion-MNIST's "
                          "shoes all point one way: Arch 1 falls from 88 % to 78 % tested so); set "
                          "augment = true on a network that has it, or test_flip = false")


def _coerce(name: str, value: Any) -> Any:
    """Turn CLI/JSON text into the field's type; leave anything else for validate() to judge."""
    f = FIELDS[name]
    if isinstance(value, str):
        text = value.strip()
        if f.metadata["kind"] == "flag":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        if f.metadata["kind"] == "number":
            try:
                number = float(text)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {value!r}") from None
            return int(number) if f.type in ("int", int) and number.is_integer() else number
        return text
    if f.metadata["kind"] == "number" and f.type in ("int", int) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a validated config; unknown fields are an error (a typo must not pass silently)."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}; known fields: {', '.join(FIELDS)}")
    return TrainConfig(**{k: _coerce(k, v) for k, v in values.items()})


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`["dropout=0.2", "l2=1e-4"]` -> {"dropout": "0.2", "l2": "1e-4"} (CLI --set)."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set expects FIELD=VALUE, got {pair!r}")
        out[name.strip()] = value
    return out
