"""Values computed from files, kept in this process while the files are unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


class FileMemo:
    """Values computed from files, kept in this process while the files are unchanged (`stamps`, from mtimes, say
    when). Bounded: at `limit` keys it starts afresh, so that the entries of deleted runs do not pile up."""

    def __init__(self, limit: int):
        self.limit, self._held = limit, {}

    def get(self, key, stamps: tuple, compute: Callable[[], Any], keep: Callable[[Any], bool] = lambda value: True):
        """The value kept for `key` if its stamps are `stamps`, else compute() (kept if keep(value))."""
        held = self._held.get(key)
        if held is not None and held[0] == stamps:
            return held[1]
        value = compute()
        if keep(value):
            if len(self._held) >= self.limit and key not in self._held:
                self._held.clear()
            self._held[key] = (stamps, value)
        return value


def mtimes(*paths: Path) -> tuple:
    """The files' modification times (None for a missing one): a cache key that changes when any of them does."""
    out = []
    for p in paths:
        try:
            out.append(p.stat().st_mtime_ns)
        except OSError:
            out.append(None)
    return tuple(out)
