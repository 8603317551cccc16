"""Half the classes, fewer images per class, and a network started from another run's (core.training.transfer):
the report's closing claims, on the tiny learnable Fashion-MNIST files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.networks import presets
from core.networks.config import ConfigError, class_names
from core.storage import runs
from core.training import transfer
from core.training.inputs import prepare_data
from core.training.trainer import train


def config(**changes):
    return presets.get("fmnist-arch1-tr1").config.replace(**{"epochs": 1, "units": 16, "limit": 0, **changes})


def test_half_the_classes_and_a_few_images_each_are_chosen_and_renumbered(fashion_data):
    data = prepare_data(config(class_subset="second_half", per_class=7), fashion_data)
    names = ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert data.class_names == names == class_names(config(class_subset="second_half"))
    assert sorted(np.bincount(data.y_train, minlength=5)) == [7] * 5 and data.y_train.max() == 4
    assert set(np.unique(data.y_val)) <= set(range(5)) and len(data.y_val) > 0
    expected_test = int(np.sum(fashion_data.y_test >= 5))
    assert len(data.y_test) == expected_test and data.y_test.max() <= 4
    assert np.array_equal(data.x_test, fashion_data.x_test[fashion_data.y_test >= 5])  # in the test set's order
    whole = prepare_data(config(), fashion_data)
    assert len(whole.y_test) == len(fashion_data.y_test) and whole.class_names[0] == "T-shirt/top"


def test_a_start_is_a_run_id_a_preset_or_nothing(tmp_path):
    assert config(start_from="20261130-101500-a1b2c3").start_from == "20261130-101500-a1b2c3"
    assert config(start_from="preset:cifar-half-pretrain").transfer == "fine_tune"
    with pytest.raises(ConfigError, match="is not a run id"):
        config(start_from="../../etc")
    with pytest.raises(transfer.TransferError, match="no finished run of preset 'nope' to start from"):
        transfer.find_source("preset:nope", [tmp_path])


@pytest.fixture(scope="module")
def source(tmp_path_factory, fashion_data):
    folder = tmp_path_factory.mktemp("runs")
    run_dir = train(config(class_subset="first_half", epochs=2), folder, runs.RunLabels("source", "fmnist-arch1-tr1"),
                    dataset=fashion_data)
    return runs.read_run(run_dir)


@pytest.mark.backend
@pytest.mark.parametrize("mode", ["frozen", "fine_tune"])
def test_a_network_starts_from_another_runs_layers_frozen_or_fine_tuned_with_a_new_last_layer(source, fashion_data, mode):
    import keras

    from core.networks.modelfile import load_model

    run_dir = train(config(class_subset="second_half", per_class=20, start_from=source.id, transfer=mode, epochs=2),
                    source.path.parent, runs.RunLabels(f"transferred, {mode}"), dataset=fashion_data)
    run = runs.read_run(run_dir)
    assert run.status == "completed" and run.record["started_from"] == {
        "id": source.id, "name": "source", "preset": "fmnist-arch1-tr1", "transfer": mode}
    before, after = load_model(source.path / runs.MODEL_FILE), load_model(run_dir / runs.MODEL_FILE)
    hidden_before = keras.ops.convert_to_numpy(before.get_layer("hidden_1").kernel)
    hidden_after = keras.ops.convert_to_numpy(after.get_layer("hidden_1").kernel)
    assert np.array_equal(hidden_before, hidden_after) == (mode == "frozen")  # frozen: untouched; fine-tuned: moved
    assert after.get_layer("classes").kernel.shape == (16, 5)  # a new last layer for the other five classes
    assert run.metrics()["n_test"] == int(np.sum(fashion_data.y_test >= 5))


def test_a_start_that_fits_nothing_is_refused_with_the_reason(source, fashion_data):
    with pytest.raises(transfer.TransferError, match="has no layer that fits this network"):
        train(config(architecture="fmnist_arch2", depth=2, units=32, start_from=source.id), source.path.parent,
              runs.RunLabels("misfit"), dataset=fashion_data)


def test_a_run_kept_without_its_network_is_never_a_start(source, tmp_path):
    """Shipped curve runs keep their results, not their model.keras: neither by id nor by preset can a run start
    from one, and Train does not offer it."""
    from ui.train_settings import start_options

    kept = tmp_path / source.path.name
    shutil.copytree(source.path, kept)
    (kept / runs.MODEL_FILE).unlink()
    results_only = runs.read_run(kept)
    assert results_only.has_results and not results_only.has_model
    with pytest.raises(transfer.TransferError, match="kept its results but not its network"):
        transfer.find_source(source.id, [tmp_path])
    with pytest.raises(transfer.TransferError, match="no finished run of preset 'fmnist-arch1-tr1'"):
        transfer.find_source("preset:fmnist-arch1-tr1", [tmp_path])
    assert transfer.find_source("preset:fmnist-arch1-tr1", [tmp_path, source.path.parent]).path == source.path
    assert start_options([results_only, source], "fashion_mnist", "fmnist_arch1") == {source.id: source.name}
