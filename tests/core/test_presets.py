"""core.networks.presets: a valid preset for every trial of the report, with the report's own figures."""

import pytest

from core.networks import presets
from core.networks.architectures import ARCHITECTURES
from core.networks.config import TrainConfig

REPORT_TRIALS = ["fmnist-arch1-tr1", "fmnist-arch1-tr2", "fmnist-arch1-tr3", "fmnist-arch1-tr4", "fmnist-arch2-tr1",
                 "fmnist-arch2-tr2", "fmnist-arch2-tr3", "fmnist-arch2-tr4", "cifar-arch1-lr0.01", "cifar-arch1-lr0.0001",
                 "cifar-arch2", "cifar-arch3"]


def test_every_trial_of_the_report_has_a_preset():
    assert list(presets.PRESETS)[: len(REPORT_TRIALS)] == REPORT_TRIALS
    assert set(presets.PRESETS) == set(REPORT_TRIALS) | {"cifar-resnet", "cifar-fast", "fmnist-cnn", "cifar-half-pretrain",
                                                          "cifar-half-scratch", "cifar-half-transfer"}


@pytest.mark.parametrize("preset_id", list(presets.PRESETS))
def test_preset_config_is_valid_and_consistent(preset_id):
    p = presets.get(preset_id)
    assert p.id == preset_id and p.title
    assert isinstance(p.config, TrainConfig)
    assert ARCHITECTURES[p.config.architecture].dataset == p.config.dataset
    for key, value in p.settings.items():
        assert getattr(p.config, key) == value, key
    assert p.config.dataset == ("fashion_mnist" if preset_id.startswith("fmnist") else "cifar100")
    # The report's splits; the fast CPU recipe trains on 95 % (a longer run cannot fit its hour), the CNN on 90 %.
    expected_split = (0.05 if preset_id == "cifar-fast" or preset_id.startswith("cifar-half") else 0.10
                      if preset_id == "fmnist-cnn" else 0.15 if p.config.dataset == "fashion_mnist" else 0.10)
    assert p.config.validation_split == expected_split
    assert p.report.source
    for value in (p.report.train_accuracy, p.report.val_accuracy):
        assert value is None or 0 < value < 1


@pytest.mark.parametrize("preset_id", REPORT_TRIALS)
def test_report_figures_attached(preset_id):
    r = presets.get(preset_id).report
    assert r.source.startswith("§5.")
    assert r.train_accuracy is not None
    assert preset_id == "fmnist-arch1-tr4" or (r.val_accuracy is not None and r.train_loss is not None and r.val_loss is not None)


def test_arch2_tr1_is_the_reports_best_model():
    p = presets.get("fmnist-arch2-tr1")
    c = p.config
    assert (c.architecture, c.depth, c.units, c.beta_1, c.learning_rate) == ("fmnist_arch2", 9, 200, 0.95, 1e-4)
    assert (c.dropout, c.l2, c.optimizer, c.epochs, c.batch_size) == (0.2, 1e-4, "adam", 50, 32)
    assert (p.report.train_accuracy, p.report.val_accuracy) == (0.9486, 0.8906)
    assert p.report.test_error_ci95 == (0.1024, 0.1145)


def test_figures_from_the_report_text():
    assert presets.get("fmnist-arch1-tr1").report.val_accuracy == 0.8879
    assert presets.get("fmnist-arch1-tr2").config.dropout == 0.2
    assert presets.get("fmnist-arch2-tr4").config.batch_size == 64
    assert presets.get("cifar-arch1-lr0.01").config.learning_rate == 0.01
    assert presets.get("cifar-arch1-lr0.0001").config.learning_rate == 1e-4
    assert presets.get("cifar-arch3").config.dropout == 0.4


def test_lookup():
    with pytest.raises(KeyError, match="unknown preset 'nope'; run `python -m core presets`"):
        presets.get("nope")
    fashion = presets.for_dataset("fashion_mnist")
    assert [p.id for p in fashion] == REPORT_TRIALS[:8] + ["fmnist-cnn"]
    assert all(p.config.dataset == "cifar100" for p in presets.for_dataset("cifar100"))
    assert len(presets.for_dataset("cifar100")) == 9
