"""Work written as a generator, a step at a time, so that a worker can interleave several (core.queue.turns); run to
its end where it runs alone."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

Result = TypeVar("Result")


def run_to_end(steps: Generator[object, None, Result]) -> Result:
    """Every step of `steps`, then what it returns."""
    try:
        while True:
            next(steps)
    except StopIteration as done:
        return done.value
