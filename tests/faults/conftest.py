"""Fault tests: real worker processes killed at chosen moments, bad input from every door, ownership.

Every worker process a test starts is killed when the test ends (a worker idles for an hour otherwise),
whether the test passed or not. Datasets are the tiny real-format files of tests/conftest.py, and no
test here reads the machine's datasets or the network. Helpers live in fault_helpers.py.
"""

from __future__ import annotations

import pytest
from fault_helpers import Workers


@pytest.fixture(autouse=True)
def _no_real_datasets(sealed_data):
    """Nothing here sees the machine's datasets (Keras cache, Debian folder) or the network."""
    return sealed_data


@pytest.fixture
def workers():
    """Worker processes of one test: every one of them is killed when the test ends."""
    tracker = Workers()
    yield tracker
    tracker.stop_all()
