"""core.data.datasets: each real file format through the real readers, the search order, every fault."""

import gzip
import os
import sys
import types

import numpy as np
import pytest

from core.data import datasets
from core.data.datasets import DataError

ORIGINAL_DOWNLOAD = datasets._download


# --- each real format ----------------------------------------------------------------------------

def test_fashion_idx_from_data_dir(tmp_path, writers):
    writers.fashion(tmp_path, 50, 20)
    ds = datasets.load("fashion_mnist", tmp_path)
    assert ds.x_train.shape == (50, 28, 28, 1) and ds.x_test.shape == (20, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    x, y = writers.learnable_fashion(50, 0)
    np.testing.assert_array_equal(ds.x_train[..., 0], x)
    np.testing.assert_array_equal(ds.y_train, y)
    assert ds.info.class_names[0] == "T-shirt/top" and len(ds.info.class_names) == 10
    assert ds.source == f"data directory {tmp_path}"


def test_cifar_npz_from_data_dir(tmp_path, writers):
    arrays = writers.cifar_arrays(30, 10)
    writers.cifar_npz(tmp_path / "cifar100.npz", arrays)
    ds = datasets.load("cifar100", tmp_path)
    assert ds.x_train.shape == (30, 32, 32, 3) and ds.x_test.shape == (10, 32, 32, 3) and ds.x_train.dtype == np.uint8
    np.testing.assert_array_equal(ds.x_train, arrays["x_train"])
    np.testing.assert_array_equal(ds.y_train, arrays["y_train_fine"].reshape(-1))  # N x 1 flattened
    assert ds.y_train.shape == (30,) and ds.y_train_coarse.shape == (30,)
    np.testing.assert_array_equal(ds.y_test_coarse, np.asarray(datasets.CIFAR100_FINE_TO_COARSE)[ds.y_test])
    assert len(ds.info.class_names) == 100 and len(datasets.CIFAR100_COARSE) == 20


@pytest.mark.parametrize("python2", [True, False], ids=["python2-pickle", "python3-pickle"])
def test_cifar_python_pickles_channels_first(writers, sealed_data, python2):
    arrays = writers.cifar_arrays(12, 6)
    folder = sealed_data.cache / "cifar-100-python-target" / "cifar-100-python"
    writers.cifar_python(folder, arrays, python2=python2)
    ds = datasets.load("cifar100")
    # b'data' is channels first (1024 red, 1024 green, 1024 blue per row); the loader gives N x 32 x 32 x 3.
    raw = arrays["x_train"].transpose(0, 3, 1, 2).reshape(12, 3072)
    assert ds.x_train[3, 5, 7, 2] == raw[3, 2 * 1024 + 5 * 32 + 7]
    np.testing.assert_array_equal(ds.x_train, arrays["x_train"])
    np.testing.assert_array_equal(ds.y_test, arrays["y_test_fine"].reshape(-1))
    np.testing.assert_array_equal(ds.y_train_coarse, arrays["y_train_coarse"].reshape(-1))
    assert str(folder) in ds.source


def test_cifar_python_older_cache_layout(writers, sealed_data):
    writers.cifar_python(sealed_data.cache / "cifar-100-python", n_train=8, n_test=4)
    kind, path, _ = datasets.locate("cifar100")
    assert (kind, path) == ("cifar_python", sealed_data.cache / "cifar-100-python")
    assert datasets.load("cifar100").x_train.shape == (8, 32, 32, 3)


def test_fashion_in_keras_cache_and_debian_folder(writers, sealed_data):
    writers.fashion(sealed_data.debian, 10, 5)
    assert "Debian" in datasets.load("fashion_mnist").source
    writers.fashion(sealed_data.cache / "fashion-mnist", 20, 5)
    ds = datasets.load("fashion_mnist")
    assert ds.source.startswith("Keras cache") and len(ds.x_train) == 20


# --- search order --------------------------------------------------------------------------------

def test_fashion_search_order_data_dir_then_cache_then_debian(tmp_path, writers, sealed_data):
    writers.fashion(sealed_data.debian, 10, 5)
    writers.fashion(sealed_data.cache / "fashion-mnist", 20, 5)
    writers.fashion(tmp_path / "mine", 30, 5)
    assert len(datasets.load("fashion_mnist", tmp_path / "mine").x_train) == 30
    assert len(datasets.load("fashion_mnist").x_train) == 20
    descriptions = [d for _, _, d in datasets.candidates("fashion_mnist", tmp_path / "mine")]
    assert [d.split()[0] for d in descriptions] == ["data", "Keras", "Debian"]
    # A data dir missing one of the four files does not count: the next place is used.
    (tmp_path / "mine" / datasets.FASHION_FILES["y_test"]).unlink()
    assert len(datasets.load("fashion_mnist", tmp_path / "mine").x_train) == 20


def test_cifar_search_order(tmp_path, writers, sealed_data):
    writers.cifar_python(sealed_data.cache / "cifar-100-python", n_train=4, n_test=2)
    writers.cifar_python(sealed_data.cache / "cifar-100-python-target" / "cifar-100-python", n_train=5, n_test=2)
    assert len(datasets.load("cifar100").x_train) == 5  # Keras 3 layout before the older one
    writers.cifar_npz(sealed_data.cache / "cifar100.npz", n_train=6, n_test=2)
    assert len(datasets.load("cifar100").x_train) == 6
    writers.cifar_npz(tmp_path / "cifar100.npz", n_train=7, n_test=2)
    assert len(datasets.load("cifar100", tmp_path).x_train) == 7


def test_availability_reads_no_data(tmp_path, writers):
    writers.fashion(tmp_path, 5, 5)
    (tmp_path / "cifar100.npz").write_bytes(b"not read by availability")
    found = datasets.availability(tmp_path)
    assert found == {"fashion_mnist": f"data directory {tmp_path}", "cifar100": f"data directory {tmp_path}"}
    assert datasets.availability(tmp_path / "nowhere") == {"fashion_mnist": None, "cifar100": None}


# --- nothing found -------------------------------------------------------------------------------

def test_nothing_found_names_every_option(tmp_path, sealed_data):
    with pytest.raises(DataError) as e:
        datasets.load("fashion_mnist", tmp_path)
    message = str(e.value)
    for part in (f"data directory {tmp_path}", f"Keras cache {sealed_data.cache / 'fashion-mnist'}",
                 f"Debian package dataset-fashion-mnist ({sealed_data.debian})", "no network in tests",
                 "--data-dir", "apt-get install dataset-fashion-mnist", "keras.datasets.fashion_mnist"):
        assert part in message
    assert sealed_data.download_calls == ["fashion_mnist"]
    with pytest.raises(DataError, match=r"CIFAR-100 not found.*cifar-100-python.*cifar100\.npz"):
        datasets.load("cifar100", download=False)
    assert sealed_data.download_calls == ["fashion_mnist"]  # download=False never tries


def test_missing_data_dir_and_unknown_dataset(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        datasets.load("fashion_mnist", tmp_path / "nowhere")
    with pytest.raises(DataError, match="unknown dataset 'mnist'"):
        datasets.load("mnist")


def test_download_fills_the_cache_then_reads_it(monkeypatch, writers, sealed_data):
    """The last resort calls keras.datasets (faked here: it writes the files) and reads the cache."""
    calls = []
    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(fashion_mnist=types.SimpleNamespace(
        load_data=lambda: calls.append(1) or writers.fashion(sealed_data.cache / "fashion-mnist", 7, 3))))
    monkeypatch.setitem(sys.modules, "keras", fake)
    monkeypatch.setattr(datasets, "_download", ORIGINAL_DOWNLOAD)
    assert len(datasets.load("fashion_mnist").x_train) == 7 and calls == [1]


def test_download_failure_is_a_data_error(monkeypatch, sealed_data):
    def offline():
        raise Exception("URL fetch failure on https://example.invalid: None -- [Errno -3]\nmore detail")

    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(cifar100=types.SimpleNamespace(load_data=offline)))
    monkeypatch.setitem(sys.modules, "keras", fake)
    monkeypatch.setattr(datasets, "_download", ORIGINAL_DOWNLOAD)
    with pytest.raises(DataError) as e:
        datasets.load("cifar100")
    assert "download through keras.datasets failed (URL fetch failure" in str(e.value)
    assert "more detail" not in str(e.value) and "\n" not in str(e.value)


