"""Many runs at once: the shipped ones and this classroom's, newest first, read fast enough for every page view."""

from __future__ import annotations

from pathlib import Path

from core.storage.runs import DEFAULT_RUNS_DIR, METRICS_FILE, PRETRAINED_DIR, RESULT_STATUSES, RUN_FILE, Run, RunError, read_run
from core.system.memo import FileMemo, mtimes

_SETTLED = FileMemo(limit=20_000)  # list_runs' finished runs


def _stamps(path: Path) -> tuple:
    """Changes whenever a run's record or metrics change or a file is added to or removed from its folder."""
    return mtimes(path, path / RUN_FILE, path / METRICS_FILE)


def _read_listed(path: Path, shipped: bool) -> Run:
    """read_run, reusing the last reading of a run that has finished and not changed since: a class's hundreds
    of runs are listed on every page view. A running run is always read again (its worker may have died)."""
    return _SETTLED.get((path, shipped), _stamps(path), lambda: read_run(path, shipped),
                        keep=lambda run: run.record.get("status") in RESULT_STATUSES + ("failed",))


def list_runs(runs_dir=DEFAULT_RUNS_DIR, pretrained_dir=PRETRAINED_DIR) -> list[Run]:
    """Shipped runs and one's own, newest first; broken folders are listed with their problem."""
    runs = []
    for folder, shipped in ((pretrained_dir, True), (runs_dir, False)):
        if folder is None or not Path(folder).is_dir():
            continue
        for child in Path(folder).iterdir():
            if child.is_dir() and not child.name.startswith(".") and not child.is_symlink():
                runs.append(_read_listed(child, shipped))
    return sorted(runs, key=lambda r: (str(r.record.get("created", "")), r.id), reverse=True)


def find_run(run_id: str, runs_dir=DEFAULT_RUNS_DIR, pretrained_dir=PRETRAINED_DIR) -> Run:
    for folder, shipped in ((Path(runs_dir), False), (Path(pretrained_dir), True)):
        path = folder / run_id
        if _safe_child(run_id) and path.is_dir():
            return read_run(path, shipped)
    raise RunError(f"no run with id {run_id!r}")


def _safe_child(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..") and not name.startswith(".")
