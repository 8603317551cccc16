"""Look inside a trained network: why did it say "shirt"? Pure functions over a Keras model and images.

Images are uint8 H x W x C as the datasets hold them; every network starts with a Rescaling layer, so the
pixels go in as float32 0-255. Keras is imported inside the functions (core/ stays light for the pages),
only its public API is used (sub-models of `model.inputs` / a layer's output), and the gradients come from
the active backend (TensorFlow or JAX). The class score that Grad-CAM and saliency differentiate is the
pre-softmax logit: the final Dense layer's kernel and bias applied to its input, without the softmax.
"""

from __future__ import annotations

import io

import numpy as np

# matplotlib is not installed: viridis (perceptually uniform) at 9 stops, interpolated linearly.
VIRIDIS = np.array([(68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 144, 140), (39, 173, 129),
                    (93, 200, 99), (170, 220, 50), (253, 231, 37)], np.float32)
PROJECTIONS = ("pca", "tsne", "umap")


def _keras():
    import keras

    return keras


def _batch(model, image) -> np.ndarray:
    """One image as a batch of float32 pixels 0-255, checked against the model's input shape."""
    expected = tuple(model.inputs[0].shape[1:])
    image = np.asarray(image)
    if image.shape != expected:
        raise ValueError(f"the image is {'x'.join(map(str, image.shape))}, this network takes {'x'.join(map(str, expected))}")
    return image.astype(np.float32)[None]


def _final_dense(model):
    dense = model.layers[-1]
    if not isinstance(dense, _keras().layers.Dense):
        raise ValueError(f"{model.name} does not end with a Dense layer, so it has no class scores to explain")
    return dense


def _class_of(dense, class_index: int) -> int:
    """The class index, checked (JAX would clamp an index out of range without a word)."""
    if not 0 <= class_index < dense.units:
        raise ValueError(f"class {class_index} does not exist: this network has classes 0 to {dense.units - 1}")
    return class_index


def _logits(features, dense):
    """The final Dense layer without its softmax: the class scores before normalisation."""
    ops = _keras().ops
    logits = ops.matmul(features, dense.kernel)
    return logits if dense.bias is None else logits + dense.bias


def _gradient(score, x):
    """d score(x) / dx for a function returning a scalar, with the active backend's autodiff."""
    keras = _keras()
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(score)(x))
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = score(x)
        return tape.gradient(y, x).numpy()
    raise ValueError(f"gradients need the tensorflow or jax backend, not {backend}")


def _unit(a: np.ndarray) -> np.ndarray:
    """A non-negative map divided by its maximum (all zeros stays all zeros)."""
    top = float(a.max())
    return (a / top if top > 0 else np.zeros_like(a)).astype(np.float32)


def stretch_each(a: np.ndarray) -> np.ndarray:
    """Each a[i] stretched to [0, 1] on its own (a constant one becomes 0)."""
    flat = a.reshape(len(a), -1)
    low, span = flat.min(1), np.ptp(flat, 1)
    return ((flat - low[:, None]) / np.where(span > 0, span, 1)[:, None]).reshape(a.shape).astype(np.float32)


def class_scores(model, image) -> np.ndarray:
    """The logits of one image (the final Dense layer before its softmax)."""
    keras = _keras()
    dense = _final_dense(model)
    features = keras.Model(model.inputs[0], dense.input)(_batch(model, image), training=False)
    return keras.ops.convert_to_numpy(_logits(features, dense))[0]


def _probabilities(model, image) -> np.ndarray:
    logits = class_scores(model, image).astype(np.float64)
    p = np.exp(logits - logits.max())
    return p / p.sum()


def top_classes(model, image, k: int = 5, mirrored: bool = False) -> list[tuple[int, float]]:
    """The k likeliest classes as (class index, probability), highest first; `mirrored` averages the image's
    probabilities with its left-right mirror image's, as a run with `test_flip` was tested."""
    p = _probabilities(model, image)
    if mirrored:
        p = (p + _probabilities(model, image[:, ::-1])) / 2
    order = np.argsort(-p, kind="stable")[:k]
    return [(int(i), float(p[i])) for i in order]


