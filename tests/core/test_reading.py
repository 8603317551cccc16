"""core.analysis.reading: a run's curves in words, on histories built to show each case, and on the shipped runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.analysis import reading
from core.networks.config import TrainConfig
from core.storage import listing

PRETRAINED = Path(__file__).resolve().parents[2] / "pretrained"
FASHION = {"dataset": "fashion_mnist", "dropout": 0.0, "l2": 0.0, "learning_rate": 1e-3, "schedule": "constant",
           "epochs": 30}


def history(loss, acc, val_loss, val_acc, lr=None) -> pd.DataFrame:
    n = len(loss)
    return pd.DataFrame({"epoch": range(1, n + 1), "loss": loss, "accuracy": acc, "val_loss": val_loss,
                         "val_accuracy": val_acc, "learning_rate": lr if lr is not None else [1e-3] * n,
                         "seconds": [1.0] * n})


def kinds(findings) -> list[str]:
    return [f.kind for f in findings]


def overfitting_curves(n=30, best=8, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    e = np.arange(1, n + 1)
    val_loss = 0.3 + 0.004 * (e - best) ** 2 / (1 + (e < best) * 5) + rng.normal(0, noise, n)
    return history(0.6 * np.exp(-e / 10) + 0.05, 0.8 + 0.18 * (1 - np.exp(-e / 8)), val_loss,
                   0.88 - 0.001 * np.maximum(0, e - best))


def test_overfitting_is_named_from_the_epoch_of_the_lowest_validation_loss_with_its_figures_and_the_report():
    found = reading.read_run(overfitting_curves(), FASHION, {"test_accuracy": 0.87, "n_test": 10000,
                                                             "test_error_ci95": [0.12, 0.14]})
    assert kinds(found) == ["overfitting", "test"] and found[0].epoch == 8
    assert "Validation loss was lowest at epoch 8 (0.300)" in found[0].text
    assert "as in the report's Arch 1 trial 1 (§5.1.1)" in found[0].text
    assert found[1].text == "On the 10,000 test images: 87.0% (95 % interval 86.0–88.0%)."


def test_a_point_or_two_of_noise_is_never_called_overfitting():
    e = np.arange(1, 31)
    flat = 0.35 + 0.01 * np.sin(e * 2.7)  # wobbles up and down by a hundredth, no trend
    found = reading.read_run(history(0.3 - 0.002 * e, 0.88 + 0.001 * e, flat, [0.88] * 30), FASHION)
    assert "overfitting" not in kinds(found)
    spike = np.full(30, 0.35)
    spike[-2] = 0.45  # one bad epoch, then back
    assert reading.overfitting_onset(history(0.3 - 0.002 * e, 0.9 + 0.001 * e, spike, [0.88] * 30)) is None
    noisy = overfitting_curves(noise=0.05, seed=3)  # the rise must beat three times the curve's own wobble
    assert reading.overfitting_onset(noisy) is None or reading.overfitting_onset(noisy) < 28


def test_a_loss_that_stays_at_ln_classes_did_not_learn_and_the_learning_rate_is_blamed():
    n = 10
    found = reading.read_run(history([4.61] * n, [0.01] * n, [4.61] * n, [0.01] * n),
                             {**FASHION, "dataset": "cifar100", "learning_rate": 0.01})
    assert kinds(found) == ["not learning"]
    assert "ln 100 = 4.605" in found[0].text and "likely too high" in found[0].text and "(§6.2)" in found[0].text


def test_a_run_still_climbing_at_its_end_wants_more_epochs():
    e = np.arange(1, 21)
    found = reading.read_run(history(1 / e, 0.7 + 0.01 * e, 0.9 - 0.01 * e, 0.6 + 0.01 * e), FASHION)
    assert kinds(found) == ["improving"] and "more epochs would likely help" in found[0].text and "(§5.1.4" in found[0].text
    onecycle = reading.read_run(history(1 / e, 0.7 + 0.01 * e, 0.9 - 0.01 * e, 0.6 + 0.01 * e),
                                {**FASHION, "schedule": "onecycle"})
    assert "a longer schedule (more epochs)" in onecycle[0].text


def test_training_accuracy_below_validation_is_underfitting_and_strong_regularization_is_named():
    n = 20
    found = reading.read_run(history([1.4] * n, [0.70] * n, [1.38] * n, [0.72] * n), {**FASHION, "l2": 0.05})
    assert kinds(found) == ["underfitting"] and "L2 0.05" in found[0].text and "(§5.1.2" in found[0].text


def test_early_stopping_and_a_lowered_learning_rate_are_told():
    curves = overfitting_curves(n=12)
    rates = [1e-3] * 9 + [5e-4] * 3
    curves["learning_rate"] = rates
    found = reading.read_run(curves, {**FASHION, "epochs": 50, "early_stopping": 3, "reduce_lr": 2},
                             record={"stopped_early_at": 12})
    assert "early stopping" in kinds(found) and "learning rate" in kinds(found)
    stop = next(f for f in found if f.kind == "early stopping")
    assert "ended training at epoch 12 of 50" in stop.text and "kept the weights of epoch 8" in stop.text
    assert "lowered at epoch 10" in next(f for f in found if f.kind == "learning rate").text


def test_two_runs_say_which_overfits_later_and_in_what_they_differ():
    early, late = overfitting_curves(best=8), overfitting_curves(best=20)
    said = reading.compare_runs("A", (early, {**FASHION, "dropout": 0.0}), "B", (late, {**FASHION, "dropout": 0.5}))
    assert said == "B overfits later than A: epoch 20 vs 8 (dropout 0.5 vs 0)."
    e = np.arange(1, 31)
    steady = history(0.3 - 0.002 * e, 0.88 + 0.001 * e, 0.35 - 0.001 * e, [0.88] * 30)
    assert reading.compare_runs("A", (early, FASHION), "B", (steady, FASHION)) == (
        "A overfits from epoch 8; B does not within its 30 epochs.")
    assert reading.compare_runs("A", (steady, FASHION), "B", (steady, FASHION)) is None


def test_a_run_saved_before_a_setting_existed_differs_only_where_its_values_do():
    early, late = overfitting_curves(best=8), overfitting_curves(best=20)
    new = TrainConfig(dropout=0.5, epochs=30).to_dict()  # every field, test_flip and class_subset included
    old = {k: v for k, v in TrainConfig(epochs=30).to_dict().items() if k not in ("test_flip", "class_subset", "per_class")}
    for said in (reading.compare_runs("New", (late, new), "Old", (early, old)),
                 reading.compare_runs("Old", (early, old), "New", (late, new))):
        assert said == "New overfits later than Old: epoch 20 vs 8 (dropout 0.5 vs 0)."


# The shipped runs, read once by hand (2026-12-07) and pinned: a change of rule that changes what a class is told
# about the report's own trials must be seen.
PINNED = {
    "fmnist-arch1-tr1": ["overfitting", "test"],
    "fmnist-arch1-tr2": ["underfitting", "test"],
    "fmnist-arch1-tr3": ["underfitting", "test"],
    "fmnist-arch1-tr4": ["good fit", "test"],
    "fmnist-arch2-tr1": ["good fit", "test"],
    "fmnist-arch2-tr2": ["underfitting", "test"],
    "fmnist-arch2-tr3": ["good fit", "test"],
    "fmnist-arch2-tr4": ["good fit", "test"],
    "cifar-arch1-lr0.01": ["not learning", "test"],
    "cifar-arch1-lr0.0001": ["good fit", "test"],
    "cifar-arch2": ["overfitting", "test"],
    "cifar-arch3": ["overfitting", "test"],
    "cifar-fast": ["improving", "test"],
    "fmnist-cnn": ["good fit", "test"],
}


@pytest.mark.parametrize("preset", sorted(PINNED))
def test_the_shipped_runs_read_as_checked_by_hand(preset):
    (run,) = [r for r in listing.list_runs(PRETRAINED / "none", PRETRAINED) if r.record.get("preset") == preset]
    found = reading.read_run(run.history(), run.config, run.headline(), run.record)
    assert kinds(found) == PINNED[preset]
    if preset == "fmnist-arch1-tr1":
        assert found[0].text.startswith("**Overfitting from epoch 9.** Validation loss was lowest at epoch 9 (0.296)")
    if preset == "cifar-arch3":
        assert "Validation accuracy still moved from 31.4% to 38.6%" in found[0].text


def test_a_wide_gap_without_a_rising_validation_loss_is_named_first_not_called_steady():
    e = np.arange(1, 16)
    wide = history(2.0 * np.exp(-e / 6) + 0.8, 0.3 + 0.4 * (1 - np.exp(-e / 4)), 2.6 + 0.3 * np.exp(-e / 3),
                   0.3 + 0.09 * (1 - np.exp(-e / 2)))
    (found,) = reading.read_run(wide, {**FASHION, "epochs": 15}, {})
    assert found.kind == "good fit" and found.text.startswith("**A wide gap, not yet overfitting.**")
    assert "30.1 points above validation (69.1% and 39.0%)" in found.text and "steady" not in found.text


def test_the_cli_explains_a_run_by_id_or_folder_and_refuses_one_without_results(run_cli, tmp_path, fake_run):
    path = fake_run(tmp_path / "runs")
    status, out, _ = run_cli(["runs", "--runs-dir", tmp_path / "runs", "--explain", path.name])
    assert status == 0 and out.splitlines()[0] == f"a run ({path.name})" and out.splitlines()[1].startswith("- ")
    assert "**" not in out
    status, out, _ = run_cli(["runs", "--explain", path])
    assert status == 0 and f"({path.name})" in out
    status, _, err = run_cli(["runs", "--runs-dir", tmp_path / "runs", "--explain", "20990101-000000-abcdef"])
    assert status == 2 and "no run with id" in err
