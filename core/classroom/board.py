"""The class board: each student's best finished run for an assignment, ranked, with what they changed."""

from __future__ import annotations

from dataclasses import dataclass

from core.classroom.assignments import Assignment
from core.networks.presets import get
from core.storage.runs import Run, RunError


@dataclass(frozen=True)
class Standing:
    owner: str
    run: Run
    accuracy: float
    low: float  # 95 % interval of the test accuracy
    high: float
    changed: dict  # {field: [preset's, run's]}: what this run changed from the assignment's starting preset
    distinguishable: bool  # its interval does not overlap the leader's (the leader: False)


def leaderboard(candidates: list[Run], assignment: Assignment) -> list[Standing]:
    """Each student's best finished run for the assignment, best first; a run whose 95 % interval overlaps the
    leader's cannot be told apart from it on this test set."""
    best: dict[str, Standing] = {}
    for r in candidates:
        if r.record.get("assignment") != assignment.id or r.status != "completed" or r.problem:
            continue
        try:
            m = r.metrics()
        except RunError:
            continue
        low, high = 1 - m["test_error_ci95"][1], 1 - m["test_error_ci95"][0]
        owner = r.record.get("owner") or "?"
        changed = {k: v for k, v in get(assignment.preset).differences(r.config).items() if k != "seed"}
        if owner not in best or m["test_accuracy"] > best[owner].accuracy:
            best[owner] = Standing(owner, r, m["test_accuracy"], low, high, changed, False)
    ranked = sorted(best.values(), key=lambda s: -s.accuracy)
    if not ranked:
        return []
    leader = ranked[0]
    return [ranked[0]] + [Standing(s.owner, s.run, s.accuracy, s.low, s.high, s.changed, s.high < leader.low)
                          for s in ranked[1:]]
