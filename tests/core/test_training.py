"""core.training: a real (tiny) training run into a run folder, under the active Keras backend.

Every run here uses the same shapes (the fmnist-arch1-tr1 network on the first 300 of 400 learnable
toy images), so that compiled programs are reused and the suite stays fast under JAX too.
"""

import io
import json
import zipfile

import h5py
import numpy as np
import pytest

from core.data import datasets
from core.networks import presets
from core.networks.config import ConfigError
from core.storage import listing, runs
from core.training import callbacks, checkpoint
from core.training.callbacks import BaseListener
from core.training.compiling import compile_model
from core.training.inputs import one_hot, prepare_data
from core.training.trainer import loss_from_predictions, predict_test_set, train

PRESET = "fmnist-arch1-tr1"


def toy_config(**changes):
    return presets.get(PRESET).config.replace(**{"epochs": 3, "limit": 300, **changes})


class Recorder(BaseListener):
    def __init__(self):
        self.started, self.batches, self.rows = [], [], []

    def on_start(self, run_dir, epochs, steps_per_epoch):
        self.started.append((run_dir, epochs, steps_per_epoch))

    def on_batch(self, epoch, step, steps_per_epoch):
        self.batches.append((epoch, step, steps_per_epoch))

    def on_epoch(self, row):
        self.rows.append(row)


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory, fashion_data):
    """One 3-epoch run of the preset's network on the toy set, shared by the tests that read it."""
    recorder = Recorder()
    run_dir = train(toy_config(), tmp_path_factory.mktemp("runs"), runs.RunLabels(PRESET, PRESET), dataset=fashion_data,
                    listener=recorder)
    return run_dir, recorder


@pytest.mark.backend
def test_training_lowers_the_loss_and_learns(toy_run):
    run = runs.read_run(toy_run[0])
    history = run.history()
    assert run.status == "completed" and list(history["epoch"]) == [1, 2, 3]
    assert history["loss"].iloc[-1] < 0.5 * history["loss"].iloc[0]
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]
    m = run.metrics()
    assert m["test_accuracy"] >= 0.9 and m["val_accuracy"] >= 0.9
    assert m["test_error"] == pytest.approx(1 - m["test_accuracy"])


