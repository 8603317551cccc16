"""core.explain and its CLI command: properties of Grad-CAM, saliency, projections and the layer views, checked on
tiny networks whose right answer is known, and `explain` on a real (tiny) trained run."""

import argparse
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from core.cli.explain import add_parser, cmd_explain
from core.data import datasets
from core.explain import explainer, views
from core.networks.architectures import build_model
from core.networks.config import TrainConfig
from core.storage import runs


def noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def masked_cnn(keep):
    """16x16 grey -> conv (positive maps) -> pool -> only the `keep` half survives -> mean -> Dense(2).

    Class 0's weights are all +1, class 1's all -1: class 0 is pushed up by the kept half's maps only,
    nothing pushes class 1 up."""
    import keras
    from keras import layers

    inputs = keras.Input((16, 16, 1))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", bias_initializer="ones",
                      kernel_initializer=keras.initializers.GlorotUniform(seed=1))(x)
    x = layers.MaxPooling2D()(x)
    cut = ((0, 0), (0, 4)) if keep == "left" else ((0, 0), (4, 0))
    x = layers.ZeroPadding2D(cut)(layers.Cropping2D(cut)(x))
    x = layers.GlobalAveragePooling2D()(x)
    dense = layers.Dense(2, activation="softmax")
    outputs = dense(x)
    model = keras.Model(inputs, outputs)
    dense.set_weights([np.array([[1.0, -1.0]] * 4, np.float32), np.zeros(2, np.float32)])
    return model


@pytest.mark.backend  # gradients are taken by the backend (core.explain.views)
@pytest.mark.parametrize("keep", ["left", "right"])
def test_grad_cam_lies_on_the_half_the_network_looks_at(keep):
    model = masked_cnn(keep)
    heat = views.grad_cam(model, noise((16, 16, 1)), 0)
    assert heat.shape == (16, 16) and heat.min() >= 0 and heat.max() == pytest.approx(1)
    left = heat[:, :8].sum() / heat.sum()
    assert (left if keep == "left" else 1 - left) > 0.8
    # Nothing in the maps raises class 1's score (all its weights are negative): the ReLU leaves nothing.
    assert not views.grad_cam(model, noise((16, 16, 1)), 1).any()


def test_grad_cam_layers():
    model = masked_cnn("left")
    assert views.feature_map_layer(model).name.startswith("zero_padding2d")
    assert views.grad_cam(model, noise((16, 16, 1)), 0, layer_name=model.layers[2].name).shape == (16, 16)
    with pytest.raises(ValueError, match="class 2 does not exist: this network has classes 0 to 1"):
        views.grad_cam(model, noise((16, 16, 1)), 2)
    with pytest.raises(ValueError, match="class -1 does not exist"):
        views.saliency(model, noise((16, 16, 1)), -1)
    with pytest.raises(ValueError, match="no feature maps"):
        views.grad_cam(model, noise((16, 16, 1)), 0, layer_name=model.layers[-1].name)
    assert views.grad_cam(build_model(TrainConfig(architecture="fmnist_arch1", units=16)), noise((28, 28, 1)), 0) is None


@pytest.mark.backend  # gradients are taken by the backend (core.explain.views)
def test_grad_cam_through_augmentation_batch_norm_and_skips():
    model = build_model(TrainConfig(architecture="cifar_arch3", dataset="cifar100", augment=True))
    assert views.feature_map_layer(model).output.shape[1:] == (16, 16, 128)  # the ReLU after the bottleneck's Add
    heat = views.grad_cam(model, noise((32, 32, 3)), 7)
    assert heat.shape == (32, 32) and 0 <= heat.min() and heat.max() <= 1
    with pytest.raises(ValueError, match="skip connection goes around it"):
        views.grad_cam(model, noise((32, 32, 3)), 7, layer_name="res_a")
    with pytest.raises(ValueError, match="this network takes 32x32x3"):
        views.grad_cam(model, noise((28, 28, 1)), 7)