# --- corrupt, truncated, wrong-shaped files --------------------------------------------------------

def _fashion_with(tmp_path, writers, key, content: bytes):
    writers.fashion(tmp_path, 20, 10)
    path = tmp_path / datasets.FASHION_FILES[key]
    path.write_bytes(content)
    with pytest.raises(DataError) as e:
        datasets.load("fashion_mnist", tmp_path)
    return str(e.value), path


def test_corrupt_gzip(tmp_path, writers):
    message, path = _fashion_with(tmp_path, writers, "x_train", b"this is not gzip at all")
    assert message.startswith(str(path)) and "not a readable gzip file" in message


def test_cut_off_gzip_stream(tmp_path, writers):
    whole = gzip.compress(writers.idx_bytes(np.zeros((20, 28, 28), np.uint8)))
    message, path = _fashion_with(tmp_path, writers, "x_train", whole[: len(whole) // 2])
    assert str(path) in message and "not a readable gzip file" in message


def test_truncated_idx_data(tmp_path, writers):
    raw = writers.idx_bytes(np.zeros((20, 28, 28), np.uint8))
    message, path = _fashion_with(tmp_path, writers, "x_train", gzip.compress(raw[:-100]))
    assert str(path) in message and "truncated" in message and "15680 bytes" in message and "15580" in message


def test_truncated_idx_header(tmp_path, writers):
    message, path = _fashion_with(tmp_path, writers, "y_test", gzip.compress(writers.idx_bytes(np.zeros(10, np.uint8))[:6]))
    assert str(path) in message and "truncated inside its header" in message
    message, _ = _fashion_with(tmp_path, writers, "y_test", gzip.compress(b"\x00\x00"))
    assert "truncated (only 2 bytes)" in message


def test_wrong_magic_number(tmp_path, writers):
    raw = bytearray(writers.idx_bytes(np.zeros(10, np.uint8)))
    raw[2] = 0x0D  # float32 data: not Fashion-MNIST's unsigned bytes
    message, path = _fashion_with(tmp_path, writers, "y_test", gzip.compress(bytes(raw)))
    assert str(path) in message and "bad magic number" in message
    raw = bytearray(writers.idx_bytes(np.zeros(10, np.uint8)))
    raw[0] = 0x1F
    message, _ = _fashion_with(tmp_path, writers, "y_test", gzip.compress(bytes(raw)))
    assert "bad magic number" in message


def test_wrong_number_of_dimensions(tmp_path, writers):
    message, path = _fashion_with(tmp_path, writers, "y_train", gzip.compress(writers.idx_bytes(np.zeros((20, 2, 2), np.uint8))))
    assert str(path) in message and "expected 1 dimensions, found 3" in message


def test_wrong_image_size(tmp_path, writers):
    message, _ = _fashion_with(tmp_path, writers, "x_test", gzip.compress(writers.idx_bytes(np.zeros((10, 27, 28), np.uint8))))
    assert str(tmp_path) in message and "test images are 27x28" in message and "28x28" in message


def test_images_and_labels_disagree(tmp_path, writers):
    message, _ = _fashion_with(tmp_path, writers, "y_train", gzip.compress(writers.idx_bytes(np.zeros(19, np.uint8))))
    assert "20 train images but 19 train labels" in message


def test_fashion_label_out_of_range(tmp_path, writers):
    message, _ = _fashion_with(tmp_path, writers, "y_test", gzip.compress(writers.idx_bytes(np.full(10, 10, np.uint8))))
    assert "test labels go up to 10" in message and "0-9" in message


def test_npz_missing_keys(tmp_path, writers):
    arrays = writers.cifar_arrays(4, 2)
    del arrays["y_test_coarse"], arrays["x_test"]
    path = writers.cifar_npz(tmp_path / "cifar100.npz", arrays)
    with pytest.raises(DataError) as e:
        datasets.load("cifar100", tmp_path)
    assert str(e.value).startswith(str(path)) and "missing key(s) x_test, y_test_coarse" in str(e.value)


@pytest.mark.parametrize("key, bad, fault", [
    ("x_train", lambda a: a[..., 0], "x_train has shape (4, 32, 32)"),
    ("x_test", lambda a: a[:, :28, :28], "x_test has shape (2, 28, 28, 3)"),
    ("x_train", lambda a: a.astype(np.float32), "type float32"),
    ("y_train_fine", lambda a: a[:3], "4 train images but 3 fine labels"),
    ("y_test_coarse", lambda a: a + 20, "coarse labels of test must lie in 0-19"),
    ("y_train_fine", lambda a: a - 200, "fine labels of train must lie in 0-99"),
])
def test_npz_wrong_shapes_and_labels(tmp_path, writers, key, bad, fault):
    arrays = writers.cifar_arrays(4, 2)
    arrays[key] = bad(arrays[key])
    path = writers.cifar_npz(tmp_path / "cifar100.npz", arrays)
    with pytest.raises(DataError) as e:
        datasets.load("cifar100", tmp_path)
    assert str(e.value).startswith(str(path)) and fault in str(e.value)


def test_truncated_npz(tmp_path, writers):
    path = writers.cifar_npz(tmp_path / "cifar100.npz", n_train=20, n_test=5)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="not a readable .npz file.*truncated or corrupt") as e:
        datasets.load("cifar100", tmp_path)
    assert str(path) in str(e.value)


def test_npz_holding_pickled_objects_is_refused(tmp_path, writers):
    arrays = writers.cifar_arrays(4, 2)
    arrays["y_train_fine"] = np.array([object()] * 4, dtype=object)
    path = writers.cifar_npz(tmp_path / "cifar100.npz", arrays)
    with pytest.raises(DataError, match="not a readable .npz") as e:
        datasets.load("cifar100", tmp_path)
    assert str(path) in str(e.value)


class _Exploit:
    """Unpickling this would create a folder (os.mkdir): proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_pickle_with_forbidden_global_is_refused_not_run(tmp_path, writers, sealed_data):
    folder = writers.cifar_python(sealed_data.cache / "cifar-100-python", n_train=4, n_test=2)
    marker = tmp_path / "code-ran"
    (folder / "train").write_bytes(writers.py2_pickle({b"data": _Exploit(marker), b"fine_labels": [], b"coarse_labels": []}))
    with pytest.raises(DataError) as e:
        datasets.load("cifar100")
    assert str(e.value).startswith(str(folder / "train"))
    assert f"refusing to load {os.mkdir.__module__}.mkdir" in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize("part, content, fault", [
    ("test", lambda w: w.py2_pickle([1, 2, 3]), "expected a dict"),
    ("test", lambda w: w.py2_pickle({b"data": [], b"fine_labels": []}), "missing coarse_labels"),
    ("test", lambda w: w.py2_pickle({b"data": b"x" * 3072})[:100], "not a readable CIFAR-100 pickle"),
    ("test", lambda w: b"", "not a readable CIFAR-100 pickle"),
    ("train", lambda w: b"\x80\x02K\x01}b.", "not a readable CIFAR-100 pickle"),  # BUILD on an int: AttributeError inside
    ("train", lambda w: w.py2_pickle({b"d\xffta": b"", b"fine_labels": [], b"coarse_labels": []}), "missing data"),
], ids=["not-a-dict", "missing-key", "truncated", "empty", "bad-opcodes", "undecodable-key"])
def test_bad_cifar_pickles(writers, sealed_data, part, content, fault):
    folder = writers.cifar_python(sealed_data.cache / "cifar-100-python", n_train=4, n_test=2)
    (folder / part).write_bytes(content(writers))
    with pytest.raises(DataError) as e:
        datasets.load("cifar100")
    assert str(folder / part) in str(e.value) and fault in str(e.value)


def test_cifar_pickle_data_of_wrong_width(writers, sealed_data):
    folder = writers.cifar_python(sealed_data.cache / "cifar-100-python", n_train=4, n_test=2)
    d = {b"data": np.zeros((2, 1024), np.uint8), b"fine_labels": [0, 1], b"coarse_labels": [4, 1]}
    (folder / "test").write_bytes(writers.py2_pickle(d))
    with pytest.raises(DataError, match=r"data has shape \(2, 1024\); expected N x 3072"):
        datasets.load("cifar100")


# --- the seeded split ------------------------------------------------------------------------------

def test_train_validation_split_is_seeded_disjoint_and_sized():
    train, val = datasets.train_validation_split(1000, 0.15, seed=3)
    again_train, again_val = datasets.train_validation_split(1000, 0.15, seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    assert len(val) == 150 and len(train) == 850
    assert not set(train) & set(val) and set(train) | set(val) == set(range(1000))
    other_train, other_val = datasets.train_validation_split(1000, 0.15, seed=4)
    assert set(other_val) != set(val)
    assert len(datasets.train_validation_split(3, 0.05, 0)[1]) == 1  # at least one validation image
    assert len(datasets.train_validation_split(60000, 0.10, 0)[1]) == 6000


def damaged_deflate(arrays: dict, member: str) -> bytes:
    """A savez_compressed archive with one byte of `member`'s compressed stream flipped (zlib fails)."""
    import io
    import struct
    import zipfile

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    raw = bytearray(buffer.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(raw))).getinfo(member)
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26: info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len + 2] ^= 0xFF
    return bytes(raw)


def test_npz_with_damaged_compressed_data(tmp_path, writers):
    arrays = writers.cifar_arrays(4, 2)
    arrays["x_train"][:] = 0  # compressible, so the flipped byte lands in a real deflate stream
    (tmp_path / "cifar100.npz").write_bytes(damaged_deflate(arrays, "x_train.npy"))
    with pytest.raises(DataError, match=r"cifar100\.npz: not a readable \.npz file \(Error -3 while decompressing"):
        datasets.load("cifar100", tmp_path)


def test_npz_that_is_a_single_npy_array(tmp_path):
    with open(tmp_path / "cifar100.npz", "wb") as f:
        np.save(f, np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match=r"cifar100\.npz: holds a single array, not an \.npz archive; .* x_train"):
        datasets.load("cifar100", tmp_path)
