"""core.networks.architectures: every registry entry builds, with the output shape and the parameter count
worked out by hand from the report's figures (or pinned, for the two residual networks)."""

import pytest

from core.networks.architectures import ARCHITECTURES, build_model
from core.networks.config import FIELDS, TrainConfig
from core.training.compiling import compile_model, seed_everything


def dense(inputs, units):
    return inputs * units + units


def conv(kernel, channels_in, filters, bias=True):
    return kernel * kernel * channels_in * filters + (filters if bias else 0)


def batch_norm(channels):
    return 4 * channels  # gamma, beta, moving mean, moving variance


EXPECTED_PARAMETERS = {
    # Flatten 784 -> Dense 200 -> Dense 10.
    "fmnist_arch1": dense(784, 200) + dense(200, 10),
    # Flatten 784 -> 9 x Dense 200 -> Dense 10.
    "fmnist_arch2": dense(784, 200) + 8 * dense(200, 200) + dense(200, 10),
    # 28x28x1 -conv16-> pool 14x14 -conv64-> pool 7x7 -conv128-> pool 3x3x128 = 1152 -> Dense 200 (no bias, BN) -> 10.
    "fmnist_cnn": (conv(3, 1, 16, False) + batch_norm(16) + conv(3, 16, 64, False) + batch_norm(64)
                   + conv(3, 64, 128, False) + batch_norm(128) + 3 * 3 * 128 * 200 + batch_norm(200) + dense(200, 10)),
    # 32x32x3 -conv32-> 30x30 -pool-> 15x15 -conv64-> 13x13 -pool-> 6x6x64 = 2304 -> Dense 100 -> Dense 100.
    "cifar_arch1": conv(3, 3, 32) + conv(3, 32, 64) + dense(6 * 6 * 64, 100) + dense(100, 100),
    # Nine 'same' convs 32-32 | 64-64 | 128-128 | 256-256 | 256, five pools: 32 -> 1, so 256 features.
    "cifar_arch2": (conv(3, 3, 32) + conv(3, 32, 32) + conv(3, 32, 64) + conv(3, 64, 64) + conv(3, 64, 128)
                    + conv(3, 128, 128) + conv(3, 128, 256) + conv(3, 256, 256) + conv(3, 256, 256)
                    + dense(256, 100) + dense(100, 100)),
    # Stem 64, residual block (2 x conv 64), bottleneck 64 -> 32 -> 32 -> 128 with a 1x1 projection;
    # convs without bias, each with batch norm; two pools: 32 -> 8, so 8x8x128 features.
    "cifar_arch3": (conv(3, 3, 64, False) + 2 * conv(3, 64, 64, False)  # stem, residual block
                    + conv(1, 64, 32, False) + conv(3, 32, 32, False) + conv(1, 32, 128, False)  # bottleneck
                    + conv(1, 64, 128, False)  # projection skip
                    + 3 * batch_norm(64) + 2 * batch_norm(32) + 2 * batch_norm(128)
                    + batch_norm(8 * 8 * 128) + dense(8 * 8 * 128, 100) + dense(100, 100)),  # ours: see below
    # Pre-activation ResNet-18 (widths 64-512): pinned as built, to catch accidental changes.
    "cifar_resnet": 11_226_148,
    # Stride-2 stem 64, then one basic block per resolution (64-128-256), a 1x1 projection where the width
    # changes; convs without bias, each with batch norm; global pooling -> Dense 100.
    "cifar_fastres": (conv(3, 3, 64, False) + batch_norm(64)
                      + sum(conv(3, c_in, c, False) + conv(3, c, c, False) + 2 * batch_norm(c)
                            for c_in, c in ((64, 64), (64, 128), (128, 256)))
                      + sum(conv(1, c_in, c, False) + batch_norm(c) for c_in, c in ((64, 128), (128, 256)))
                      + dense(256, 100)),
}


def config_for(name, **changes):
    return TrainConfig(dataset=ARCHITECTURES[name].dataset, architecture=name, **changes)


def test_the_small_networks_have_their_parameters_layer_by_layer_where_the_report_draws_them():
    def counts(name):
        return [layer.count_params() for layer in build_model(config_for(name)).layers if layer.count_params()]

    assert counts("fmnist_arch1") == [157_000, 2_010]
    assert counts("cifar_arch1") == [896, 18_496, 230_500, 10_100]