@pytest.mark.backend
def test_listener_gets_every_epoch(toy_run):
    run_dir, recorder = toy_run
    (started,) = recorder.started
    assert started == (run_dir, 3, 8)  # 255 training images in batches of 32
    assert [row["epoch"] for row in recorder.rows] == [1, 2, 3]
    for row in recorder.rows:
        assert set(row) >= {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"}
        assert row["learning_rate"] == pytest.approx(1e-3) and row["seconds"] > 0 and 0 <= row["accuracy"] <= 1
    assert {epoch for epoch, _, _ in recorder.batches} == {1, 2, 3}
    assert all(steps == 8 and 1 <= step <= 8 for _, step, steps in recorder.batches)
    assert max(step for epoch, step, _ in recorder.batches if epoch == 3) == 8
    history = runs.read_run(run_dir).history()
    np.testing.assert_allclose(history["loss"], [row["loss"] for row in recorder.rows], rtol=1e-6)
    assert list(history.columns) == runs.HISTORY_COLUMNS


def test_run_folder_holds_everything(toy_run, fashion_data):
    import keras

    run_dir, _ = toy_run
    names = {p.name for p in run_dir.iterdir()}
    assert names == {runs.RUN_FILE, runs.HISTORY_FILE, runs.METRICS_FILE, runs.PREDICTIONS_FILE, runs.MISCLASSIFIED_FILE,
                     runs.MODEL_FILE, checkpoint.FOLDER}  # no progress file, no temporary file left
    record = json.loads((run_dir / runs.RUN_FILE).read_text())
    assert record["status"] == "completed" and record["epochs_trained"] == 3 and record["error"] is None
    assert record["environment"]["backend"] == keras.backend.backend()
    assert record["preset"] == PRESET and record["name"] == PRESET
    assert set(record["durations"]) >= {"data_s", "fit_s", "total_s"}
    m = runs.read_run(run_dir).metrics()
    for key in ("test_loss", "test_cross_entropy", "test_error_ci95", "confusion", "per_class", "best_epoch",
                "best_val_accuracy", "train_accuracy", "train_loss", "val_loss", "epochs_trained", "n_test"):
        assert key in m
    assert m["n_test"] == 100 and np.sum(m["confusion"]) == 100 and len(m["per_class"]) == 10
    pred = runs.read_run(run_dir).predictions()
    np.testing.assert_array_equal(pred["y_true"], fashion_data.y_test)
    assert m["test_accuracy"] == pytest.approx(np.mean(pred["y_true"] == pred["y_pred"]))
    mistakes = runs.read_run(run_dir).misclassified()
    assert len(mistakes["index"]) == np.sum(pred["y_true"] != pred["y_pred"])
    np.testing.assert_array_equal(mistakes["image"], fashion_data.x_test[mistakes["index"]])


def test_limit_really_limits_and_preset_differences_are_recorded(toy_run, fashion_data):
    record = runs.read_run(toy_run[0]).record
    assert len(fashion_data.x_train) == 400
    assert record["data"]["train"] + record["data"]["validation"] == 300 and record["data"]["limit"] == 300
    assert record["data"]["validation"] == 45 and record["data"]["test"] == 100  # 15 % of 300; the test set whole
    assert record["differs_from_preset"] == {"epochs": [50, 3], "limit": [0, 300]}
    assert record["config"] == toy_config().to_dict()


@pytest.mark.backend
def test_saved_model_loads_safely_and_predicts_the_stored_predictions(toy_run, fashion_data):
    import keras

    run_dir, _ = toy_run
    model = keras.saving.load_model(run_dir / runs.MODEL_FILE, safe_mode=True)
    assert model.output_shape == (None, 10) and model.count_params() == 159_010
    probabilities = np.asarray(model.predict(fashion_data.x_test, verbose=0))
    pred = runs.read_run(run_dir).predictions()
    np.testing.assert_array_equal(probabilities.argmax(axis=1), pred["y_pred"])
    np.testing.assert_allclose(probabilities.max(axis=1), pred["confidence"], atol=1e-5)


def test_with_test_flip_each_test_image_is_judged_with_its_mirror_image(tmp_path, fashion_data):
    import keras

    config = toy_config(epochs=1, architecture="fmnist_cnn", units=16, augment=True, test_flip=True)
    run_dir = train(config, tmp_path, runs.RunLabels("mirrored"), dataset=fashion_data)
    model = keras.saving.load_model(run_dir / runs.MODEL_FILE, safe_mode=True)
    plain = np.asarray(model.predict(fashion_data.x_test, verbose=0))
    mirror = np.asarray(model.predict(fashion_data.x_test[:, :, ::-1], verbose=0))
    pred = runs.read_run(run_dir).predictions()
    averaged = (plain + mirror) / 2
    np.testing.assert_array_equal(averaged.argmax(axis=1), pred["y_pred"])
    np.testing.assert_allclose(averaged.max(axis=1), pred["confidence"], atol=1e-5)
    # The mirror images counted: the stored confidences are not the plain ones (by far more than float noise).
    assert np.abs(plain.max(axis=1) - pred["confidence"]).max() > 1e-4


def test_under_tensorflow_the_test_set_is_predicted_eagerly_to_the_same_numbers_without_tracing():
    """Each of a class's runs used to trace a predict function for one pass over the test set (0.2-0.8 s of its
    time); the eager batches give model.predict's numbers, mirrored ones included."""
    import keras

    config = toy_config(architecture="fmnist_cnn", units=16, seed=4)
    model = compile_model(config, 2, 1)
    x = np.random.default_rng(1).integers(0, 256, (70, 28, 28, 1)).astype(np.uint8)
    probabilities = predict_test_set(model, x, 32, mirrored=True)
    assert model.predict_function is None  # nothing traced
    expected = (model.predict(x, batch_size=32, verbose=0) + model.predict(x[:, :, ::-1], batch_size=32, verbose=0)) / 2
    assert keras.backend.backend() == "tensorflow" and probabilities.shape == (70, 10)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.backend
def test_the_test_loss_from_predictions_is_what_evaluate_reports():
    """With label smoothing, an L2 penalty, dropout and batch normalization: one pass over the test set is enough."""
    from core.networks.config import TrainConfig

    config = TrainConfig(dataset="cifar100", architecture="cifar_arch3", l2=1e-3, label_smoothing=0.1, dropout=0.3)
    model = compile_model(config, 2, 1)
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 32, 32, 3), dtype=np.float32), rng.integers(0, 100, 40)
    evaluated, _ = model.evaluate(x, one_hot(y, 100), batch_size=16, verbose=0)
    probabilities = np.asarray(model.predict(x, batch_size=16, verbose=0), np.float32)
    from_predictions = loss_from_predictions(model, probabilities, y)
    assert from_predictions > loss_from_predictions(model, probabilities, probabilities.argmax(axis=1))
    np.testing.assert_allclose(from_predictions, evaluated, rtol=1e-5)


def test_saved_model_keeps_the_weights_without_the_optimizer_state(toy_run):
    run_dir, _ = toy_run
    with zipfile.ZipFile(run_dir / runs.MODEL_FILE) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as weights:
        assert "layers" in weights and "optimizer" not in weights  # Adam's two moments would triple the file


