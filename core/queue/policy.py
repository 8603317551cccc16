"""What the queue asks of the class it serves. The queue is handed a policy (core.classroom's ClassPolicy, or OPEN
where there is no class) and never imports the classroom: it only asks whether training is paused, whether a job
may be queued, and whether someone may stop a job or clear the queue."""

from __future__ import annotations

from typing import Protocol


class PolicyError(Exception):
    """The class's rules refuse a job or an action; the message names the rule and what to do."""


class Policy(Protocol):
    def paused(self) -> bool:
        """Whether workers may start jobs now."""

    def admit(self, actor, spec, waiting: int, continued: dict | None) -> None:
        """Raise PolicyError unless `actor` may queue `spec` (a core.queue.jobs.JobSpec), having `waiting` jobs
        waiting or training; `continued` is the record of the run a resume job continues."""

    def check_stop(self, actor, owner: str, name: str) -> None:
        """Raise PolicyError unless `actor` may stop `owner`'s job `name`."""

    def check_clear(self, actor) -> None:
        """Raise PolicyError unless `actor` may cancel every waiting job."""


class OpenPolicy:
    """No class: one person on one laptop, or the command line. Nothing is refused, nothing is paused."""

    def paused(self) -> bool:
        return False

    def admit(self, actor, spec, waiting: int, continued: dict | None) -> None:
        return None

    def check_stop(self, actor, owner: str, name: str) -> None:
        return None

    def check_clear(self, actor) -> None:
        return None


OPEN = OpenPolicy()
