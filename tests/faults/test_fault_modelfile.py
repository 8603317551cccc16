"""core.networks.modelfile: a .keras file from elsewhere is data, never code.

Models with a Lambda layer, a lambda or plain Python function as activation, or a custom registered class
are built and saved with Keras itself, zipped into a run and imported: the import is refused with a
message, nothing is left in the runs folder, and core.networks.modelfile.load_model refuses them too. Hand-made
configs try what Keras' own save never writes (function objects naming Keras' switches, TFSMLayer,
classes from no module). Every network of the dashboard passes and loads with safe_mode.
"""

from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pytest
from fault_helpers import exported, sound_run, zip_of

from core.networks import modelfile
from core.networks.architectures import ARCHITECTURES
from core.networks.config import TrainConfig
from core.networks.modelfile import ModelFileError, check_model_file
from core.storage import archive, runs

keras = pytest.importorskip("keras")


def shout(x):
    """A plain Python function: saved by name and module, it would run on load."""
    return x * 2


@keras.saving.register_keras_serializable(package="classroom_test")
class Doubling(keras.layers.Layer):
    """A custom layer: its code runs when the model is built from the file."""

    def call(self, x):
        return x * 2


def small(*middle) -> keras.Model:
    inputs = keras.Input((4,), name="x")
    x = inputs
    for layer in middle:
        x = layer(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x))


HOSTILE = {
    "lambda-layer": lambda: small(keras.layers.Lambda(lambda x: x + 1)),
    "lambda-activation": lambda: small(keras.layers.Dense(4, activation=lambda x: x * 3)),
    "python-function": lambda: small(keras.layers.Dense(4, activation=shout)),
    "custom-class": lambda: small(Doubling()),
}
REFUSAL = {"lambda-layer": "Lambda", "lambda-activation": "a Python function as its activation", "python-function": "shout",
           "custom-class": "Doubling"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each hostile model, and a plain one, saved by Keras as a .keras file."""
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for name, make in {**HOSTILE, "plain": lambda: small(keras.layers.Dense(4, activation="relu"))}.items():
        paths[name] = folder / f"{name}.keras"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns that a lambda is unsafe to save: that is the point
            make().save(paths[name])
        keras.backend.clear_session()
    return paths


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_model_with_code_is_refused_on_import_and_on_load(kind, saved, tmp_path):
    with pytest.raises(ModelFileError) as e:
        check_model_file(saved[kind])
    assert "contains custom code" in str(e.value) and REFUSAL[kind] in str(e.value)
    with pytest.raises(ModelFileError, match="contains custom code"):
        modelfile.load_model(saved[kind])

    files = exported(sound_run(tmp_path / "source", "with a model"))
    target = tmp_path / "runs"
    target.mkdir()
    with pytest.raises(runs.RunError) as e:
        archive.import_run(zip_of({**files, runs.MODEL_FILE: saved[kind].read_bytes()}), target)
    assert "the imported run's model is refused" in str(e.value) and REFUSAL[kind] in str(e.value)
    assert list(target.iterdir()) == []


def test_safe_mode_is_a_second_guard(saved, monkeypatch):
    """Were the static check fooled, Keras' safe_mode still refuses to turn bytecode into a function."""
    monkeypatch.setattr(modelfile, "check_model_file", lambda path: None)
    with pytest.raises(ValueError, match="safe_mode"):
        modelfile.load_model(saved["lambda-layer"])


def test_plain_model_imports_and_loads_with_safe_mode(saved, tmp_path):
    check_model_file(saved["plain"])
    model = modelfile.load_model(saved["plain"])
    original = keras.saving.load_model(saved["plain"], safe_mode=True, compile=False)
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-6)
    files = exported(sound_run(tmp_path / "source", "with a model"))
    imported = archive.import_run(zip_of({**files, runs.MODEL_FILE: saved["plain"].read_bytes()}), tmp_path / "runs")
    assert (imported.path / runs.MODEL_FILE).read_bytes() == saved["plain"].read_bytes()


def keras_file(tmp_path, config, name="model.keras"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", config if isinstance(config, str) else json.dumps(config))
        z.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
    return path


def model_config(*layers) -> dict:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "m", "layers": list(layers)}}


