"""Shared fixtures: tiny datasets written in each real on-disk format (tools/fake_data.py), and a sealed-off
data search.

Nothing here reads ../shared, /usr/share/datasets, ~/.keras or the network. Datasets are written as the real
files are and read back through core.data.datasets, so the tests exercise the real readers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# JAX (the JAX pass, and the processes the tests start under it): the tests compile a few hundred small XLA programs
# and run each briefly, so LLVM's optimizations cost more than they save. Without them the JAX pass took a third less
# CPU time (2-core AMD EPYC, 2026-12-07: 185-200 s against 267-305 s); results move at float rounding only (a 2-epoch
# CNN's loss by 1e-7), and the tests compare within tolerances. Workers and the CLI keep XLA's default.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()

from core.data import datasets  # noqa: E402
from tools.fake_data import (  # noqa: E402
    cifar_arrays,
    idx_bytes,
    learnable_fashion,
    py2_pickle,
    write_cifar_npz,
    write_cifar_python,
    write_fashion,
    write_idx_gz,
)

# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def sealed_data(tmp_path_factory, monkeypatch):
    """Point every dataset search place at empty temporary folders and make the download fail fast.

    Returns a namespace with `cache` (the Keras datasets cache) and `debian` (the Debian folder)."""
    root = tmp_path_factory.mktemp("sealed")
    monkeypatch.setenv(datasets.KERAS_CACHE_ENV, str(root / "keras_home"))
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_DIR", root / "debian" / "fashion-mnist")
    calls = []

    def no_download(name):
        calls.append(name)
        raise datasets.DataError(f"{name}: download through keras.datasets failed (no network in tests)")

    monkeypatch.setattr(datasets, "_download", no_download)

    class Sealed:
        cache = datasets.keras_cache_dir()
        debian = root / "debian" / "fashion-mnist"
        download_calls = calls

    assert Sealed.cache == root / "keras_home" / "datasets"
    return Sealed


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory) -> Path:
    """A data directory with 400 learnable training and 100 test images in Fashion-MNIST's IDX format."""
    return write_fashion(tmp_path_factory.mktemp("fashion"), 400, 100)


@pytest.fixture(scope="session")
def fashion_data(fashion_dir):
    """The Dataset read from fashion_dir through core.data.datasets.load (the data dir is searched first)."""
    ds = datasets.load("fashion_mnist", fashion_dir, download=False)
    assert ds.source.startswith("data directory")
    return ds


@pytest.fixture
def run_cli(capsys):
    """core.cli.main in-process, as `run_cli(argv)` -> (exit status, stdout, stderr)."""
    from core.cli import main as cli

    def run(argv):
        try:
            status = cli.main([str(a) for a in argv])
        except SystemExit as e:
            status = e.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture(scope="session")
def writers():
    """The file writers above, for tests that build their own (often broken) datasets."""
    from types import SimpleNamespace

    return SimpleNamespace(idx_bytes=idx_bytes, idx_gz=write_idx_gz, learnable_fashion=learnable_fashion,
                           fashion=write_fashion, cifar_arrays=cifar_arrays, cifar_npz=write_cifar_npz,
                           cifar_python=write_cifar_python, py2_pickle=py2_pickle)


# --- order ---------------------------------------------------------------------------------------

LONG_FIRST = ("tests/faults/", "tests/e2e/")  # real processes, clusters and browsers: each test takes 10-100 s


def pytest_collection_modifyitems(items):
    """The long tests go first, so that pytest-xdist spreads them over its workers at the start instead of leaving
    one of them to finish alone at the end. Order only: every test still stands on its own."""
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_FIRST))
