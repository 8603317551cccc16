"""A preset for every trial run of the report, with the report's own figures beside it.

Report figures are fractions (0.8906 = 89.06 %); None where the report gives none.
The report never states its L2 strength; the values below were chosen to reproduce the behaviour
of its tables (see docs/presets.md for the measurements behind each choice).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.networks.config import TrainConfig, from_dict


@dataclass(frozen=True)
class ReportFigures:
    source: str  # where in the report
    train_accuracy: float | None = None
    val_accuracy: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    test_error_ci95: tuple[float, float] | None = None


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    settings: dict
    report: ReportFigures
    note: str = ""
    config: TrainConfig = field(init=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "config", from_dict(self.settings))

    @property
    def short_title(self) -> str:
        """ "Fashion-MNIST Arch 1, trial 1" from "Fashion-MNIST Arch 1, trial 1: no regularization"."""
        return self.title.split(":")[0].split(" with ")[0]

    def differences(self, config: TrainConfig | dict) -> dict[str, list]:
        """{field: [this preset's value, the config's]} for every field in which the config departs from it."""
        return self.config.differences(config)

    def reproduced_by(self, config: TrainConfig | dict) -> bool:
        """A reproduction of this trial: a run whose config is the preset's, field for field (the seed aside)."""
        return not {k for k in self.differences(config) if k != "seed"}


_FMNIST = dict(dataset="fashion_mnist", epochs=50, validation_split=0.15, batch_size=32)
_ARCH2 = dict(_FMNIST, architecture="fmnist_arch2", depth=9, units=200)
_CIFAR = dict(dataset="cifar100", epochs=50, validation_split=0.10, batch_size=32)
# The cifar-fast recipe, for the transfer-learning presets.
_HALF = dict(dataset="cifar100", architecture="cifar_fastres", validation_split=0.05, batch_size=128, optimizer="sgd",
             learning_rate=0.2, beta_1=0.9, schedule="onecycle", l2=2.5e-4, label_smoothing=0.1, augment=True)