def dense(**changes) -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": "d", "units": 2, "activation": "relu", **changes}}


def function(module, name, registered=None) -> dict:
    return {"module": module, "class_name": "function", "config": name, "registered_name": registered}


@pytest.mark.parametrize("config, refused", [
    # CVE-2025-9906-style: a function object that switches safe mode off, then a lambda that runs
    (model_config(dense(activation=function("keras.config", "enable_unsafe_deserialization"))),
     "keras.config.enable_unsafe_deserialization"),
    (model_config(dense(activation=function("keras.utils", "get_file"))), "the function keras.utils.get_file"),
    (model_config(dense(activation=function("keras.src.saving.serialization_lib", "enable_unsafe_deserialization"))),
     "enable_unsafe_deserialization"),
    (model_config(dense(activation=function("builtins", "eval"))), "the function builtins.eval"),
    (model_config(dense(activation=function("os", "system"))), "the function os.system"),
    (model_config(dense(activation={"class_name": "__lambda__", "config": {"code": "4wEAAA=="}})), "__lambda__"),
    (model_config({"module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
                   "config": {"filepath": "/tmp/elsewhere"}}), "TFSMLayer"),
    (model_config({"class_name": "Doubling", "config": {}}), "Doubling (a class from no module)"),
    (model_config({"module": "keras.layers", "class_name": "Dense", "registered_name": "evil>Dense", "config": {}}),
     "registered as 'evil>Dense'"),
    (model_config({"module": ["keras"], "class_name": "Dense", "config": {}}), "from module ['keras']"),
    (model_config({"module": "keras.layers", "class_name": {"x": 1}, "config": {}}), "an object with class"),
], ids=["unsafe-switch", "get-file", "unsafe-switch-src", "builtins-eval", "os-system", "lambda-marker", "tfsmlayer",
        "no-module", "registered-elsewhere", "module-not-text", "class-not-text"])
def test_hand_made_configs_with_code_are_refused(tmp_path, config, refused):
    with pytest.raises(ModelFileError) as e:
        check_model_file(keras_file(tmp_path, config))
    assert "contains custom code" in str(e.value) and refused in str(e.value)


@pytest.mark.parametrize("config, message", [
    ("[" * 100_000 + "]" * 100_000, "not a readable .keras file"),
    ("[1, 2]", "does not describe a Keras model"),
    ("{}", "does not describe a Keras model"),
])
def test_malformed_configs_are_refused_without_a_crash(tmp_path, config, message):
    with pytest.raises(ModelFileError, match=message):
        check_model_file(keras_file(tmp_path, config))


def test_deep_config_is_refused_without_a_crash(tmp_path):
    """As deep as the JSON parser goes or deeper: a ModelFileError either way, never a RecursionError."""
    inner = json.dumps(dense(activation=function("os", "system")))
    for depth in (450, 5000):
        text = '{"module": "keras", "class_name": "Sequential", "config": ' + '{"w": [' * depth + inner + "]}" * depth + "}"
        with pytest.raises(ModelFileError, match="os.system|not a readable .keras file"):
            check_model_file(keras_file(tmp_path, text, f"deep{depth}.keras"))


def test_built_in_function_objects_are_accepted(tmp_path):
    check_model_file(keras_file(tmp_path, model_config(dense(activation=function("keras.src.activations.activations", "relu")),
                                                       dense(activation=function("keras.activations", "gelu", "gelu")))))


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_every_network_of_the_dashboard_passes(architecture, tmp_path):
    """config.json as Keras writes it (serialize_keras_object), compiled as training compiles it."""
    from core.training.compiling import compile_model

    arch = ARCHITECTURES[architecture]
    config = TrainConfig(dataset=arch.dataset, architecture=architecture, depth=2, units=32, dropout=0.2, l2=1e-4,
                         augment="augment" in arch.uses, optimizer="sgd", schedule="onecycle", label_smoothing=0.1)
    model = compile_model(config, steps_per_epoch=10)
    check_model_file(keras_file(tmp_path, keras.saving.serialize_keras_object(model)))
    keras.backend.clear_session()
