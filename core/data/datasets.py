"""Fashion-MNIST and CIFAR-100: where to find them, how to read them, how to split them.

Search order, for each dataset: an explicit data directory, the Keras cache (~/.keras/datasets),
Debian's dataset-fashion-mnist package (Fashion-MNIST only), then the download through
keras.datasets. Every reader checks what it reads and raises DataError naming the file and the fault.
No Keras import here: the dashboard asks "what is available?" without loading TensorFlow.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

CIFAR100_FINE = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest",
    "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion", "lizard",
    "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid",
    "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum",
    "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper",
    "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf",
    "woman", "worm",
)
CIFAR100_COARSE = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables", "household_electrical_devices",
    "household_furniture", "insects", "large_carnivores", "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes", "large_omnivores_and_herbivores", "medium_mammals",
    "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)
CIFAR100_FINE_TO_COARSE = (
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10,
    12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17, 10, 3, 2, 12, 12,
    16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8,
    14, 13,
)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    default_validation_split: float  # the report's: 15 % Fashion-MNIST (§4.1), 10 % CIFAR-100 (§4.2)
    how_to_get: str
    train_images: int  # in the real training set


DATASET_INFO = {
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "Fashion-MNIST", (28, 28, 1), FASHION_CLASSES, 0.15,
        "put the four IDX .gz files in a folder and pass --data-dir, or `apt-get install dataset-fashion-mnist`, "
        "or run once with internet access (keras.datasets.fashion_mnist downloads into ~/.keras/datasets)", 60_000,
    ),
    "cifar100": DatasetInfo(
        "cifar100", "CIFAR-100", (32, 32, 3), CIFAR100_FINE, 0.10,
        "put cifar100.npz (keys x_train, y_train_fine, y_train_coarse, x_test, y_test_fine, y_test_coarse) "
        "in a folder and pass --data-dir, or run once with internet access (keras.datasets.cifar100 downloads "
        "into ~/.keras/datasets)", 50_000,
    ),
}

FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
CIFAR_NPZ = "cifar100.npz"
CIFAR_NPZ_KEYS = ("x_train", "y_train_fine", "y_train_coarse", "x_test", "y_test_fine", "y_test_coarse")
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# Tests point these at temporary folders; users can too (e.g. a shared cache on a lab machine).
KERAS_CACHE_ENV = "KERAS_HOME"


class DataError(Exception):
    """A dataset cannot be found or a file of it is corrupt; the message says which and what to do."""


@dataclass
class Dataset:
    info: DatasetInfo
    x_train: np.ndarray  # uint8, N x H x W x C
    y_train: np.ndarray  # int labels, N
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where it was found, for the run record
    y_train_coarse: np.ndarray | None = None
    y_test_coarse: np.ndarray | None = None


def keras_cache_dir() -> Path:
    return Path(os.environ.get(KERAS_CACHE_ENV, Path.home() / ".keras")) / "datasets"


# --- Fashion-MNIST: IDX files, gzip-compressed ---------------------------------------------------

def read_idx_gz(path: Path, expect_dims: int) -> np.ndarray:
    """Read one gzip IDX file (ubyte data), checking magic number, dimensions and length."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: not a readable gzip file ({e}); download it again") from None
    if len(raw) < 4:
        raise DataError(f"{path}: file is truncated (only {len(raw)} bytes)")
    zero, dtype_code, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    if dims != expect_dims:
        raise DataError(f"{path}: expected {expect_dims} dimensions, found {dims}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise DataError(f"{path}: file is truncated inside its header")
    shape = struct.unpack(f">{dims}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: file is truncated or padded: header promises {expected} bytes of data, found {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _load_fashion_dir(folder: Path, source: str) -> Dataset:
    x_train = read_idx_gz(folder / FASHION_FILES["x_train"], 3)
    y_train = read_idx_gz(folder / FASHION_FILES["y_train"], 1)
    x_test = read_idx_gz(folder / FASHION_FILES["x_test"], 3)
    y_test = read_idx_gz(folder / FASHION_FILES["y_test"], 1)
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.shape[1:] != (28, 28):
            raise DataError(f"{folder}: {part} images are {x.shape[1]}x{x.shape[2]}, Fashion-MNIST images are 28x28")
        if len(x) != len(y):
            raise DataError(f"{folder}: {len(x)} {part} images but {len(y)} {part} labels")
        if y.size and y.max() > 9:
            raise DataError(f"{folder}: {part} labels go up to {y.max()}, Fashion-MNIST has classes 0-9")
    return Dataset(DATASET_INFO["fashion_mnist"], x_train[..., None], y_train.astype(np.int64),
                   x_test[..., None], y_test.astype(np.int64), source)


def _has_fashion(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FASHION_FILES.values())


# --- CIFAR-100: our npz, or the original `cifar-100-python` pickles ------------------------------

def load_cifar_npz(path: Path, source: str) -> Dataset:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a lone .npy array under the .npz name
            raise DataError(
                f"{path}: holds a single array, not an .npz archive; a cifar100.npz needs {', '.join(CIFAR_NPZ_KEYS)}"
            )
        with loaded as npz:
            missing = [k for k in CIFAR_NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataError(f"{path}: missing key(s) {', '.join(missing)}; a cifar100.npz needs {', '.join(CIFAR_NPZ_KEYS)}")
            arrays = {k: npz[k] for k in CIFAR_NPZ_KEYS}
    except DataError:
        raise
    except Exception as e:  # a damaged archive fails in many ways (BadZipFile, zlib.error, NotImplementedError, ...)
        raise DataError(f"{path}: not a readable .npz file ({e}); it may be truncated or corrupt") from None
    return _cifar_dataset(arrays, path, source)


def _cifar_dataset(a: dict, path, source: str) -> Dataset:
    for part in ("train", "test"):
        x = a[f"x_{part}"]
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8:
            raise DataError(f"{path}: x_{part} has shape {x.shape} and type {x.dtype}; CIFAR-100 needs N x 32 x 32 x 3 uint8")
        for kind, top in (("fine", 99), ("coarse", 19)):
            y = np.asarray(a[f"y_{part}_{kind}"]).reshape(-1)
            if len(y) != len(x):
                raise DataError(f"{path}: {len(x)} {part} images but {len(y)} {kind} labels")
            if y.size and (y.min() < 0 or y.max() > top):
                raise DataError(f"{path}: {kind} labels of {part} must lie in 0-{top}, found {y.min()}-{y.max()}")
    label = lambda k: np.asarray(a[k]).reshape(-1).astype(np.int64)  # noqa: E731
    return Dataset(DATASET_INFO["cifar100"], a["x_train"], label("y_train_fine"), a["x_test"], label("y_test_fine"),
                   source, label("y_train_coarse"), label("y_test_coarse"))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """The CIFAR pickles hold dicts, lists, bytes and numpy arrays; refuse any other global."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_cifar_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            d = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except Exception as e:  # only allowed globals can run, so any failure means a damaged file
        raise DataError(f"{path}: not a readable CIFAR-100 pickle ({e}); delete it and download again") from None
    if not isinstance(d, dict):
        raise DataError(f"{path}: expected a dict in the CIFAR-100 pickle")
    return {k.decode("utf-8", "replace") if isinstance(k, bytes) else k: v for k, v in d.items()}


def load_cifar_python_dir(folder: Path, source: str) -> Dataset:
    arrays = {}
    for part in ("train", "test"):
        d = _read_cifar_pickle(folder / part)
        missing = [k for k in ("data", "fine_labels", "coarse_labels") if k not in d]
        if missing:
            raise DataError(f"{folder / part}: missing {', '.join(missing)}")
        data = np.asarray(d["data"])
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{folder / part}: data has shape {data.shape}; expected N x 3072 (32x32x3, channels first)")
        arrays[f"x_{part}"] = data.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        arrays[f"y_{part}_fine"] = np.asarray(d["fine_labels"])
        arrays[f"y_{part}_coarse"] = np.asarray(d["coarse_labels"])
    return _cifar_dataset(arrays, folder, source)


def _cifar_python_dirs(cache: Path) -> list[Path]:
    # Keras 3 extracts into cifar-100-python-target/cifar-100-python; older versions into cifar-100-python.
    return [cache / "cifar-100-python-target" / "cifar-100-python", cache / "cifar-100-python"]


# --- Finding and loading -----------------------------------------------------------------------

def candidates(name: str, data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path, str]]:
    """Where the dataset could be, in search order: (kind, path, description)."""
    out = []
    cache = keras_cache_dir()
    if name == "fashion_mnist":
        if data_dir:
            out.append(("fashion_dir", Path(data_dir), f"data directory {data_dir}"))
        out.append(("fashion_dir", cache / "fashion-mnist", f"Keras cache {cache / 'fashion-mnist'}"))
        out.append(("fashion_dir", DEBIAN_FASHION_DIR, f"Debian package dataset-fashion-mnist ({DEBIAN_FASHION_DIR})"))
    elif name == "cifar100":
        if data_dir:
            out.append(("cifar_npz", Path(data_dir) / CIFAR_NPZ, f"data directory {data_dir}"))
        out.append(("cifar_npz", cache / CIFAR_NPZ, f"Keras cache {cache / CIFAR_NPZ}"))
        for d in _cifar_python_dirs(cache):
            out.append(("cifar_python", d, f"Keras cache {d}"))
    else:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASET_INFO)}")
    return out


def _present(kind: str, path: Path) -> bool:
    if kind == "fashion_dir":
        return _has_fashion(path)
    if kind == "cifar_npz":
        return path.is_file()
    return (path / "train").is_file() and (path / "test").is_file()


def locate(name: str, data_dir=None) -> tuple[str, Path, str] | None:
    """The first place that holds the dataset's files (not yet read), or None."""
    for kind, path, desc in candidates(name, data_dir):
        if _present(kind, path):
            return kind, path, desc
    return None


def _read(kind: str, path: Path, desc: str) -> Dataset:
    if kind == "fashion_dir":
        return _load_fashion_dir(path, desc)
    if kind == "cifar_npz":
        return load_cifar_npz(path, desc)
    return load_cifar_python_dir(path, desc)


def _download(name: str) -> Dataset:
    """Last resort: keras.datasets, which downloads into the Keras cache; then read that cache."""
    try:
        import keras

        if name == "fashion_mnist":
            keras.datasets.fashion_mnist.load_data()
        else:
            keras.datasets.cifar100.load_data()
    except Exception as e:  # keras raises a bare Exception when offline
        raise DataError(
            f"{name}: download through keras.datasets failed ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        ) from None
    found = locate(name)
    if found is None:
        raise DataError(f"{name}: keras.datasets reported success but the files are not in {keras_cache_dir()}")
    return _read(*found)


def load(name: str, data_dir=None, download: bool = True) -> Dataset:
    """Load a dataset from the first place that has it; DataError with every option when none has."""
    found = locate(name, data_dir)
    if found is not None:
        return _read(*found)
    if data_dir and not Path(data_dir).is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    tried = "; ".join(desc for _, _, desc in candidates(name, data_dir))
    if download:
        try:
            return _download(name)
        except DataError as e:
            tried += f"; {e}"
    raise DataError(f"{DATASET_INFO[name].title} not found (looked in: {tried}). To get it: {DATASET_INFO[name].how_to_get}.")


def availability(data_dir=None) -> dict[str, str | None]:
    """For each dataset: where it would be loaded from, or None. Cheap: reads no data."""
    return {name: (found[2] if (found := locate(name, data_dir)) else None) for name in DATASET_INFO}


CLASS_SUBSETS = ("all", "first_half", "second_half")  # a dataset's classes, or the first or second half of them


def chosen_classes(dataset: str, subset: str) -> range:
    """The dataset's class numbers in a subset (a network's class i is the dataset's chosen_classes(...)[i])."""
    classes = len(DATASET_INFO[dataset].class_names)
    half = classes // 2
    return {"all": range(classes), "first_half": range(half), "second_half": range(half, classes)}[subset]


def select_classes(x: np.ndarray, y: np.ndarray, classes: range) -> tuple[np.ndarray, np.ndarray]:
    """The images of these classes, in their order, their labels renumbered from 0."""
    keep = (y >= classes.start) & (y < classes.stop)
    return x[keep], (y[keep] - classes.start).astype(y.dtype)


def test_of_classes(dataset: Dataset, subset: str) -> Dataset:
    """The dataset with its test set cut to a subset of classes (labels renumbered, superclasses kept alongside):
    the test images a run of that subset was scored on, in the order its predictions are stored."""
    classes = chosen_classes(dataset.info.name, subset)
    if subset == "all":
        return dataset
    keep = (dataset.y_test >= classes.start) & (dataset.y_test < classes.stop)
    coarse = None if dataset.y_test_coarse is None else np.asarray(dataset.y_test_coarse)[keep]
    return dataclasses.replace(dataset, x_test=dataset.x_test[keep], y_test=dataset.y_test[keep] - classes.start,
                               y_test_coarse=coarse)


def train_validation_split(n: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle of range(n) into (train indices, validation indices)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * validation_split)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])

