"""Who may change a run: the acting person is handed in (core.classroom's Identity), and this layer only asks it."""

from __future__ import annotations

from typing import Protocol

from core.storage.runs import Run, RunError


class Actor(Protocol):
    """Who acts. None in place of an Actor means a dashboard without sign-in: whoever uses it owns every run."""

    @property
    def signed_in(self) -> bool: ...

    def may_act_for(self, owner: str | None) -> bool: ...


def may_change(actor: Actor | None, record: dict) -> bool:
    """Rename, delete, notes, Stop, continue a run: the actor's own rule for its owner; anyone without sign-in."""
    return actor is None or actor.may_act_for(record.get("owner"))


def require_owner(run: Run, actor: Actor | None) -> None:
    """RunError unless `actor` may change this run. Shipped runs: nobody."""
    if run.shipped:
        raise RunError(
            f"run {run.name!r} is shipped with the dashboard and cannot be changed; export it and import the copy to edit it"
        )
    if not may_change(actor, run.record):
        raise RunError(f"run {run.name!r} is {run.record.get('owner') or 'someone else'}'s: only its owner and the instructor "
                       "can change it")
