"""The class board: each student's best finished run for an assignment, ranked, with what they changed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.analysis.versus import Versus, versus
from core.classroom.assignments import Assignment
from core.classroom.rules import Rules
from core.storage.runs import Run, RunError


@dataclass(frozen=True)
class Standing:
    owner: str
    run: Run
    accuracy: float
    low: float  # 95 % interval of the test accuracy
    high: float
    changed: dict  # {field: [start's, run's]}: what this run changed from where the assignment starts everyone
    versus_leader: Versus | None = None  # the leader against this run (core.analysis.versus); None for the leader


def leaderboard(candidates: list[Run], assignment: Assignment, class_rules: Rules | None = None) -> list[Standing]:
    """Each student's best finished run for the assignment, best first, each held against the leader's by the rule
    Compare uses too (McNemar's test on the test images both were scored on). What each changed is counted from the
    assignment's start under `class_rules` (its epoch budget is not a change a student made)."""
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
        changed = assignment.changes(r.config, class_rules)
        if owner not in best or m["test_accuracy"] > best[owner].accuracy:
            best[owner] = Standing(owner, r, m["test_accuracy"], low, high, changed)
    ranked = sorted(best.values(), key=lambda s: (-s.accuracy, s.owner.lower()))
    if not ranked:
        return []
    leader = ranked[0]
    return [leader] + [dataclasses.replace(s, versus_leader=_against(leader.run, s.run)) for s in ranked[1:]]


def _against(leader: Run, run: Run) -> Versus:
    try:
        return versus(leader, run)
    except RunError as e:
        return Versus(None, f"its predictions cannot be read ({e})")
