"""core.training.fast: the fast training loop computes what model.fit computes (not how fast: see bench/).

Tiny data only. The equivalence tests train without shuffling, so that both loops see the same batches
in the same order and draw the same dropout masks: the weights must then agree to float tolerance.
"""

import logging

import numpy as np
import pytest

from core.cli.main import build_parser
from core.networks.config import ConfigError, TrainConfig
from core.storage import runs
from core.training import fast, stepper_jax
from core.training.compiling import compile_model, seed_everything
from core.training.inputs import Rows, one_hot
from core.training.trainer import train


def small_mlp(**changes):
    """Arch 2 with dropout and L2 (the report's regularized MLP), shrunk."""
    return TrainConfig(**{"architecture": "fmnist_arch2", "depth": 2, "units": 32, "dropout": 0.2, "l2": 1e-3,
                          "batch_size": 32, "seed": 3, **changes})


def images(n, shape=(28, 28, 1), classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, classes, n)


def twin_models(config, steps=1):
    """Two compiled models with the same initial weights and the same dropout seeds."""
    return compile_model(config, steps), compile_model(config, steps)


def assert_same_weights(a, b, rtol=1e-5, atol=1e-6):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for i, (p, q) in enumerate(zip(wa, wb)):
        np.testing.assert_allclose(p, q, rtol=rtol, atol=atol, err_msg=f"weight {i} ({a.weights[i].path})")


# --- choosing the engine -------------------------------------------------------------------------

def test_engine_is_fast_unless_the_argument_or_the_environment_says_fit(monkeypatch):
    monkeypatch.delenv(fast.ENGINE_ENV, raising=False)
    assert fast.resolve_engine() == "fast" and fast.resolve_engine(None) == "fast"
    monkeypatch.setenv(fast.ENGINE_ENV, "fit")
    assert fast.resolve_engine() == "fit"
    assert fast.resolve_engine("fast") == "fast"  # the argument wins over the environment
    monkeypatch.setenv(fast.ENGINE_ENV, "turbo")
    with pytest.raises(ConfigError, match="turbo"):
        fast.resolve_engine()


def test_cli_train_and_pretrain_take_an_engine():
    parser = build_parser()
    assert parser.parse_args(["train", "--preset", "fmnist-arch1-tr1", "--engine", "fit"]).engine == "fit"
    assert parser.parse_args(["train", "--preset", "fmnist-arch1-tr1"]).engine is None
    assert parser.parse_args(["pretrain", "--engine", "fast"]).engine == "fast"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--engine", "turbo"])


# --- same math as model.fit ----------------------------------------------------------------------

