"""core.networks.config: defaults, ranges, types, unknown fields, CLI-style text."""

import math

import pytest

from core.networks.config import FIELDS, ConfigError, TrainConfig, field_range, from_dict, parse_assignments

NUMBER_FIELDS = [name for name, f in FIELDS.items() if f.metadata["kind"] == "number"]


def test_defaults_are_valid():
    config = TrainConfig()
    assert (config.dataset, config.architecture, config.epochs, config.seed) == ("fashion_mnist", "fmnist_arch1", 50, 0)
    assert from_dict(config.to_dict()) == config
    for name in NUMBER_FIELDS:
        low, high = field_range(name)
        assert low <= getattr(config, name) <= high


@pytest.mark.parametrize("name", NUMBER_FIELDS)
def test_every_number_out_of_range_names_field_and_range(name):
    low, high = field_range(name)
    for value in (low - 1, high * 2 + 1):  # ints stay ints, floats stay floats
        with pytest.raises(ConfigError) as e:
            TrainConfig(**{name: value})
        message = str(e.value)
        assert message.startswith(f"{name} = ") and "out of range" in message
        assert f"between {low} and {high}" in message
    # The bounds themselves are valid.
    assert getattr(TrainConfig(**{name: low}), name) == low
    assert getattr(TrainConfig(**{name: high}), name) == high


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers(value):
    with pytest.raises(ConfigError, match="learning_rate = .* is out of range"):
        TrainConfig(learning_rate=value)


@pytest.mark.parametrize("changes, message", [
    (dict(depth="4"), "depth must be a number, got '4'"),
    (dict(dropout=None), "dropout must be a number, got None"),
    (dict(epochs=True), "epochs must be a number, got True"),
    (dict(depth=2.5), "depth must be a whole number, got 2.5"),
    (dict(augment="yes"), "augment must be true or false, got 'yes'"),
    (dict(augment=1), "augment must be true or false, got 1"),
    (dict(optimizer="rmsprop"), "optimizer = 'rmsprop' is not allowed: choose one of adam, sgd"),
    (dict(schedule="step"), "schedule = 'step' is not allowed: choose one of constant, cosine, onecycle"),
    (dict(dataset="mnist"), "dataset = 'mnist' is not allowed"),
    (dict(architecture="vgg"),
     "architecture 'vgg' is unknown: choose one of fmnist_arch1, fmnist_arch2, fmnist_cnn, cifar_arch1"),
])
def test_wrong_types_and_choices(changes, message):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**changes)
    assert message in str(e.value)


def test_architecture_must_match_dataset():
    with pytest.raises(ConfigError, match="architecture 'cifar_arch1' is for cifar100, not for dataset 'fashion_mnist'"):
        TrainConfig(architecture="cifar_arch1")
    with pytest.raises(ConfigError, match="'fmnist_arch2' is for fashion_mnist"):
        from_dict({"dataset": "cifar100", "architecture": "fmnist_arch2"})
    assert TrainConfig(dataset="cifar100", architecture="cifar_resnet").dataset == "cifar100"


@pytest.mark.parametrize("changes", [dict(architecture="fmnist_arch1", augment=True),  # a dense network: no augment
                                     dict(architecture="fmnist_cnn", augment=False)])
def test_mirrored_test_images_need_a_network_trained_on_mirrored_images(changes):
    with pytest.raises(ConfigError, match="test_flip needs augment: a network that never saw a mirrored image"):
        TrainConfig(test_flip=True, **changes)


def test_mirrored_test_images_are_allowed_with_flip_augmentation():
    assert TrainConfig(architecture="fmnist_cnn", augment=True, test_flip=True).test_flip
    assert TrainConfig(dataset="cifar100", architecture="cifar_arch1", augment=True, test_flip=True).test_flip


def test_unknown_field_is_an_error():
    with pytest.raises(ConfigError) as e:
        from_dict({"dropout": 0.1, "nosuchfield": 1, "learnig_rate": 0.1})
    assert "unknown config field(s): learnig_rate, nosuchfield" in str(e.value)
    assert "known fields: dataset, architecture" in str(e.value)


def test_from_dict_coerces_cli_text():
    config = from_dict({"depth": "4", "dropout": " 0.25 ", "l2": "1e-4", "augment": "true", "epochs": "3.0",
                        "dataset": " cifar100 ", "architecture": "cifar_arch1", "seed": 7.0})
    assert config.depth == 4 and type(config.depth) is int
    assert config.epochs == 3 and type(config.epochs) is int
    assert config.seed == 7 and type(config.seed) is int
    assert config.dropout == 0.25 and config.l2 == 1e-4 and config.augment is True
    assert config.dataset == "cifar100"
    for text, flag in (("1", True), ("Yes", True), ("on", True), ("0", False), ("false", False), ("OFF", False)):
        assert from_dict({"augment": text}).augment is flag


@pytest.mark.parametrize("values, message", [
    ({"dropout": "abc"}, "dropout must be a number, got 'abc'"),
    ({"epochs": "2.5"}, "epochs must be a whole number, got 2.5"),
    ({"augment": "maybe"}, "augment must be true or false, got 'maybe'"),
    ({"dropout": "2"}, "dropout = 2.0 is out of range: it must be between 0.0 and 0.9"),
    ({"batch_size": "4"}, "batch_size = 4 is out of range: it must be between 8 and 1024"),
    ({"learning_rate": "nan"}, "learning_rate = nan is out of range"),
])
def test_from_dict_rejects_bad_text(values, message):
    with pytest.raises(ConfigError) as e:
        from_dict(values)
    assert message in str(e.value)


def test_replace_validates():
    config = TrainConfig()
    assert config.replace(epochs=3).epochs == 3 and config.epochs == 50
    with pytest.raises(ConfigError, match="epochs = 0 is out of range"):
        config.replace(epochs=0)
    with pytest.raises(ConfigError, match="unknown config field"):
        config.replace(epoch=3)


def test_frozen():
    with pytest.raises(AttributeError):
        TrainConfig().epochs = 3


def test_parse_assignments():
    assert parse_assignments(["dropout=0.2", " l2 =1e-4", "name=a=b", "x="]) == {
        "dropout": "0.2", "l2": "1e-4", "name": "a=b", "x": ""}
    assert parse_assignments([]) == {}
    for bad in ("dropout", "=0.2", " =1"):
        with pytest.raises(ConfigError, match="--set expects FIELD=VALUE"):
            parse_assignments([bad])
    with pytest.raises(ConfigError, match="dropout = 2.0 is out of range"):
        from_dict(parse_assignments(["dropout=2"]))
    with pytest.raises(ConfigError, match="x must be a number|unknown config field"):
        from_dict(parse_assignments(["x=1"]))


def test_every_field_carries_its_widget_metadata():
    for name, f in FIELDS.items():
        assert f.metadata["kind"] in ("number", "choice", "flag", "run") and f.metadata["help"]
        if f.metadata["kind"] == "number":
            low, high = field_range(name)
            assert low < high


def test_whole_floats_become_ints_for_int_fields():
    """A slider or JSON may hand over 4.0 for an int field; validation accepts it, so it must end an int
    (range(1, depth + 1) in the Arch 2 builder fails on a float)."""
    config = TrainConfig(depth=4.0, epochs=3.0, batch_size=64.0)
    assert (config.depth, config.epochs, config.batch_size) == (4, 3, 64)
    assert all(type(v) is int for v in (config.depth, config.epochs, config.batch_size))
    assert type(TrainConfig(dropout=0).dropout) is float