def linear_model(channels, seed=0):
    """Rescaling -> Flatten -> Dense(3) without softmax, with known random weights."""
    import keras
    from keras import layers

    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input((5, 4, channels)), layers.Rescaling(1 / 255), layers.Flatten(), layers.Dense(3)])
    weights = rng.normal(size=(20 * channels, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    model.layers[-1].set_weights(weights)
    return model, weights


@pytest.mark.backend  # gradients are taken by the backend (core.explain.views)
@pytest.mark.parametrize("channels", [1, 3])
def test_saliency_of_a_linear_model_is_its_weights(channels):
    model, (kernel, _) = linear_model(channels)
    for c in range(3):
        expected = np.abs(kernel[:, c]).reshape(5, 4, channels).max(-1)
        np.testing.assert_allclose(views.saliency(model, noise((5, 4, channels)), c), expected / expected.max(), atol=1e-6)


def test_top_classes_are_the_softmax_of_the_scores():
    model, (kernel, bias) = linear_model(1)
    image = noise((5, 4, 1))
    logits = image.reshape(-1).astype(np.float64) / 255 @ kernel + bias
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    top = views.top_classes(model, image, k=2)
    assert [c for c, _ in top] == list(np.argsort(-p)[:2])
    np.testing.assert_allclose([q for _, q in top], np.sort(p)[::-1][:2], rtol=1e-5)


def test_a_run_tested_on_mirror_images_too_is_explained_with_their_answers_averaged():
    model, (kernel, bias) = linear_model(1)
    image = noise((5, 4, 1))

    def softmax(picture):
        logits = picture.reshape(-1).astype(np.float64) / 255 @ kernel + bias
        return np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()

    p = (softmax(image) + softmax(image[:, ::-1])) / 2
    top = views.top_classes(model, image, k=3, mirrored=True)
    assert [c for c, _ in top] == list(np.argsort(-p)[:3])
    np.testing.assert_allclose([q for _, q in top], np.sort(p)[::-1][:3], rtol=1e-5)
    assert not np.allclose(p, softmax(image))  # the mirror image answers differently


def clusters(seed=0):
    """Three linearly separable classes of 40 points in 10-D."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 40)
    return 8 * np.eye(10)[labels] + rng.normal(size=(120, 10)), labels


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_keeps_separable_classes_apart(method):
    features, labels = clusters()
    points = views.project(features, method, seed=3)
    assert points.shape == (120, 2)
    centroids = np.stack([points[labels == k].mean(0) for k in range(3)])
    nearest = np.argmin(((points[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).mean() > 0.95
    np.testing.assert_array_equal(points, views.project(features, method, seed=3))


def test_projection_refusals():
    with pytest.raises(ValueError, match="pip install umap-learn"):
        views.project(clusters()[0], "umap")
    with pytest.raises(ValueError, match="unknown projection 'lda'"):
        views.project(clusters()[0], "lda")


def test_embedding_projects_the_last_hidden_layer():
    model = build_model(TrainConfig(architecture="fmnist_arch1", units=16))
    images = noise((30, 28, 28, 1))
    features = views.hidden_features(model, images)
    assert features.shape == (30, 16) and features.min() >= 0  # the ReLU layer's outputs
    np.testing.assert_allclose(views.embedding(model, images, "pca"), views.project(features, "pca"), rtol=1e-5, atol=1e-5)


def test_activations_of_every_conv_and_dense_layer():
    model = build_model(TrainConfig(architecture="cifar_arch1", dataset="cifar100", augment=True))
    image = noise((32, 32, 3))
    found = views.activations(model, image)
    assert [(cls, shape) for _, cls, shape, _ in found] == [
        ("Conv2D", (30, 30, 32)), ("Conv2D", (13, 13, 64)), ("Dense", (100,)), ("Dense", (100,))]
    assert [name for name, *_ in found] == [layer.name for layer in model.layers if type(layer).__name__ in ("Conv2D", "Dense")]
    assert all(array.shape == shape for _, _, shape, array in found)
    np.testing.assert_allclose(found[-1][3], model.predict(image[None].astype(np.float32), verbose=0)[0], rtol=1e-4, atol=1e-6)


def test_first_layer_filters():
    filters = views.first_layer_filters(build_model(TrainConfig(architecture="cifar_arch1", dataset="cifar100")))
    assert filters.shape == (32, 3, 3, 3)
    np.testing.assert_allclose(filters.reshape(32, -1).min(1), 0)
    np.testing.assert_allclose(filters.reshape(32, -1).max(1), 1)
    assert views.first_layer_filters(build_model(TrainConfig(architecture="fmnist_arch1", units=16))) is None


def test_dense_templates():
    model = build_model(TrainConfig(architecture="fmnist_arch1", units=16))
    templates = views.dense_templates(model)
    kernel = model.get_layer("hidden_1").get_weights()[0]
    assert templates.shape == (16, 28, 28)
    np.testing.assert_array_equal(templates[5], kernel[:, 5].reshape(28, 28))
    assert views.dense_templates(build_model(TrainConfig(architecture="cifar_arch1", dataset="cifar100"))) is None


def test_pictures():
    heat = np.linspace(0, 1, 12).reshape(3, 4)
    assert tuple(views.colormap(heat)[0, 0]) == (68, 1, 84) and tuple(views.colormap(heat)[-1, -1]) == (253, 231, 37)
    grey = np.full((3, 4, 1), 200, np.uint8)
    assert views.overlay(grey, heat, 0).tolist() == np.full((3, 4, 3), 200).tolist()
    assert views.overlay(grey, heat, 1).tolist() == views.colormap(heat).tolist()
    assert views.grid(np.zeros((5, 2, 3))).shape == (5, 11)  # 3 columns, 2 rows, 1-pixel gaps
    png = Image.open(io.BytesIO(views.to_png(views.overlay(grey, heat, 0.5), scale=2)))
    assert png.size == (8, 6) and png.mode == "RGB"


def test_the_views_of_a_cnn_image_have_grad_cam_for_both_classes_feature_maps_and_filters():
    model = build_model(TrainConfig(architecture="cifar_arch1", dataset="cifar100"))
    bundle, files = explainer.image_bundle(model, noise((32, 32, 3)), 4, datasets.CIFAR100_FINE)
    assert bundle["gradcam"] == {"predicted": "gradcam-predicted.png", "true": "gradcam-true.png"}
    assert [layer["kind"] for layer in bundle["layers"]][:2] == ["Conv2D", "Conv2D"] and bundle["templates"] is None
    assert set(files) == {"image.png", "saliency.png", "filters.png", *bundle["gradcam"].values(),
                          *(layer["file"] for layer in bundle["layers"])}
    heat = Image.open(io.BytesIO(files["gradcam-true.png"]))
    assert heat.mode == "RGBA" and heat.size == (224, 224)  # enlarged 7 times, transparency following the heat
    assert bundle["true"] == 4 and bundle["class_names"][4] == "beaver"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, fashion_data):
    from core.training.trainer import train

    config = TrainConfig(architecture="fmnist_arch1", epochs=1, limit=300, units=16)
    return train(config, tmp_path_factory.mktemp("runs"), dataset=fashion_data)


def explain_args(run_dir, out, index=3, data_dir=None):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    argv = ["explain", str(run_dir), "--index", str(index), "--out", str(out)]
    return parser.parse_args(argv + (["--data-dir", str(data_dir)] if data_dir else []))


def test_explain_writes_the_files_it_prints(trained_run, fashion_dir, fashion_data, tmp_path, capsys):
    args = explain_args(trained_run, tmp_path / "out", data_dir=fashion_dir)
    assert args.func is cmd_explain and cmd_explain(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert sorted(line.rsplit("/", 1)[1] for line in printed) == ["bundle.json", "image.png", "layer-00.png",
                                                                   "layer-01.png", "saliency.png", "templates.png"]
    assert sorted(map(str, (tmp_path / "out").iterdir())) == sorted(printed)
    assert Image.open(tmp_path / "out" / "image.png").size == (224, 224)  # 28 x 28, enlarged 8 times
    bundle = json.loads((tmp_path / "out" / "bundle.json").read_text())
    assert bundle["true"] == fashion_data.y_test[3]
    p = [probability for _, probability in bundle["top5"]]
    assert p == sorted(p, reverse=True) and sum(p) <= 1 + 1e-6


def test_explain_refuses_bad_input(trained_run, fashion_dir, tmp_path):
    def refusal(error, run_dir, **kwargs):
        with pytest.raises(error) as caught:
            cmd_explain(explain_args(run_dir, tmp_path / "out", **{"data_dir": fashion_dir, **kwargs}))
        assert "\n" not in str(caught.value)
        return str(caught.value)

    assert "is not a run folder" in refusal(runs.RunError, tmp_path / "nowhere")
    no_model = shutil.copytree(trained_run, tmp_path / "no_model")
    (no_model / runs.MODEL_FILE).unlink()
    assert "has no model.keras" in refusal(runs.RunError, no_model)
    broken = shutil.copytree(trained_run, tmp_path / "broken")
    (broken / runs.MODEL_FILE).write_bytes(b"not a zip archive")
    assert "not a readable .keras file" in refusal(runs.RunError, broken)
    assert "test set has 100 images (0 to 99)" in refusal(datasets.DataError, trained_run, index=100)
    refusal(datasets.DataError, trained_run, index=-1)
    (tmp_path / "empty").mkdir()
    assert "Fashion-MNIST not found" in refusal(datasets.DataError, trained_run, data_dir=tmp_path / "empty")
    assert not (tmp_path / "out").exists()


@pytest.mark.backend  # gradients are taken by the backend (core.explain.views)
def test_grad_cam_works_on_a_sequential_cnn_as_the_report_builds_arch_1():
    """cifar_arch1 is a keras.Sequential: Grad-CAM runs the layers after the last convolution as a chain."""
    from core.networks.architectures import build_model
    from core.networks.config import TrainConfig

    model = build_model(TrainConfig(dataset="cifar100", architecture="cifar_arch1"))
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    cam = views.grad_cam(model, image, 3)
    assert cam.shape == (32, 32) and cam.min() >= 0 and cam.max() <= 1
