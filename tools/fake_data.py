"""Write tiny FAKE datasets in each real on-disk format: gzip IDX for Fashion-MNIST, cifar100.npz, and the
`cifar-100-python` pickles as Toronto wrote them with Python 2.

The test suite reads them back through core.data.datasets (so it exercises the real readers), and the load test
trains on them. The Fashion-MNIST images are learnable: class k has a bright band on rows 2k..2k+2.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np

from core.data import datasets


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000 0x08 ndim, big-endian sizes, then the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> Path:
    Path(path).write_bytes(gzip.compress(idx_bytes(array)))
    return Path(path)


def learnable_fashion(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 uint8 images, labels cycling 0-9; class k has a bright band on rows 2k..2k+2."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(y)
    x = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
    for i, k in enumerate(y):
        x[i, 2 * k: 2 * k + 3, :] = rng.integers(200, 256, size=(3, 28), dtype=np.uint8)
    return x, y


def write_fashion(folder: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """The four Fashion-MNIST .gz files, with real IDX headers, into folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = learnable_fashion(n_train, seed)
    x_test, y_test = learnable_fashion(n_test, seed + 1)
    for key, array in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)):
        write_idx_gz(folder / datasets.FASHION_FILES[key], array)
    return folder


def cifar_arrays(n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays with the keys of cifar100.npz: random images, fine labels and their real coarse labels."""
    rng = np.random.default_rng(seed)
    out = {}
    for part, n in (("train", n_train), ("test", n_test)):
        fine = rng.integers(0, 100, size=n)
        out[f"x_{part}"] = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        out[f"y_{part}_fine"] = fine.reshape(-1, 1).astype(np.int64)  # keras.datasets shape: N x 1
        out[f"y_{part}_coarse"] = np.asarray(datasets.CIFAR100_FINE_TO_COARSE)[fine].reshape(-1, 1).astype(np.int64)
    return out


def write_cifar_npz(path: Path, arrays: dict | None = None, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **(arrays if arrays is not None else cifar_arrays(**kwargs)))
    return path


class _Py2Pickler(pickle._Pickler):
    """Pickles bytes as Python 2 `str` (BINSTRING), as cPickle did for the original CIFAR-100 files;
    Python 3's protocol 2 would wrap them in `_codecs.encode` instead."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def py2_pickle(obj) -> bytes:
    """A protocol-2 pickle laid out like the files from Toronto (numpy as `numpy.core.multiarray`)."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def write_cifar_python(folder: Path, arrays: dict | None = None, python2: bool = True, **kwargs) -> Path:
    """The original `cifar-100-python` layout: `train` and `test` pickles of dicts with bytes keys,
    b'data' N x 3072 uint8 (channels first), b'fine_labels' and b'coarse_labels' lists.

    python2 writes them as the real (Python 2) files are; otherwise with Python 3's default protocol."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = arrays if arrays is not None else cifar_arrays(**kwargs)
    for part in ("train", "test"):
        x = arrays[f"x_{part}"]
        d = {
            b"filenames": [f"img_{i}.png".encode() for i in range(len(x))],
            b"batch_label": f"{part} batch".encode(),
            b"fine_labels": [int(v) for v in arrays[f"y_{part}_fine"].reshape(-1)],
            b"coarse_labels": [int(v) for v in arrays[f"y_{part}_coarse"].reshape(-1)],
            b"data": x.transpose(0, 3, 1, 2).reshape(len(x), 3072),
        }
        (folder / part).write_bytes(py2_pickle(d) if python2 else pickle.dumps(d))
    return folder