def feature_map_layer(model):
    """Grad-CAM's default layer: the last spatial (4-D) output from the last Conv2D on, pooling excluded; that is
    the last Conv2D itself in a plain CNN, and the ReLU after the last skip connection in a residual one.
    None for a network without Conv2D."""
    layers = _keras().layers
    convs = [i for i, layer in enumerate(model.layers) if isinstance(layer, layers.Conv2D)]
    if not convs:
        return None
    pools = (layers.MaxPooling2D, layers.AveragePooling2D)
    return [layer for layer in model.layers[convs[-1]:] if len(layer.output.shape) == 4 and not isinstance(layer, pools)][-1]


def _head(model, layer, dense):
    """What follows `layer` up to the final Dense layer's input, as a function of the layer's output."""
    keras = _keras()
    if isinstance(model, keras.Sequential):  # a chain: the layers after it, in order
        after = model.layers[model.layers.index(layer) + 1: model.layers.index(dense)]

        def chain(x, training=False):
            for following in after:
                x = following(x, training=training)
            return x

        return chain
    try:  # a graph: a sub-model of its own, if every path to the output goes through the layer
        return keras.Model(layer.output, dense.input)
    except ValueError:
        raise ValueError(f"Grad-CAM cannot use layer {layer.name}: a skip connection goes around it") from None


def grad_cam(model, image, class_index: int, layer_name: str | None = None) -> np.ndarray | None:
    """Grad-CAM (Selvaraju et al. 2017): H x W in [0, 1], where the layer's feature maps push the class score up.

    Channel weights are the spatial means of d logit / d feature map; the map is the ReLU of the weighted sum of
    the channels, upsampled bilinearly to the image. None for a network without a convolution layer.
    """
    keras = _keras()
    layer = model.get_layer(layer_name) if layer_name else feature_map_layer(model)
    if layer is None:
        return None
    if len(layer.output.shape) != 4:
        raise ValueError(f"layer {layer.name} has no feature maps (its output is {tuple(layer.output.shape)}); pick a 4-D one")
    dense = _final_dense(model)
    class_index = _class_of(dense, class_index)
    head = _head(model, layer, dense)
    maps = keras.Model(model.inputs[0], layer.output)(_batch(model, image), training=False)
    grads = _gradient(lambda a: _logits(head(a, training=False), dense)[0, class_index], maps)[0]
    maps = keras.ops.convert_to_numpy(maps)[0]
    cam = np.maximum((maps * grads.mean(axis=(0, 1))).sum(-1), 0)
    size = tuple(model.inputs[0].shape[1:3])
    cam = keras.ops.image.resize(cam[None, :, :, None], size, interpolation="bilinear")
    return _unit(keras.ops.convert_to_numpy(cam)[0, :, :, 0])  # bilinear weights are >= 0: still non-negative


def saliency(model, image, class_index: int) -> np.ndarray:
    """Saliency (Simonyan et al. 2014): H x W in [0, 1], |d logit / d pixel|, the largest over the channels."""
    keras = _keras()
    dense = _final_dense(model)
    class_index = _class_of(dense, class_index)
    features = keras.Model(model.inputs[0], dense.input)
    grads = _gradient(lambda x: _logits(features(x, training=False), dense)[0, class_index], _batch(model, image))
    return _unit(np.abs(grads[0]).max(-1))


def activations(model, image) -> list[tuple[str, str, tuple, np.ndarray]]:
    """(layer name, class name, output shape, output) for every Conv2D (H x W x C) and Dense (a vector) layer, in order."""
    keras = _keras()
    chosen = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    outputs = keras.Model(model.inputs[0], [layer.output for layer in chosen])(_batch(model, image), training=False)
    return [(layer.name, type(layer).__name__, tuple(out.shape[1:]), keras.ops.convert_to_numpy(out)[0])
            for layer, out in zip(chosen, outputs)]


def first_layer_filters(model) -> np.ndarray | None:
    """The first Conv2D's kernels as filters x kh x kw x input channels, each filter stretched to [0, 1]; None without one."""
    keras = _keras()
    conv = next((layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)), None)
    if conv is None:
        return None
    return stretch_each(np.transpose(keras.ops.convert_to_numpy(conv.kernel), (3, 0, 1, 2)))


