"""The deployment's settings, read from the environment once and passed to whoever needs them.

    settings = Settings.from_env()          # the server and the CLI, at start
    Settings(runs_dir=tmp_path / "runs")    # a test

| variable | setting |
|---|---|
| `CLASSROOM_RUNS_DIR` | where user runs and the queue live (default `runs`) |
| `CLASSROOM_PRETRAINED_DIR` | the shipped runs (default the project's `pretrained/`) |
| `CLASSROOM_DATA_DIR` | a folder searched first for the datasets |
| `CLASSROOM_WORKERS` | training workers (default one per GPU, one per core on a CPU-only machine) |
| `CLASSROOM_RAY_ADDRESS` | `host:port` of a Ray cluster's head: queued jobs train there (docs/cluster.md); unset: local workers |
| `CLASSROOM_INSTRUCTOR_PASSWORD` | turns on sign-in: students with a name and PIN, the instructor with this password |
| `CLASSROOM_EPOCH_GATE` | a file that holds training back between epochs (core.training.gate): for tests; unset in a class |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from core.storage import runs


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    runs_dir: Path = field(default=runs.DEFAULT_RUNS_DIR)
    pretrained_dir: Path = field(default=runs.PRETRAINED_DIR)
    data_dir: str | None = None  # absolute: workers run from the project folder, whatever the server's
    workers: int | None = None  # None: one per GPU, else one per core (core.queue.worker.default_slots)
    ray_address: str | None = None  # None: local workers; else jobs go to this Ray cluster (core.queue.cluster)
    instructor_password: str | None = None  # set: a classroom with sign-in (core.classroom); unset: one person, no sign-in
    epoch_gate: Path | None = None  # the workers' epoch gate (core.training.gate); None: training is never held

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        def path(name, default):
            value = environ.get(name, "").strip()
            return Path(value) if value else default

        workers = environ.get("CLASSROOM_WORKERS", "").strip()
        if workers and not (workers.isdigit() and int(workers) >= 1):
            raise SettingsError(f"CLASSROOM_WORKERS={workers!r} is not a whole number of at least 1")
        data_dir = environ.get("CLASSROOM_DATA_DIR", "").strip()
        return cls(runs_dir=path("CLASSROOM_RUNS_DIR", runs.DEFAULT_RUNS_DIR),
                   pretrained_dir=path("CLASSROOM_PRETRAINED_DIR", runs.PRETRAINED_DIR),
                   data_dir=str(Path(data_dir).resolve()) if data_dir else None,
                   workers=int(workers) if workers else None,
                   ray_address=environ.get("CLASSROOM_RAY_ADDRESS", "").strip() or None,
                   instructor_password=environ.get("CLASSROOM_INSTRUCTOR_PASSWORD") or None,
                   epoch_gate=path("CLASSROOM_EPOCH_GATE", None))
