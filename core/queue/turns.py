"""Taking turns: one worker trains every job it holds at once, a slice of time each, so that a class's curves all
form together and nobody waits behind a long run.

Each job's training is a generator (core.queue.worker.job_steps) that does about a compiled call of work per step;
the worker advances one job for SLICE_S, then the next, round robin. A job that has not started yet goes first, so
that a new student's run starts within one slice of being claimed. Each job keeps its own network, data order and
random state between its turns, so its weights and history are those it would have alone; its epochs are timed by
its own clock, which runs only during its turns. A job that fails, fails alone; Stop reaches each job at its next
step; a worker killed mid-way leaves every job it held to be resumed from its checkpoint (Queue.reap).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from core.queue import jobs
from core.queue.queue import Queue
from core.storage import runs
from core.training.trainer import release

SLICE_S = 0.5  # a job's turn: long enough that switching costs nothing, short enough that thirty curves all move
POLL_S = 0.5  # Stop is asked of the queue at most this often per job
MAX_ACTIVE = 32  # jobs one worker holds at once; beyond, they wait in the queue


@dataclass(eq=False)
class Active:
    """A job this worker holds: its steps, its own clock, its Stop."""

    job: jobs.Job
    steps: object = None  # the generator, made on the first turn
    busy_s: float = 0.0  # time spent in its turns so far
    turn_started: float | None = None
    checked: list = field(default_factory=lambda: [0.0, False])  # [when the queue was last asked, its answer]

    def clock(self) -> float:
        """The job's own time: its turns only."""
        return self.busy_s + (time.monotonic() - self.turn_started if self.turn_started is not None else 0.0)


class Turns:
    """The jobs of one worker, trained by turns. `start(job, should_stop, clock)` makes a job's steps."""

    def __init__(self, queue: Queue, start, slice_s: float = SLICE_S, max_active: int = MAX_ACTIVE):
        self.queue, self.start, self.slice_s, self.max_active = queue, start, slice_s, max_active
        self.active: list[Active] = []
        self.ended = 0  # jobs that ended here, however they ended
        self._next = 0

    def claim(self) -> int:
        """Take waiting jobs from the queue while there is room; how many were taken."""
        taken = 0
        while len(self.active) < self.max_active and (job := self.queue.claim()) is not None:
            self.active.append(Active(job))
            taken += 1
        return taken

    def _should_stop(self, held: Active):
        def asked() -> bool:
            now = time.monotonic()
            if now - held.checked[0] > POLL_S:
                held.checked[:] = [now, self.queue.cancel_requested(held.job.id)]
            return held.checked[1]

        return asked

    def turn(self) -> bool:
        """One job's turn (a job not started yet goes first); False when there is none."""
        if not self.active:
            return False
        held = next((a for a in self.active if a.steps is None), None)
        if held is None:
            self._next %= len(self.active)
            held = self.active[self._next]
            self._next += 1
        held.turn_started = time.monotonic()
        try:
            if held.steps is None:
                held.steps = self.start(held.job, self._should_stop(held), held.clock)
            next(held.steps)  # one step at least, then as many as fit in the slice
            while time.monotonic() - held.turn_started < self.slice_s:
                next(held.steps)
        except StopIteration as done:
            self._end(held, done.value, None)
        except Exception as e:  # recorded in the run by the trainer; the other jobs go on
            self._end(held, None, e)
        finally:
            held.busy_s += time.monotonic() - held.turn_started
            held.turn_started = None
        return True

    def _end(self, held: Active, made, error: Exception | None) -> None:
        self.active.remove(held)
        self.ended += 1
        if not self.active:
            release()
        job = held.job
        if error is not None:
            self.queue.finish(job.id, "failed", jobs.job_error(error))
        elif job.spec.lr_find:
            self.queue.finish(job.id, "cancelled" if held.checked[1] else "completed")
        else:
            run = runs.read_run(Path(made))
            self.queue.finish(job.id, run.status if run.has_results else "failed")