def dense_templates(model) -> np.ndarray | None:
    """The first Dense layer's weights per unit in the image's shape (units x H x W, or x C for colour), when that
    layer sees the flattened image itself (after Rescaling): the picture each unit matches. Signed, as trained.
    None for any other network (a CNN)."""
    keras = _keras()
    layers = keras.layers
    index = next((i for i, layer in enumerate(model.layers) if isinstance(layer, layers.Dense)), None)
    if index is None:
        return None
    before = model.layers[:index]
    shape = tuple(model.inputs[0].shape[1:])
    kernel = keras.ops.convert_to_numpy(model.layers[index].kernel)
    if (not any(isinstance(layer, layers.Flatten) for layer in before) or kernel.shape[0] != np.prod(shape)
            or not all(isinstance(layer, (layers.InputLayer, layers.Rescaling, layers.Flatten)) for layer in before)):
        return None
    templates = kernel.T.reshape((-1, *shape))
    return templates[..., 0] if shape[-1] == 1 else templates


def hidden_features(model, images, batch_size: int = 256) -> np.ndarray:
    """The last hidden layer's activations (the final Dense layer's input), N x features."""
    keras = _keras()
    features = keras.Model(model.inputs[0], _final_dense(model).input)
    images = np.asarray(images, np.float32)
    # Direct calls, not predict(): a fresh sub-model would compile a fresh predict function every time.
    batches = [keras.ops.convert_to_numpy(features(images[i: i + batch_size], training=False))
               for i in range(0, len(images), batch_size)]
    return np.concatenate(batches).reshape(len(images), -1)


def project(features, method: str = "pca", seed: int = 0) -> np.ndarray:
    """N x 2 points of N feature vectors: PCA or t-SNE (scikit-learn), the same for the same seed."""
    features = np.asarray(features, np.float64).reshape(len(features), -1)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(2, svd_solver="full", random_state=seed).fit_transform(features)
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        # perplexity must stay below the number of points; 30 is sklearn's default for large sets
        perplexity = min(30.0, max(1.0, (len(features) - 1) / 3))
        # One OpenMP thread: the CPU is shared with training workers, and 2 spinning threads on a busy
        # 2-core machine took 42-54 s for 500 points where 1 thread took 11 s.
        with threadpool_limits(1, user_api="openmp"):
            return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    if method == "umap":
        raise ValueError("a UMAP projection needs the umap-learn package (pip install umap-learn); pca and tsne work without it")
    raise ValueError(f"unknown projection {method!r}: choose one of {', '.join(PROJECTIONS)}")


def embedding(model, images, method: str = "pca", seed: int = 0) -> np.ndarray:
    """N x 2 projection of the images' last hidden layer activations (see `project`)."""
    return project(hidden_features(model, images), method, seed)


# --- pictures ------------------------------------------------------------------------------------

def colormap(values) -> np.ndarray:
    """H x W values in [0, 1] as H x W x 3 uint8 viridis colours (dark violet 0, yellow 1)."""
    position = np.clip(np.asarray(values, np.float32), 0, 1) * (len(VIRIDIS) - 1)
    low = np.minimum(position.astype(int), len(VIRIDIS) - 2)
    t = (position - low)[..., None]
    return np.round(VIRIDIS[low] * (1 - t) + VIRIDIS[low + 1] * t).astype(np.uint8)


def overlay(image, heat, opacity: float = 0.5) -> np.ndarray:
    """The heat map in colour over the image (grey or colour): H x W x 3 uint8, heat weighted by opacity."""
    image = np.asarray(image, np.float32)
    rgb = np.repeat(image.reshape(*image.shape[:2], -1), 3, -1) if image.ndim == 2 or image.shape[-1] == 1 else image
    return np.round((1 - opacity) * rgb + opacity * colormap(heat)).astype(np.uint8)


def grid(pictures, columns: int | None = None, gap: float = 1.0) -> np.ndarray:
    """N pictures (N x h x w, or x 3) tiled in rows, one pixel of `gap` between them: for feature maps and filters."""
    pictures = np.asarray(pictures)
    n, h, w = pictures.shape[:3]
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = -(-n // columns)
    out = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1, *pictures.shape[3:]), gap, pictures.dtype)
    for i, picture in enumerate(pictures):
        r, c = divmod(i, columns)
        out[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = picture
    return out


def to_png(array, scale: int = 1) -> bytes:
    """A PNG of an H x W (x 1 or x 3) picture, uint8 or floats in [0, 1], each pixel `scale` x `scale` (PIL)."""
    from PIL import Image

    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    array = array.repeat(scale, 0).repeat(scale, 1)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