@pytest.mark.backend
def test_same_seed_same_split_weights_and_first_epoch(toy_run, fashion_data, tmp_path):
    config = toy_config(epochs=1)
    a, b = prepare_data(config, fashion_data), prepare_data(config, fashion_data)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    other = prepare_data(config.replace(seed=1), fashion_data)
    assert not np.array_equal(a.y_val, other.y_val)
    w1 = compile_model(config, 8).get_weights()
    w2 = compile_model(config, 8).get_weights()
    w3 = compile_model(config.replace(seed=1), 8).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(w1, w2)) and not np.array_equal(w1[0], w3[0])
    run_dir = train(config, tmp_path, dataset=fashion_data)
    first = runs.read_run(run_dir).history().iloc[0]
    reference = runs.read_run(toy_run[0]).history().iloc[0]
    assert first["loss"] == pytest.approx(reference["loss"], rel=1e-6)
    assert first["val_loss"] == pytest.approx(reference["val_loss"], rel=1e-6)


@pytest.mark.backend
@pytest.mark.parametrize("when", ["first batch", "first epoch"])
def test_cancel_keeps_what_was_learned(tmp_path, fashion_data, when):
    recorder = Recorder()
    stop = (lambda: len(recorder.batches) >= 1) if when == "first batch" else (lambda: len(recorder.rows) >= 1)
    run_dir = train(toy_config(epochs=5), tmp_path, dataset=fashion_data, listener=recorder, should_stop=stop)
    run = runs.read_run(run_dir)
    assert run.status == "cancelled" and run.record["epochs_trained"] == 1 and len(recorder.rows) == 1
    assert len(run.history()) == 1
    assert run.metrics()["test_accuracy"] > 0.1 and (run_dir / runs.MODEL_FILE).is_file()
    assert run.predictions()["y_pred"].shape == (100,)
    assert not (run_dir / runs.PROGRESS_FILE).exists()


@pytest.mark.backend
def test_failure_mid_training_is_recorded(tmp_path, fashion_data):
    def broken_check():
        raise RuntimeError("the cancel flag could not be read")

    with pytest.raises(RuntimeError, match="cancel flag"):
        train(toy_config(epochs=2), tmp_path, dataset=fashion_data, should_stop=broken_check)
    (run,) = listing.list_runs(tmp_path, pretrained_dir=None)
    assert run.status == "failed" and run.record["error"] == "RuntimeError: the cancel flag could not be read"
    assert "Traceback" in run.record["traceback"] and run.record["finished"]
    assert not (run.path / runs.METRICS_FILE).exists()


def test_missing_dataset_fails_the_run_with_the_data_message(tmp_path):
    with pytest.raises(datasets.DataError, match="Fashion-MNIST not found"):
        train(toy_config(), tmp_path, data_dir=tmp_path)
    (run,) = listing.list_runs(tmp_path, pretrained_dir=None)
    assert run.status == "failed" and run.record["error"].startswith("DataError: Fashion-MNIST not found")


def test_out_of_range_test_label_fails_the_run(tmp_path, fashion_data):
    y_test = fashion_data.y_test.copy()
    y_test[3] = 10
    bad = datasets.Dataset(fashion_data.info, fashion_data.x_train, fashion_data.y_train, fashion_data.x_test, y_test, "bad")
    with pytest.raises(Exception):
        train(toy_config(epochs=1), tmp_path, dataset=bad)
    (run,) = listing.list_runs(tmp_path, pretrained_dir=None)
    assert run.status == "failed" and "10" in run.record["error"]


def test_out_of_range_training_label_fails_the_run(tmp_path, fashion_data):
    """One-hot encoding would turn label 10 into all zeros and train on it silently: it must fail instead."""
    y_train = fashion_data.y_train.copy()
    y_train[5] = 10
    bad = datasets.Dataset(fashion_data.info, fashion_data.x_train, y_train, fashion_data.x_test, fashion_data.y_test, "bad")
    with pytest.raises((ValueError, IndexError)):
        train(toy_config(epochs=1), tmp_path, dataset=bad)
    (run,) = listing.list_runs(tmp_path, pretrained_dir=None)
    assert run.status == "failed" and "10" in run.record["error"]
    assert not (run.path / runs.METRICS_FILE).exists()