PRESETS: dict[str, Preset] = {
    p.id: p
    for p in [
        Preset("fmnist-arch1-tr1", "Fashion-MNIST Arch 1, trial 1: no regularization",
               dict(_FMNIST, architecture="fmnist_arch1", dropout=0.0, l2=0.0, learning_rate=1e-3),
               ReportFigures("§5.1.1", 0.9433, 0.8879, 0.1515, 0.50),
               "The report's 'learning rate 0' means Keras' default Adam rate, 0.001."),
        Preset("fmnist-arch1-tr2", "Fashion-MNIST Arch 1, trial 2: dropout 0.2 + strong L2",
               dict(_FMNIST, architecture="fmnist_arch1", dropout=0.2, l2=5e-2, learning_rate=1e-3),
               ReportFigures("§5.1.2, Table 2", 0.7106, 0.7178, 1.3532, 1.3277),
               "L2 = 0.05 reproduces the report's over-regularized ~71 % (0.03 gave 73 %, loss 1.19)."),
        Preset("fmnist-arch1-tr3", "Fashion-MNIST Arch 1, trial 3: dropout 0.05 + L2",
               dict(_FMNIST, architecture="fmnist_arch1", dropout=0.05, l2=1e-3, learning_rate=1e-3),
               ReportFigures("§5.1.3, Table 3", 0.8716, 0.8526, 0.41, 0.48)),
        Preset("fmnist-arch1-tr4", "Fashion-MNIST Arch 1, trial 4: learning rate 0.0001",
               dict(_FMNIST, architecture="fmnist_arch1", dropout=0.05, l2=1e-3, learning_rate=1e-4),
               ReportFigures("§5.1.4", 0.8023),
               "The report changed only the learning rate from trial 3, so L2 stays at 0.001. Measured here, the "
               "slower rate reached 89 % training accuracy, not the report's 80 %: with 50 epochs at 0.0001 this "
               "network is not yet limited by its speed, so the report's run must have differed in a way it does "
               "not state. The report gives no validation figure ('even lower')."),
        Preset("fmnist-arch2-tr1", "Fashion-MNIST Arch 2, trial 1: the report's best model",
               dict(_ARCH2, dropout=0.2, l2=1e-4, learning_rate=1e-4, beta_1=0.95),
               ReportFigures("§5.1.5, Table 4; CI from the abstract", 0.9486, 0.8906, 0.19, 0.40, (0.1024, 0.1145)),
               "Depth 9 follows Table 1; the text of §3.1 says four hidden layers."),
        Preset("fmnist-arch2-tr2", "Fashion-MNIST Arch 2, trial 2: dropout 0.5, learning rate 0.0005",
               dict(_ARCH2, dropout=0.5, l2=1e-4, learning_rate=5e-4),
               ReportFigures("§5.1.6, Table 5", 0.9110, 0.89, 0.30, 0.40),
               "Dropout 0.5 after each of 9 layers (Table 1's depth) learns slowly: 67 % training accuracy after "
               "50 epochs here. The report's 91 % fits its text's four hidden layers better (try depth = 4)."),
        Preset("fmnist-arch2-tr3", "Fashion-MNIST Arch 2, trial 3: dropout 0.2, batch 32",
               dict(_ARCH2, dropout=0.2, l2=1e-4, learning_rate=5e-4, batch_size=32),
               ReportFigures("§5.1.7, Table 6 (shared by trials 3 and 4)", 0.9022, 0.8782, 0.37, 0.45)),
        Preset("fmnist-arch2-tr4", "Fashion-MNIST Arch 2, trial 4: dropout 0.2, batch 64",
               dict(_ARCH2, dropout=0.2, l2=1e-4, learning_rate=5e-4, batch_size=64),
               ReportFigures("§5.1.7, Table 6 (shared by trials 3 and 4)", 0.9022, 0.8782, 0.37, 0.45)),
        Preset("cifar-arch1-lr0.01", "CIFAR-100 Arch 1, learning rate 0.01",
               dict(_CIFAR, architecture="cifar_arch1", learning_rate=1e-2),
               ReportFigures("§5.2.1, Table 7", 0.50, 0.30, 1.6, 2.5),
               "Measured here (CPU): at Adam 0.01 and batch 32 the loss stays at ln 100 = 4.61 from the first "
               "epoch to the 50th (the ReLUs die), and the test accuracy is chance, 1 %; at batch 512 it learns "
               "slowly (10 % after 4 epochs on 20,000 images). The report's 30 % needs a setting it does not state."),
        Preset("cifar-arch1-lr0.0001", "CIFAR-100 Arch 1, learning rate 0.0001",
               dict(_CIFAR, architecture="cifar_arch1", learning_rate=1e-4),
               ReportFigures("§5.2.1, Table 7", 0.25, 0.22, 3.19, 3.11),
               "The report states neither its CIFAR-100 batch size nor its pixel scaling; at batch 32 with pixels "
               "scaled to 0-1 this network learns much faster than the report's (36 % validation, not 22 %)."),
        Preset("cifar-arch2", "CIFAR-100 Arch 2: deep sequential CNN, L2 + dropout 0.4",
               dict(_CIFAR, architecture="cifar_arch2", dropout=0.4, l2=1e-4, learning_rate=1e-4),
               ReportFigures("§5.2.2, Table 8", 0.61, 0.39, 1.5, 2.6),
               "5 pools instead of the report's 8, which cannot fit a 32x32 image (see the architecture)."),
        Preset("cifar-arch3", "CIFAR-100 Arch 3: residual + bottleneck, L2 + dropout 0.4",
               dict(_CIFAR, architecture="cifar_arch3", dropout=0.4, l2=1e-4, learning_rate=1e-3),
               ReportFigures("§5.2.3, Table 9", 0.95, 0.42, 0.95, 3.11),
               "One batch normalization after Flatten, which the report does not show: without it every ReLU of "
               "the Dense layer died in the first 50 steps here and the run stayed at chance (see the architecture). "
               "Training accuracy climbs slowly here (the shipped run: 63 % after 50 epochs) while validation stays "
               "near the report's: the report's network memorised its training images far more, as a weaker L2 "
               "would let it."),
        Preset("cifar-resnet", "CIFAR-100 ResNet-18 with augmentation (beyond the report)",
               dict(dataset="cifar100", architecture="cifar_resnet", epochs=40, validation_split=0.10,
                    batch_size=128, optimizer="sgd", learning_rate=0.1, beta_1=0.9, schedule="onecycle",
                    l2=2.5e-4, label_smoothing=0.1, augment=True),
               ReportFigures("beyond the report (its best: 42 % validation)"),
               "SGD with Nesterov momentum, one-cycle schedule, weight decay 5e-4 (as L2 2.5e-4), label smoothing 0.1."),
        Preset("cifar-fast", "CIFAR-100 fast ResNet: one hour on a 2-core CPU (beyond the report)",
               dict(dataset="cifar100", architecture="cifar_fastres", epochs=13, validation_split=0.05,
                    batch_size=128, optimizer="sgd", learning_rate=0.2, beta_1=0.9, schedule="onecycle",
                    l2=2.5e-4, label_smoothing=0.1, augment=True),
               ReportFigures("beyond the report (its best: 42 % validation)"),
               "What a modern recipe does with the same computer: batch normalization, residual blocks, crop and "
               "flip augmentation, SGD with Nesterov momentum on a one-cycle schedule, label smoothing, 13 epochs "
               "on 95 % of the training images. Measured here on 2026-11-30 (2-core AMD EPYC CPU, idle): 62.7 % "
               "test accuracy in 57 minutes end to end, where the report's best network, Arch 3, needs about 7 hours "
               "of training on that machine for 39 % here (42 % in the report)."),
        Preset("fmnist-cnn", "Fashion-MNIST CNN: three convolutions (beyond the report)",
               dict(dataset="fashion_mnist", architecture="fmnist_cnn", units=128, dropout=0.4, augment=True, epochs=17,
                    validation_split=0.10, batch_size=256, optimizer="adam", learning_rate=4e-3, beta_1=0.9,
                    schedule="onecycle", label_smoothing=0.1, test_flip=True),
               ReportFigures("beyond the report (its best on Fashion-MNIST: 89 % validation, dense layers only)"),
               "What convolutions do for the same images: three 3x3 convolutions with batch normalization, a flip "
               "of each image now and then, dropout 0.4 and label smoothing, Adam on a one-cycle schedule, 17 "
               "epochs, each test image judged with its mirror image too. Measured here on 2026-12-07 (2-core AMD "
               "EPYC CPU, nothing else running): 93.6 % test accuracy in 14 minutes end to end, where the report's "
               "dense networks reach 88-89 %."),
        Preset("cifar-half-pretrain", "CIFAR-100, the first 50 classes: a network to transfer (beyond the report)",
               dict(_HALF, class_subset="first_half", epochs=13),
               ReportFigures("beyond the report: its closing claim, §7 (transfer learning)"),
               "The cifar-fast recipe on the first 50 classes only (500 training images each). Its network is what "
               "the transfer presets start from, for the other 50 classes it has never seen."),
        Preset("cifar-half-scratch", "CIFAR-100 from scratch: the other 50 classes, 100 images each (beyond the report)",
               dict(_HALF, class_subset="second_half", per_class=100, epochs=15),
               ReportFigures("beyond the report: §5.2.3 and §7 (more images per class, transfer learning)"),
               "A fifth of CIFAR-100's 500 training images per class, trained from random weights: with "
               "`per_class` from 10 to 500 it tests the report's claim that more images per class would help."),
        Preset("cifar-half-transfer", "CIFAR-100 transferred: the other 50 classes, 100 images each, "
                                      "fine-tuned from the first 50 (beyond the report)",
               dict(_HALF, class_subset="second_half", per_class=100, epochs=15, start_from="preset:cifar-half-pretrain",
                    transfer="fine_tune"),
               ReportFigures("beyond the report: §7 (transfer learning)"),
               "The same as cifar-half-scratch, but starting from the network trained on the first 50 classes "
               "(cifar-half-pretrain), every layer fine-tuned but the new last one. With transfer = frozen only the "
               "last layer trains: the features stay as the other classes taught them."),
    ]
}


def get(preset_id: str) -> Preset:
    try:
        return PRESETS[preset_id]
    except KeyError:
        raise KeyError(f"unknown preset {preset_id!r}; run `python -m core presets` for the list") from None


def differences_from(preset_id: str | None, config: TrainConfig | dict) -> dict[str, list] | None:
    """How a config departs from the preset it started from ({field: [preset's, config's]}); None without a known
    preset (none, or one this version no longer has)."""
    return PRESETS[preset_id].differences(config) if preset_id in PRESETS else None


def for_dataset(dataset: str) -> list[Preset]:
    return [p for p in PRESETS.values() if p.config.dataset == dataset]
