"""Taking turns: one worker trains every job it holds at once, a slice of time each, so that a class's curves all
form together and nobody waits behind a long run.

Each job's training is a generator (core.queue.worker.job_steps) that does about a compiled call of work per step;
the worker advances one job for SLICE_S, then the next, round robin. A job that has not started yet goes first, for
one step only (its network built, its first batch trained: core.training.fast trains it without tracing), so that
thirty new students' curves all have a point within seconds; the tracing comes at their next turns. Each job keeps
its own network, data order and random state between its turns, so its weights and history are those it would have
alone; its epochs are timed by its own clock, which runs only during its turns. A job that fails, fails alone; Stop
reaches each job at its next step; a worker killed mid-way leaves every job it held to be resumed from its
checkpoint (Queue.reap). The same job asked twice is trained once (core.queue.twins): a copy of the finished run at
once, or of the training one when it ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from core.queue import jobs, twins
from core.queue.queue import Queue
from core.storage import runs
from core.storage.copies import copy_run
from core.training.trainer import release

SLICE_S = 0.5  # a job's turn: long enough that switching costs nothing, short enough that thirty curves all move
POLL_S = 0.5  # Stop is asked of the queue at most this often per job
MAX_ACTIVE = 32  # jobs one worker holds at once; beyond, they wait in the queue


@dataclass(eq=False)
class Active:
    """A job this worker holds: its steps, its own clock, its Stop."""

    job: jobs.Job
    steps: object = None  # the generator, made on the first turn
    leader: int | None = None  # the job training the same config, whose run this one's will be a copy of
    busy_s: float = 0.0  # time spent in its turns so far
    turn_started: float | None = None
    checked: list = field(default_factory=lambda: [0.0, False])  # [when the queue was last asked, its answer]

    def clock(self) -> float:
        """The job's own time: its turns only."""
        return self.busy_s + (time.monotonic() - self.turn_started if self.turn_started is not None else 0.0)


class Turns:
    """The jobs of one worker, trained by turns. `start(job, should_stop, clock)` makes a job's steps."""

    def __init__(self, queue: Queue, start, slice_s: float = SLICE_S, max_active: int = MAX_ACTIVE,
                 shipped_dir: Path | None = runs.PRETRAINED_DIR):
        self.queue, self.start, self.slice_s, self.max_active = queue, start, slice_s, max_active
        self.shipped_dir = shipped_dir  # where shipped runs are: a twin may be one of them
        self.active: list[Active] = []
        self.ended = 0  # jobs that ended here, however they ended
        self._next = 0

    def claim(self, most: int | None = None, share: bool = False) -> int:
        """Take waiting jobs from the queue while there is room (`most` at a time: a worker beside others takes one
        a turn, and with `share` none while it holds more than another worker taking jobs: Queue.claim), so that a class's
        jobs spread evenly over the workers; how many were taken."""
        taken = 0
        while (len(self.active) < self.max_active and (most is None or taken < most)
               and (job := self.queue.claim(share)) is not None):
            taken += 1
            held = Active(job)
            if twins.can_have_twin(job):
                if (twin := twins.finished_twin(job, self.shipped_dir)) is not None:
                    self._copy(held, twin)
                    continue
                if (leader := twins.training_twin(job, self.queue)) is not None:
                    held.leader = leader.id
                    spec = job.spec
                    made = runs.create_run(spec.runs_dir, spec.config.to_dict(), spec.labels, {}, spec.run_id)
                    runs.update_record(made, copy_of={"id": leader.run_id, "name": leader.name})
            self.active.append(held)
        return taken

    def _copy(self, held: Active, twin: runs.Run) -> None:
        spec = held.job.spec
        copy_run(twin, spec.runs_dir, spec.run_id, spec.labels)
        self.queue.finish(held.job.id, "completed")
        self.ended += 1

    def _followers(self) -> bool:
        """Answer the jobs that wait for a twin: a copy when it has completed, their own training when it has not;
        whether any of them ended."""
        answered = False
        for held in [a for a in self.active if a.leader is not None]:
            leader = self.queue.get(held.leader)
            if leader is not None and leader.active:
                continue
            if leader is not None and leader.status == "completed":
                self.active.remove(held)
                self._copy(held, runs.read_run(leader.run_dir))
                answered = True
            else:
                held.leader = None  # its twin was stopped or failed: it trains itself
        return answered

    def _should_stop(self, held: Active):
        def asked() -> bool:
            now = time.monotonic()
            if now - held.checked[0] > POLL_S:
                held.checked[:] = [now, self.queue.cancel_requested(held.job.id)]
            return held.checked[1]

        return asked

    def turn(self) -> bool:
        """One job's turn (a job not started yet goes first); False when there is none."""
        answered = self._followers()
        training = [a for a in self.active if a.leader is None]
        if not training:
            return answered
        held = next((a for a in training if a.steps is None), None)
        if held is None:
            self._next %= len(training)
            held = training[self._next]
            self._next += 1
        held.turn_started = time.monotonic()
        try:
            first_turn = held.steps is None
            if first_turn:
                held.steps = self.start(held.job, self._should_stop(held), held.clock)
            next(held.steps)  # one step at least, then as many as fit in the slice
            while not first_turn and time.monotonic() - held.turn_started < self.slice_s:
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