@pytest.mark.backend
def test_a_runs_first_batch_point_is_written_at_once_and_later_ones_at_most_every_half_second(tmp_path, monkeypatch):
    """In a worker taking turns, a first point held back to the next turn would reach the student only after every
    other job's turn: it is written at the first batch's end, however soon after the epoch began."""
    monkeypatch.setattr(callbacks, "PROGRESS_EVERY_S", 1e9)  # every later point is held back, whatever the speed
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    callback = callbacks.run_callback_class()(run_dir, 2, 10, 320, BaseListener(), lambda: False)
    callback.set_model(type("Model", (), {"optimizer": None})())
    monkeypatch.setattr(callbacks, "current_learning_rate", lambda model: 0.001)
    callback.on_train_begin()
    callback.on_epoch_begin(0)

    def points():
        return json.loads((run_dir / runs.PROGRESS_FILE).read_text())["batch_loss"]

    assert points() == []
    callback.on_train_batch_end(3, {"loss": 2.3})
    assert points() == [[0.4, 2.3]]
    callback.on_train_batch_end(7, {"loss": 2.1})
    assert points() == [[0.4, 2.3]], "a later point waits for its half second"


def test_the_live_chart_gets_the_loss_of_recent_batches_between_epochs(tmp_path, fashion_data, monkeypatch):
    """progress.json carries [epoch position, mean loss since the last point]; over an epoch they average to
    the epoch's loss in history.csv (every point here covers one batch of equal size)."""
    from core.training import fast

    monkeypatch.setattr(callbacks, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(fast, "CHUNK_SECONDS", 1e-6)  # one step per compiled call after the first

    class Snapshot(BaseListener):
        progress = None

        def on_epoch(self, row):
            if row["epoch"] == 3:
                self.progress = json.loads((self.run_dir / runs.PROGRESS_FILE).read_text())

        def on_start(self, run_dir, epochs, steps):
            self.run_dir = run_dir

    snap = Snapshot()
    run_dir = train(toy_config(epochs=3, limit=264, batch_size=16), tmp_path, dataset=fashion_data, listener=snap)
    points = snap.progress["batch_loss"]
    positions = [p for p, _ in points]
    assert positions == sorted(positions) and 0 < positions[0] <= 1 and positions[-1] == 3.0
    history = runs.read_run(run_dir).history()
    # 224 training images in batches of 16: 14 equal batches an epoch. Epoch 1 is its first batch alone (trained before
    # the loop is traced, core.training.fast) and one call for the 13 others. The loop times its compiled calls from
    # the second one on: epoch 2 is one call (one point), epoch 3 one batch a call (14 points).
    first, third = [loss for p, loss in points if p <= 1], [loss for p, loss in points if p > 2]
    assert len(first) == 2 and len(third) == 14
    assert np.average(first, weights=[1, 13]) == pytest.approx(history["loss"].iloc[0], rel=1e-4)
    assert np.mean(third) == pytest.approx(history["loss"].iloc[2], rel=1e-3)


@pytest.mark.backend
@pytest.mark.parametrize("kind", ["early_stopping", "reduce_lr"])
def test_early_stopping_and_reduce_on_plateau_act_on_the_validation_loss(tmp_path, fashion_data, kind):
    """Random labels: the network can only memorize, so the validation loss rises after the first epochs. Early
    stopping ends the run and keeps the best epoch's weights; reduce-on-plateau halves the rate. Recorded in the
    config and the run."""
    labels = np.random.default_rng(0).integers(0, 10, len(fashion_data.y_train))
    noise = datasets.Dataset(fashion_data.info, fashion_data.x_train, labels, fashion_data.x_test, fashion_data.y_test, "noise")
    config = toy_config(epochs=12, units=256, **{kind: 1})
    run = runs.read_run(train(config, tmp_path, dataset=noise))
    history = run.history()
    assert run.config[kind] == 1
    if kind == "early_stopping":
        import keras

        assert len(history) < 12 and run.record["stopped_early_at"] == len(history)
        # The saved model is the best epoch's, not the last one's: its validation loss is the lowest of the history.
        data = prepare_data(config, noise)
        model = keras.saving.load_model(run.path / runs.MODEL_FILE)
        model.compile(loss="categorical_crossentropy")
        val_loss = model.evaluate(data.x_val, one_hot(data.y_val, 10), verbose=0, return_dict=True)["loss"]
        assert val_loss == pytest.approx(history["val_loss"].min(), rel=1e-3)
        assert history["val_loss"].iloc[-1] > history["val_loss"].min()
    else:
        rates = history["learning_rate"].round(7).tolist()
        assert rates[0] == 1e-3 and min(rates) < 1e-3 and rates == sorted(rates, reverse=True)


def test_reduce_on_plateau_needs_a_constant_rate():
    with pytest.raises(ConfigError, match="reduce_lr works with a constant learning rate only"):
        toy_config(reduce_lr=2, schedule="cosine")