@pytest.mark.backend
def test_one_step_equals_train_on_batch():
    """Dropout, L2 and Adam: one step from the same weights gives the same loss and the same weights."""
    x, y = images(64)
    config = small_mlp(batch_size=64)
    reference, model = twin_models(config)
    expected = reference.train_on_batch(x, one_hot(y, 10), return_dict=True)
    (logs,) = fast.fit(model, x, y, batch_size=64, epochs=1, shuffle=False)
    assert logs["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert logs["accuracy"] == pytest.approx(expected["accuracy"])
    assert int(np.asarray(model.optimizer.iterations)) == 1
    assert_same_weights(reference, model)


@pytest.mark.backend
def test_epochs_with_a_last_partial_batch_equal_fit():
    """72 images in batches of 32 are steps of 32, 32 and 8, as in fit; validation as fit reports it."""
    x, y = images(72, seed=1)
    xv, yv = images(20, seed=2)
    config = small_mlp()
    reference, model = twin_models(config, 3)
    history = reference.fit(x, one_hot(y, 10), validation_data=(xv, one_hot(yv, 10)),
                            batch_size=32, epochs=2, shuffle=False, verbose=0).history
    logs = fast.fit(model, x, y, validation_data=(xv, yv), batch_size=32, epochs=2, shuffle=False)
    assert int(np.asarray(model.optimizer.iterations)) == 6
    for epoch in range(2):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert logs[epoch][key] == pytest.approx(history[key][epoch], rel=1e-5), (epoch, key)
    assert_same_weights(reference, model)


@pytest.mark.backend
def test_jax_scans_of_fixed_length_as_on_a_gpu_equal_fit(monkeypatch):
    """On an accelerator JAX runs full batches in scans of SCAN_STEPS, the epoch's tail in a loop with
    traced bounds; forced here on the CPU: 72 images in batches of 16 = a scan of 3, a loop of 1, then 8."""
    import keras

    if keras.backend.backend() != "jax":
        pytest.skip("JAX only")
    monkeypatch.setattr(stepper_jax, "STATIC_SCANS", True)
    monkeypatch.setattr(stepper_jax, "SCAN_STEPS", 3)
    x, y = images(72, seed=6)
    config = small_mlp(batch_size=16)
    reference, model = twin_models(config, 5)
    history = reference.fit(x, one_hot(y, 10), batch_size=16, epochs=2, shuffle=False, verbose=0).history
    logs = fast.fit(model, x, y, batch_size=16, epochs=2, shuffle=False)
    assert int(np.asarray(model.optimizer.iterations)) == 10
    assert [row["loss"] for row in logs] == pytest.approx(history["loss"], rel=1e-5)
    assert_same_weights(reference, model)


@pytest.mark.backend
def test_batch_normalization_network_equals_fit():
    """Batch normalization, dropout 0.4 and L2 (as in the CNNs, on a dense layer: a compile of seconds, not tens):
    weights and moving statistics as under fit."""
    import keras

    def build():
        seed_everything(5)
        inputs = keras.Input((28, 28, 1))
        x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
        x = keras.layers.Dense(16, use_bias=False, kernel_regularizer=keras.regularizers.L2(1e-4))(x)
        x = keras.layers.Dropout(0.4)(keras.layers.ReLU()(keras.layers.BatchNormalization()(x)))
        model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy",
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
        return model

    x, y = images(48, seed=3)
    reference, model = build(), build()
    history = reference.fit(x, one_hot(y, 10), batch_size=16, epochs=1, shuffle=False, verbose=0).history
    (logs,) = fast.fit(model, x, y, batch_size=16, epochs=1, shuffle=False)
    assert logs["loss"] == pytest.approx(history["loss"][0], rel=1e-4)
    moving = [i for i, w in enumerate(model.weights) if "moving" in w.path]
    assert moving, "the network has batch-normalization statistics"
    assert_same_weights(reference, model, rtol=1e-4, atol=1e-5)


@pytest.mark.backend
def test_augmentation_draws_as_under_fit():
    """The ResNet's random crop and flip (seeded layers) inside the compiled loop: the same draws as fit."""
    import keras

    from core.networks.architectures import _augmentation

    def build():
        seed_everything(7)
        inputs = keras.Input((32, 32, 3))
        x = _augmentation(7)(keras.layers.Rescaling(1 / 255)(inputs))
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
        model = keras.Model(inputs, keras.layers.Dense(100, activation="softmax")(x))
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy",
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
        return model

    x, y = images(24, (32, 32, 3), 100, seed=8)
    reference, model = build(), build()
    history = reference.fit(x, one_hot(y, 100), batch_size=16, epochs=2, shuffle=False, verbose=0).history
    logs = fast.fit(model, x, y, batch_size=16, epochs=2, shuffle=False)
    assert [row["loss"] for row in logs] == pytest.approx(history["loss"], rel=1e-5)
    assert_same_weights(reference, model)


@pytest.mark.backend
def test_same_accuracy_as_fit_on_a_learnable_problem(tmp_path, fashion_data, monkeypatch):
    """Whole runs through core.training.trainer.train with each engine: same learning, ordinary Keras model saved."""
    import keras

    config = TrainConfig(architecture="fmnist_arch1", epochs=3, limit=300, seed=0)
    monkeypatch.setenv(fast.ENGINE_ENV, "fit")  # the environment chooses when the argument does not
    reference = runs.read_run(train(config, tmp_path, dataset=fashion_data))
    run = runs.read_run(train(config, tmp_path, dataset=fashion_data, engine="fast"))
    assert (reference.record["engine"], run.record["engine"]) == ("fit", "fast")
    assert "core.training.fast" in run.record["engine_detail"]
    for r in (reference, run):
        assert r.status == "completed" and list(r.history()["epoch"]) == [1, 2, 3]
    assert abs(run.metrics()["val_accuracy"] - reference.metrics()["val_accuracy"]) <= 0.03
    assert abs(run.metrics()["test_accuracy"] - reference.metrics()["test_accuracy"]) <= 0.03
    assert run.metrics()["test_accuracy"] >= 0.9
    # The history's loss is fit's: the epoch mean of the batch losses, a plausible number of the same size.
    assert run.history()["loss"].iloc[0] == pytest.approx(reference.history()["loss"].iloc[0], rel=0.25)
    model = keras.saving.load_model(run.path / runs.MODEL_FILE, safe_mode=True)
    probabilities = np.asarray(model.predict(fashion_data.x_test, verbose=0))
    np.testing.assert_array_equal(probabilities.argmax(axis=1), run.predictions()["y_pred"])


# --- the loop around the steps -------------------------------------------------------------------

@pytest.mark.backend
def test_callbacks_get_every_epoch_and_a_stop_ends_training_mid_epoch():
    import keras

    x, y = images(400, seed=4)
    xv, yv = images(40, seed=5)

    class Stopper(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.events = []

        def on_epoch_begin(self, epoch, logs=None):
            self.events.append(("begin", epoch))

        def on_train_batch_end(self, batch, logs=None):
            self.events.append(("batch", batch))
            if len([e for e in self.events if e[0] == "epoch"]) == 1:  # in the second epoch, after one call
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            self.events.append(("epoch", epoch, sorted(logs)))

    stopper = Stopper()
    config = small_mlp(batch_size=8)  # 50 steps an epoch
    model = compile_model(config, 50)
    logs = fast.fit(model, x, y, validation_data=(xv, yv), batch_size=8, epochs=5, callbacks=[stopper],
                    chunk_seconds=1e-6)  # after the first call, one step per call
    assert len(logs) == 2  # the epoch in which training stopped is finished, validated and reported
    ends = [e for e in stopper.events if e[0] == "epoch"]
    assert [e[1] for e in ends] == [0, 1]
    assert all(e[2] == ["accuracy", "loss", "val_accuracy", "val_loss"] for e in ends)
    first_epoch = stopper.events[1:stopper.events.index(ends[0])]
    assert first_epoch[-1] == ("batch", 49) and all(e[0] == "batch" for e in first_epoch)
    second_epoch = stopper.events[stopper.events.index(ends[0]) + 2:-1]
    assert len(second_epoch) == 1 and second_epoch[0][1] < 49  # stopped before the epoch's last step
    iterations = int(np.asarray(model.optimizer.iterations))
    assert 50 < iterations < 100
    # The Keras model holds the trained state: evaluating it gives the validation loss just reported.
    evaluated = model.evaluate(xv, one_hot(yv, 10), verbose=0, return_dict=True)
    assert evaluated["loss"] == pytest.approx(logs[-1]["val_loss"], rel=1e-4)


@pytest.mark.backend
def test_labels_out_of_range_are_an_error():
    x, y = images(40)
    y[7] = 10
    model = compile_model(small_mlp(), 2)
    with pytest.raises(ValueError, match="label"):
        fast.fit(model, x, y, batch_size=32, epochs=1)


@pytest.mark.backend
def test_jax_compilation_cache_goes_where_the_environment_says(tmp_path, monkeypatch):
    import keras

    if keras.backend.backend() != "jax":
        assert fast.enable_compilation_cache(tmp_path) is None
        return
    import jax

    before = jax.config.jax_compilation_cache_dir
    try:
        monkeypatch.setenv(fast.JAX_CACHE_ENV, "off")
        assert fast.enable_compilation_cache() is None
        monkeypatch.setenv(fast.JAX_CACHE_ENV, str(tmp_path / "cache"))
        assert fast.enable_compilation_cache() == tmp_path / "cache"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache") and (tmp_path / "cache").is_dir()
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_the_tensorflow_loops_take_the_images_as_arguments_and_capture_none():
    """A graph keeps what it captures for as long as TensorFlow keeps the graph: captured images leaked each job's
    training set (45 MB for Fashion-MNIST) in a worker training job after job."""
    import keras

    from core.training.stepper_tf import TFStepper

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's loop")
    x, y = images(40, seed=9)
    xv, yv = images(12, seed=10)
    stepper = TFStepper(compile_model(small_mlp(), 2), x, y, (xv, yv), 16, 10, None)
    stepper.begin_epoch(np.arange(40, dtype=np.int32))
    stepper.train(0, 2)
    stepper.evaluate()
    for loop in (stepper._train_rows, stepper._evaluate):
        captured = [tuple(t.shape) for t in loop.get_concrete_function().captured_inputs]
        assert not any(shape[1:] == x.shape[1:] for shape in captured if len(shape) == 4), captured


def test_runs_one_after_another_print_no_retracing_warning_but_another_functions_still_would(caplog):
    """Each run traces its own loops (a sweep of six, a worker's class): TensorFlow's "triggered tf.function retracing"
    warning said so in the middle of a student's sweep. Only these loops' warning is dropped."""
    import keras
    import tensorflow as tf

    from core.training.stepper_tf import TFStepper

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's loop")
    x, y = images(16, seed=11)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for run in range(6):
            TFStepper(compile_model(small_mlp(seed=run), 1), x, y, (x, y), 16, 10, None).evaluate()

        def accidental(value):
            return value

        for run in range(6):
            tf.function(accidental)(tf.constant(run))
    warned = [r.getMessage() for r in caplog.records if "triggered tf.function retracing" in r.getMessage()]
    assert warned and all("accidental" in message for message in warned)


def test_the_first_batch_trains_before_the_loop_is_traced_so_a_run_has_a_point_at_once():
    """Tracing TensorFlow's loop takes about half a second; thirty new jobs by turns would wait 30 times that for their
    first points. The first batch trains eagerly, the loop is traced at the next call, and the weights are fit's."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's loop (every JAX op run alone would compile)")
    x, y = images(64, seed=3)
    reference, model = twin_models(small_mlp(), 3)
    history = reference.fit(x, one_hot(y, 10), batch_size=16, epochs=2, shuffle=False, verbose=0).history
    seen = []  # (batch, the loop's traces so far) at each point

    class FirstPoint(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, stepper_loop_traces()))

    def stepper_loop_traces():
        return sum(f._train_rows.experimental_get_tracing_count() for f in made)

    made = []
    original = fast.TFStepper.__init__

    def keep(self, *args):
        original(self, *args)
        made.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast.TFStepper, "__init__", keep)
        logs = fast.fit(model, x, y, batch_size=16, epochs=2, shuffle=False, callbacks=[FirstPoint()])
    assert seen[0] == (0, 0), "the first point: batch 0, nothing traced yet"
    assert len(seen) > 1 and {traces for _, traces in seen[1:]} == {1}, "then the loop, traced once"
    assert [row["loss"] for row in logs] == pytest.approx(history["loss"], rel=1e-5)
    assert_same_weights(reference, model)


@pytest.mark.backend
def test_runs_reading_rows_of_one_shared_array_train_as_on_copies_and_share_one_device_copy():
    """A worker's runs of one dataset keep its images once (core.training.stepper.resident) and gather their own
    rows from it: the weights and logs are those of a training on a copy of those rows."""
    from core.training import stepper

    source, labels = images(120, seed=5)
    train_rows, val_rows = np.arange(7, 79)[::-1], np.arange(90, 110)  # any rows, in the training's own order
    config = small_mlp()
    on_copies, on_rows = twin_models(config, 3)
    expected = fast.fit(on_copies, source[train_rows], labels[train_rows],
                        validation_data=(source[val_rows], labels[val_rows]), batch_size=32, epochs=2, seed=4)
    logs = fast.fit(on_rows, Rows(source, train_rows), labels[train_rows],
                    validation_data=(Rows(source, val_rows), labels[val_rows]), batch_size=32, epochs=2, seed=4)
    assert [sorted(e) for e in logs] == [sorted(e) for e in expected]
    for got, want in zip(logs, expected):
        assert got == pytest.approx(want, rel=1e-6)
    assert_same_weights(on_copies, on_rows, rtol=1e-6, atol=1e-7)

    def to_device(array):
        made.append(id(array))
        return object()

    made = []
    shared = stepper.resident(source, to_device)  # the copy both trainings above read
    assert made == [] and tuple(shared.shape) == source.shape
    other = source.copy()
    assert stepper.resident(other, to_device) is stepper.resident(other, to_device) and made == [id(other)]
