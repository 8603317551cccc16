"""Exclusive locks on files and folders (flock): the kernel drops them when their process dies, even on SIGKILL,
so "can I take the lock?" is an exact test of whether its holder still runs."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on a folder (flock on the folder itself: no lock file to travel with a run) for a
    read-modify-write that two processes may do at once: the trainer ending a run while its owner renames it;
    two students signing in."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def try_lock(path: Path):
    """An open, exclusively locked file, or None if another process holds the lock."""
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return f
    except BlockingIOError:
        f.close()
        return None
