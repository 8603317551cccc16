"""One small builder per network of the report (and one beyond it), and a registry that names them.

Builders import Keras when called, so that listing the registry (the dashboard, the CLI's `presets`)
never pulls in TensorFlow. Every builder takes the TrainConfig and returns an uncompiled keras.Model
whose last layer is a softmax over the classes the config chose (the dataset's, or half of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from core.data.datasets import DATASET_INFO, chosen_classes


@dataclass(frozen=True)
class Architecture:
    name: str
    dataset: str
    title: str
    summary: str
    uses: tuple[str, ...]  # config fields the builder reads (the dashboard greys out the rest)
    build: Callable

    @property
    def short_title(self) -> str:
        """ "CIFAR-100 Arch 3" from "CIFAR-100 Arch 3: residual + bottleneck"."""
        return self.title.split(":")[0].split(" (")[0]


def _l2(config):
    import keras

    return keras.regularizers.L2(config.l2) if config.l2 > 0 else None


def _classes(config) -> int:
    """How many classes the network tells apart: the dataset's, or the subset's the config chose."""
    return len(chosen_classes(config.dataset, config.class_subset))


def _input(dataset):
    import keras

    return keras.Input(shape=DATASET_INFO[dataset].image_shape, name="image")


def _rescale():
    import keras

    return keras.layers.Rescaling(1 / 255, name="scale_0_1")  # report §3.1: pixels divided by 255


def fmnist_arch1(config):
    """Report §3.1, Architecture 1: one hidden Dense(200), optional dropout and L2 (Fig. 1)."""
    import keras
    from keras import layers

    model = [_input("fashion_mnist"), _rescale(), layers.Flatten()]
    model.append(layers.Dense(config.units, activation="relu", kernel_regularizer=_l2(config), name="hidden_1"))
    if config.dropout > 0:
        model.append(layers.Dropout(config.dropout))
    model.append(layers.Dense(_classes(config), activation="softmax", kernel_regularizer=_l2(config), name="classes"))
    return keras.Sequential(model, name="fmnist_arch1")


def fmnist_arch2(config):
    """Report §3.1, Architecture 2: a stack of Dense(200) + dropout, L2 on every Dense (Fig. 2).

    Depth: Table 1 says 9 hidden layers, the text of TR1 says 4; the default follows the table.
    """
    import keras
    from keras import layers

    model = [_input("fashion_mnist"), _rescale(), layers.Flatten()]
    for i in range(1, config.depth + 1):
        model.append(layers.Dense(config.units, activation="relu", kernel_regularizer=_l2(config), name=f"hidden_{i}"))
        if config.dropout > 0:
            model.append(layers.Dropout(config.dropout))
    model.append(layers.Dense(_classes(config), activation="softmax", kernel_regularizer=_l2(config), name="classes"))
    return keras.Sequential(model, name="fmnist_arch2")


def cifar_arch1(config):
    """Report §3.2, CNN Architecture 1 (Fig. 3): conv32-pool-conv64-pool-flatten-dense100-dense100."""
    import keras
    from keras import layers

    reg = _l2(config)
    model = [
        _input("cifar100"),
        _rescale(),
        *_augmentation_if(config),
        layers.Conv2D(32, 3, activation="relu", kernel_regularizer=reg),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu", kernel_regularizer=reg),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(100, activation="relu", kernel_regularizer=reg),
    ]
    if config.dropout > 0:
        model.append(layers.Dropout(config.dropout))
    model.append(layers.Dense(_classes(config), activation="softmax", kernel_regularizer=reg, name="classes"))
    return keras.Sequential(model, name="cifar_arch1")


def cifar_arch2(config):
    """Report §3.2, CNN Architecture 2 (Fig. 4): Arch 1 plus 7 conv layers, L2 everywhere, 40 % dropout.

    The report adds 6 max-pools to Arch 1's 2; eight 2x2 pools would shrink 32x32 below one pixel.
    Nearest buildable reading: the 9 conv layers (2 + 7) with 'same' padding in five stages
    (32-32 | 64-64 | 128-128 | 256-256 | 256), a 2x2 pool after each stage (5 pools, 32 -> 1),
    then Flatten - Dense 100 - Dropout - Dense 100.
    """
    import keras
    from keras import layers

    reg = _l2(config)
    model = [_input("cifar100"), _rescale(), *_augmentation_if(config)]
    for stage, filters in enumerate([(32, 32), (64, 64), (128, 128), (256, 256), (256,)], start=1):
        for j, f in enumerate(filters, start=1):
            model.append(layers.Conv2D(f, 3, padding="same", activation="relu", kernel_regularizer=reg, name=f"conv{stage}_{j}"))
        model.append(layers.MaxPooling2D(name=f"pool{stage}"))
    model += [layers.Flatten(), layers.Dense(100, activation="relu", kernel_regularizer=reg)]
    if config.dropout > 0:
        model.append(layers.Dropout(config.dropout))
    model.append(layers.Dense(_classes(config), activation="softmax", kernel_regularizer=reg, name="classes"))
    return keras.Sequential(model, name="cifar_arch2")


def _conv_bn(x, filters, kernel, reg, strides=1, relu=True, name=None):
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, kernel_regularizer=reg, name=name)(x)
    x = layers.BatchNormalization(name=None if name is None else name + "_bn")(x)
    return layers.ReLU()(x) if relu else x


def cifar_arch3(config):
    """Report §3.2, CNN Architecture 3 (Figs. 5-7): a residual block and a bottleneck block in series.

    Stem conv 64 -> residual block (two 3x3 conv+BN, identity skip, Fig. 6) -> max-pool ->
    bottleneck block (1x1 reduce, 3x3, 1x1 expand to 128, 1x1 projection skip, Fig. 7) -> max-pool ->
    Flatten -> batch norm -> Dense 100 -> 40 % dropout -> Dense 100. L2 on every conv and dense layer.

    The batch norm after Flatten is ours, not the report's. The 8,192 flattened features come out of a ReLU
    and a max-pool, so they are all positive with a large common mean. Every update then moves a Dense
    unit's input the same way for every image, and the Dense ReLUs die. Measured here without it, batch 32:
    at Adam 0.001 and at SGD 0.01 all of them died within 50 steps; at Adam 1e-4 92 % within 600, at 3e-5
    46 % within 400 and rising. None of these learned, and a full run stayed at chance for 3 epochs.
    Centred features keep them alive.
    """
    import keras
    from keras import layers

    reg = _l2(config)
    inputs = _input("cifar100")
    x = _rescale()(inputs)
    for layer in _augmentation_if(config):
        x = layer(x)
    x = _conv_bn(x, 64, 3, reg, name="stem")
    # Residual block, identity skip: two conv+BN pairs are skipped (report §3.2).
    y = _conv_bn(x, 64, 3, reg, name="res_a")
    y = _conv_bn(y, 64, 3, reg, relu=False, name="res_b")
    x = layers.ReLU()(layers.Add(name="res_add")([x, y]))
    x = layers.MaxPooling2D()(x)
    # Bottleneck block, projection skip (1x1 conv) because the width changes 64 -> 128.
    y = _conv_bn(x, 32, 1, reg, name="bneck_reduce")
    y = _conv_bn(y, 32, 3, reg, name="bneck_conv")
    y = _conv_bn(y, 128, 1, reg, relu=False, name="bneck_expand")
    skip = _conv_bn(x, 128, 1, reg, relu=False, name="bneck_project")
    x = layers.ReLU()(layers.Add(name="bneck_add")([skip, y]))
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.BatchNormalization(name="features_bn")(x)
    x = layers.Dense(100, activation="relu", kernel_regularizer=reg, name="hidden")(x)
    if config.dropout > 0:
        x = layers.Dropout(config.dropout)(x)
    outputs = layers.Dense(_classes(config), activation="softmax", kernel_regularizer=reg, name="classes")(x)
    return keras.Model(inputs, outputs, name="cifar_arch3")


def _augmentation(seed):
    """Random crop (pad 4, as translation) and horizontal flip: active in training only."""
    import keras
    from keras import layers

    return keras.Sequential(
        [layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", seed=seed), layers.RandomFlip("horizontal", seed=seed)],
        name="augment",
    )


def _augmentation_if(config) -> list:
    """The augmentation block when the config asks for it (the report trained its CNNs without)."""
    return [_augmentation(config.seed)] if config.augment else []


def _preact_block(x, filters, strides, reg, name):
    """Pre-activation basic block (He et al., 2016): BN-ReLU-conv-BN-ReLU-conv + skip."""
    from keras import layers

    y = layers.ReLU()(layers.BatchNormalization(name=f"{name}_bn1")(x))
    skip = x
    if strides != 1 or x.shape[-1] != filters:
        skip = layers.Conv2D(filters, 1, strides=strides, use_bias=False, kernel_regularizer=reg, name=f"{name}_proj")(y)
    y = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, kernel_regularizer=reg, name=f"{name}_conv1")(
        y
    )
    y = layers.ReLU()(layers.BatchNormalization(name=f"{name}_bn2")(y))
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"{name}_conv2")(y)
    return layers.Add(name=f"{name}_add")([skip, y])


def cifar_resnet(config):
    """Beyond the report: a pre-activation ResNet-18 for 32x32 images, with augmentation.

    Widths 64-128-256-512, two blocks per stage; `units` is ignored, `depth` is not used.
    Meant to be trained with SGD + one-cycle schedule, label smoothing and weight decay (preset).
    """
    import keras
    from keras import layers

    reg = _l2(config)
    inputs = _input("cifar100")
    x = _rescale()(inputs)
    for layer in _augmentation_if(config):
        x = layer(x)
    x = layers.Normalization(mean=[0.5071, 0.4866, 0.4409], variance=[0.2673**2, 0.2564**2, 0.2762**2], name="standardize")(x)
    x = layers.Conv2D(64, 3, padding="same", use_bias=False, kernel_regularizer=reg, name="stem")(x)
    for stage, filters in enumerate([64, 128, 256, 512], start=1):
        for block in range(2):
            strides = 2 if stage > 1 and block == 0 else 1
            x = _preact_block(x, filters, strides, reg, name=f"s{stage}b{block + 1}")
    x = layers.ReLU()(layers.BatchNormalization(name="final_bn")(x))
    x = layers.GlobalAveragePooling2D()(x)
    if config.dropout > 0:
        x = layers.Dropout(config.dropout)(x)
    outputs = layers.Dense(_classes(config), activation="softmax", kernel_regularizer=reg, name="classes")(x)
    return keras.Model(inputs, outputs, name="cifar_resnet")


def _basic_block(x, filters, reg, name):
    """Basic residual block (He et al., 2015): conv-BN-ReLU-conv-BN + skip, ReLU after the sum.

    The block's last BN scale starts at zero, so every block starts as the identity (Goyal et al., 2017);
    where the width changes, the skip is a 1x1 convolution + BN (a projection).
    """
    from keras import layers

    skip = x
    if x.shape[-1] != filters:
        skip = layers.Conv2D(filters, 1, use_bias=False, kernel_regularizer=reg, name=f"{name}_proj")(x)
        skip = layers.BatchNormalization(name=f"{name}_proj_bn")(skip)
    y = _conv_bn(x, filters, 3, reg, name=f"{name}_conv1")
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(gamma_initializer="zeros", name=f"{name}_conv2_bn")(y)
    return layers.ReLU()(layers.Add(name=f"{name}_add")([skip, y]))


FASTRES_WIDTHS = (64, 128, 256)  # one stage per resolution: 16x16, 8x8, 4x4
FASTRES_BLOCKS = 1  # basic blocks per stage


def cifar_fastres(config):
    """Beyond the report: a small residual network sized for a 2-core CPU (one hour end to end).

    Where the time goes on a CPU decides the shape: a stride-2 stem (3x3 conv, 64 filters) takes the
    32x32 image to 16x16 at once (thin layers at full resolution are slow on a CPU for what they compute),
    then one basic block per resolution, widths 64-128-256 at 16x16, 8x8 and 4x4, with 2x2 max-pooling
    between them; global average pooling -> dropout -> softmax. 1.25 M parameters, about 48 M
    multiply-adds per image (195 images/s training at batch 128 here). Random crop + flip with `augment`.
    """
    import keras
    from keras import layers

    reg = _l2(config)
    inputs = _input("cifar100")
    x = _rescale()(inputs)
    if config.augment:
        x = _augmentation(config.seed)(x)
    x = layers.Normalization(mean=[0.5071, 0.4866, 0.4409], variance=[0.2673**2, 0.2564**2, 0.2762**2], name="standardize")(x)
    x = _conv_bn(x, FASTRES_WIDTHS[0], 3, reg, strides=2, name="stem")
    for stage, filters in enumerate(FASTRES_WIDTHS, start=1):
        if stage > 1:
            x = layers.MaxPooling2D(name=f"pool{stage}")(x)
        for block in range(1, FASTRES_BLOCKS + 1):
            x = _basic_block(x, filters, reg, name=f"s{stage}b{block}")
    x = layers.GlobalAveragePooling2D()(x)
    if config.dropout > 0:
        x = layers.Dropout(config.dropout)(x)
    outputs = layers.Dense(_classes(config), activation="softmax", kernel_regularizer=reg, name="classes")(x)
    return keras.Model(inputs, outputs, name="cifar_fastres")


FMNIST_CNN_WIDTHS = (16, 64, 128)  # one 3x3 convolution per resolution: 28x28, 14x14, 7x7


def fmnist_cnn(config):
    """Beyond the report: a small modern CNN for Fashion-MNIST (the report used dense layers only there).

    Three stages of one 3x3 convolution + batch norm + ReLU + 2x2 max-pool (16, 64, 128 filters: 28 -> 14 -> 7 -> 3),
    then Dense(units) + batch norm + ReLU + dropout + softmax. One convolution per resolution, and a narrow one at
    28x28, since the full-size maps cost most of a CPU's time for little gain (docs/presets.md). With `augment`: a
    random horizontal flip (a mirrored coat is still a coat).
    """
    import keras
    from keras import layers

    reg = _l2(config)
    inputs = _input("fashion_mnist")
    x = _rescale()(inputs)
    if config.augment:
        x = layers.RandomFlip("horizontal", seed=config.seed, name="augment")(x)
    for stage, filters in enumerate(FMNIST_CNN_WIDTHS, start=1):
        x = _conv_bn(x, filters, 3, reg, name=f"conv{stage}")
        x = layers.MaxPooling2D(name=f"pool{stage}")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(config.units, use_bias=False, kernel_regularizer=reg, name="hidden")(x)
    x = layers.ReLU()(layers.BatchNormalization(name="hidden_bn")(x))
    if config.dropout > 0:
        x = layers.Dropout(config.dropout)(x)
    outputs = layers.Dense(_classes(config), activation="softmax", kernel_regularizer=reg, name="classes")(x)
    return keras.Model(inputs, outputs, name="fmnist_cnn")


_COMMON = ("learning_rate", "beta_1", "optimizer", "schedule", "batch_size", "epochs", "validation_split", "limit", "seed",
           "label_smoothing", "early_stopping", "reduce_lr", "class_subset", "per_class", "start_from", "transfer")

ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("fmnist_arch1", "fashion_mnist", "Fashion-MNIST Arch 1: one hidden layer",
                     "Flatten -> Dense(units) -> dropout -> softmax (report §3.1, Fig. 1)",
                     _COMMON + ("units", "dropout", "l2"), fmnist_arch1),
        Architecture("fmnist_arch2", "fashion_mnist", "Fashion-MNIST Arch 2: deep dense stack",
                     "Flatten -> depth x [Dense(units) -> dropout] -> softmax, L2 everywhere (report §3.1, Fig. 2)",
                     _COMMON + ("depth", "units", "dropout", "l2"), fmnist_arch2),
        Architecture("fmnist_cnn", "fashion_mnist", "Fashion-MNIST CNN (beyond the report)",
                     "3 x [conv -> BN -> pool] (16, 64, 128 filters) -> Dense(units) -> BN -> dropout -> softmax, "
                     "flip augmentation", _COMMON + ("units", "dropout", "l2", "augment", "test_flip"), fmnist_cnn),
        Architecture("cifar_arch1", "cifar100", "CIFAR-100 Arch 1: two conv layers",
                     "conv32 -> pool -> conv64 -> pool -> Dense 100 -> softmax (report §3.2, Fig. 3)",
                     _COMMON + ("dropout", "l2", "augment", "test_flip"), cifar_arch1),
        Architecture("cifar_arch2", "cifar100", "CIFAR-100 Arch 2: deep sequential CNN",
                     "9 conv layers in 5 stages, 5 pools, Dense 100 -> dropout -> softmax (report §3.2, Fig. 4)",
                     _COMMON + ("dropout", "l2", "augment", "test_flip"), cifar_arch2),
        Architecture("cifar_arch3", "cifar100", "CIFAR-100 Arch 3: residual + bottleneck",
                     "stem -> residual block -> bottleneck block -> Dense 100 -> dropout -> softmax (report §3.2, Figs. 5-7)",
                     _COMMON + ("dropout", "l2", "augment", "test_flip"), cifar_arch3),
        Architecture("cifar_resnet", "cifar100", "CIFAR-100 ResNet-18 (beyond the report)",
                     "pre-activation ResNet-18 with crop+flip augmentation, global pooling -> softmax",
                     _COMMON + ("dropout", "l2", "augment", "test_flip"), cifar_resnet),
        Architecture("cifar_fastres", "cifar100", "CIFAR-100 fast ResNet for the CPU (beyond the report)",
                     "stride-2 stem -> 3 residual blocks (64-128-256) with max-pooling, crop+flip "
                     "augmentation, global pooling -> softmax",
                     _COMMON + ("dropout", "l2", "augment", "test_flip"), cifar_fastres),
    ]
}


def build_model(config):
    """The uncompiled Keras model for a validated TrainConfig."""
    return ARCHITECTURES[config.architecture].build(config)