def test_registry_is_complete_and_consistent():
    assert set(ARCHITECTURES) == set(EXPECTED_PARAMETERS)
    for name, arch in ARCHITECTURES.items():
        assert arch.name == name and arch.title and arch.summary
        assert set(arch.uses) <= set(FIELDS), name
        assert "dataset" not in arch.uses and "architecture" not in arch.uses
    assert "depth" in ARCHITECTURES["fmnist_arch2"].uses and "depth" not in ARCHITECTURES["fmnist_arch1"].uses
    assert "augment" in ARCHITECTURES["cifar_resnet"].uses and "augment" in ARCHITECTURES["cifar_fastres"].uses


@pytest.mark.parametrize("name", list(EXPECTED_PARAMETERS))
def test_builds_with_output_shape_and_parameter_count(name):
    """Built with dropout and L2 on: neither adds parameters; L2 adds one loss per regularized layer."""
    model = build_model(config_for(name, dropout=0.3, l2=1e-3))
    classes = 10 if ARCHITECTURES[name].dataset == "fashion_mnist" else 100
    assert model.output_shape == (None, classes)
    assert model.input_shape == ((None, 28, 28, 1) if classes == 10 else (None, 32, 32, 3))
    assert model.count_params() == EXPECTED_PARAMETERS[name]
    assert model.layers[-1].name == "classes"
    assert any(type(layer).__name__ == "Dropout" and layer.rate == 0.3 for layer in model.layers)
    kernels = [layer for layer in model.layers if hasattr(layer, "kernel_regularizer")]
    assert kernels and all(layer.kernel_regularizer is not None for layer in kernels)
    assert len(model.losses) == len(kernels)


def test_dropout_and_l2_off():
    model = build_model(config_for("fmnist_arch1"))
    assert [type(layer).__name__ for layer in model.layers] == ["Rescaling", "Flatten", "Dense", "Dense"]
    assert model.losses == []
    on = build_model(config_for("fmnist_arch1", dropout=0.2, l2=1e-3))
    assert [type(layer).__name__ for layer in on.layers] == ["Rescaling", "Flatten", "Dense", "Dropout", "Dense"]
    assert len(on.losses) == 2
    conv = build_model(config_for("cifar_arch1"))
    assert not any(type(layer).__name__ == "Dropout" for layer in conv.layers) and conv.losses == []


def test_arch2_depth_and_units():
    model = build_model(config_for("fmnist_arch2", depth=3, units=64, dropout=0.1))
    hidden = [layer for layer in model.layers if layer.name.startswith("hidden_")]
    assert [layer.units for layer in hidden] == [64, 64, 64]
    assert sum(type(layer).__name__ == "Dropout" for layer in model.layers) == 3
    assert model.count_params() == dense(784, 64) + 2 * dense(64, 64) + dense(64, 10)


def test_first_layer_scales_pixels_to_unit_range():
    import numpy as np

    model = build_model(config_for("fmnist_arch1"))
    scale = model.layers[0]
    out = np.asarray(scale(np.full((1, 28, 28, 1), 255, np.float32)))
    np.testing.assert_allclose(out, 1.0, rtol=1e-6)


@pytest.mark.backend
def test_same_seed_same_initial_weights():
    import numpy as np

    def weights(seed):
        seed_everything(seed)
        return build_model(config_for("fmnist_arch2", depth=2, units=32, seed=seed)).get_weights()

    a, b, c = weights(5), weights(5), weights(6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_arch3_keeps_its_dense_relus_alive_at_the_presets_learning_rate():
    """Without the batch norm after Flatten, 20 Adam steps at 0.001 killed every Dense ReLU (real or random images)."""
    import keras
    import numpy as np

    from core.networks import presets

    config = presets.get("cifar-arch3").config
    model = compile_model(config, steps_per_epoch=20)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20 * config.batch_size, 32, 32, 3)).astype("uint8")
    labels = keras.utils.to_categorical(rng.integers(0, 100, len(images)), 100)
    model.fit(images, labels, batch_size=config.batch_size, epochs=1, verbose=0)
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)({"image": images[:64]}, training=True).numpy()
    assert np.mean((hidden > 0).any(axis=0)) > 0.9
