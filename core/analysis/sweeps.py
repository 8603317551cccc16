"""A sweep's results (core.queue.sweeps): test accuracy at each value of the one or two settings it tried, with
intervals, and whether each point really differs from the best (McNemar, as Compare says it of any two runs)."""

from __future__ import annotations

from dataclasses import dataclass

from core import formatting as fmt
from core.analysis.versus import Versus, versus
from core.storage import runs


@dataclass(frozen=True)
class SweepPoint:
    values: dict  # {setting: value} of this point
    accuracy: float
    low: float  # 95 % interval of the test accuracy
    high: float
    run: runs.Run
    versus_best: Versus | None  # the best point against this one; None for the best itself


def sweep_results(candidates: list[runs.Run], ticked: list[runs.Run] | None = None
                  ) -> tuple[list[str], list[SweepPoint]] | None:
    """(The swept settings, a point per run with results) of the sweep with the most such runs among `candidates`;
    None when no sweep has two. With `ticked`, only a sweep that one of those runs belongs to, drawn whole: all its
    runs among `candidates`, ticked or not (Compare ticks the two latest runs; the figure is of the whole sweep)."""
    wanted = None if ticked is None else {_sweep_id(r) for r in ticked} - {None}
    sweeps: dict[str, list[runs.Run]] = {}
    for r in candidates:
        sweep_id = _sweep_id(r)
        if sweep_id and (wanted is None or sweep_id in wanted) and r.has_results and not r.problem:
            sweeps.setdefault(sweep_id, []).append(r)
    members = max(sweeps.values(), key=len, default=[])
    points = []
    for r in members:
        m = r.headline()
        interval = fmt.accuracy_interval(m)
        if isinstance(m.get("test_accuracy"), (int, float)) and interval:
            points.append((r, float(m["test_accuracy"]), *interval))
    if len(points) < 2:
        return None
    best = max(points, key=lambda p: p[1])[0]
    fields = list(members[0].record["sweep"]["fields"])
    out = [SweepPoint(dict(r.record["sweep"]["values"]), accuracy, low, high, r, None if r is best else _versus(best, r))
           for r, accuracy, low, high in points]
    return fields, sorted(out, key=lambda p: p.run.record["sweep"]["index"])


def _sweep_id(run: runs.Run) -> str | None:
    sweep = run.record.get("sweep")
    return sweep["id"] if isinstance(sweep, dict) and isinstance(sweep.get("id"), str) else None


def _versus(best: runs.Run, run: runs.Run) -> Versus:
    try:
        return versus(best, run)
    except runs.RunError as e:
        return Versus(None, f"its predictions cannot be read ({e})")
