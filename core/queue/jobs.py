"""Jobs: what a worker anywhere needs to fill one run folder (config in, run folder out), as plain JSON.

A JobSpec is what the pages and the CLI submit to the queue (core.queue.queue) and what `core.queue.worker.run_job`
turns into a run folder, on this machine or a Ray node. A Job is a row of the queue around one. No Keras here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from core.networks.config import ConfigError, TrainConfig, from_dict
from core.storage import runs

ACTIVE = ("queued", "running")
MAX_ATTEMPTS = 3  # a job whose worker dies is resumed by the next worker this many times in all, then failed
MAX_SEEDS = 10

@dataclass(frozen=True)
class JobSpec:
    """What a worker anywhere needs to fill one run folder; plain JSON both ways (to_dict, from_dict)."""

    config: TrainConfig
    name: str
    run_id: str
    runs_dir: str
    preset: str | None = None
    data_dir: str | None = None
    resume: bool = False  # continue the existing run `run_id` from its checkpoint
    epochs: int | None = None  # with resume: train until this many epochs in all
    group: dict | None = None  # one of several seeds of the same settings (see seed_group)
    owner: str | None = None  # recorded in the run (who may change it)
    assignment: str | None = None  # the assignment it answers (core.classroom), recorded in the run
    lr_find: bool = False  # a learning-rate range test (core.training.lr_finder) instead of a run: its result is a file
    sweep: dict | None = None  # one point of a sweep of one or two settings (core.queue.sweeps)

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.run_id

    @property
    def labels(self) -> runs.RunLabels:
        """What the run's record will say it is and whose."""
        return runs.RunLabels(self.name, self.preset, self.group, self.owner, self.assignment, self.sweep)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> "JobSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in values.items() if k in known}, "config": from_dict(values["config"])})


@dataclass(frozen=True)
class Job:
    """A row of the queue. `spec` is None only for a job whose stored spec this version cannot read
    (`problem` says why); the queue fails such a job instead of running it."""

    id: int
    owner: str
    status: str
    run_id: str
    spec: JobSpec | None
    cancel_requested: bool = False
    attempts: int = 0
    worker_host: str | None = None
    worker_pid: int | None = None
    error: str | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    problem: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def name(self) -> str:
        return self.spec.name if self.spec else self.run_id

    @property
    def run_dir(self) -> Path | None:
        return self.spec.run_dir if self.spec else None


def job_error(error: Exception) -> str:
    """Why a job failed, for the queue: a run's own message as it is, anything else with its kind."""
    return str(error) if isinstance(error, runs.RunError) else f"{type(error).__name__}: {error}"


def make_job(config: TrainConfig, runs_dir, *, name: str, preset: str | None = None, data_dir=None) -> JobSpec:
    """A job that trains `config` into a new run folder."""
    return JobSpec(config, runs.clean_name(name), runs.new_run_id(), str(Path(runs_dir).resolve()), preset,
                   str(data_dir) if data_dir else None)


def seed_group(config: TrainConfig, seeds: int) -> list[tuple[TrainConfig, dict]]:
    """The same settings with `seeds` consecutive seeds (from the config's), each with the group record that ties
    the runs together for Compare: {"id", "seeds", "index"}."""
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"seeds = {seeds} is out of range: repeat a run with 1 to {MAX_SEEDS} seeds")
    group_id = "g-" + runs.new_run_id()
    return [(config.replace(seed=config.seed + i), {"id": group_id, "seeds": seeds, "index": i}) for i in range(seeds)]


def make_seed_jobs(config: TrainConfig, runs_dir, *, name: str, seeds: int, preset: str | None = None,
                   data_dir=None) -> list[JobSpec]:
    """One job per seed ("name · seed 3"); a single seed is a plain job."""
    if seeds == 1:
        return [make_job(config, runs_dir, name=name, preset=preset, data_dir=data_dir)]
    return [dataclasses.replace(make_job(c, runs_dir, name=seeded_name(name, c.seed), preset=preset, data_dir=data_dir),
                                group=group) for c, group in seed_group(config, seeds)]


SEED_SUFFIX = " · seed "


def seeded_name(name: str, seed: int) -> str:
    """ "dropout 0.5 · seed 3": one run of a seed group."""
    suffix = f"{SEED_SUFFIX}{seed}"
    return runs.clean_name(name[: runs.MAX_NAME_LENGTH - len(suffix)].rstrip() + suffix)


def unseeded_name(name: str) -> str:
    """The group's name from one of its runs' names ("dropout 0.5" from "dropout 0.5 · seed 3")."""
    return name.rsplit(SEED_SUFFIX, 1)[0]


def lr_find_file(runs_dir, run_id: str) -> Path:
    """Where a learning-rate range test job writes its result (JSON)."""
    return Path(runs_dir) / ".lrfind" / f"{run_id}.json"


def make_lr_find_job(config: TrainConfig, runs_dir, *, data_dir=None) -> JobSpec:
    return JobSpec(config, "learning-rate finder", runs.new_run_id(), str(Path(runs_dir).resolve()),
                   data_dir=str(data_dir) if data_dir else None, lr_find=True)


def make_resume_job(run: runs.Run, *, epochs: int | None = None, data_dir=None) -> JobSpec:
    """A job that continues an existing run from its checkpoint (to `epochs` in all, default its own)."""
    config = from_dict({**run.config, "epochs": epochs or run.config["epochs"]})
    return JobSpec(config, run.name, run.id, str(run.path.parent.resolve()), run.record.get("preset"),
                   str(data_dir) if data_dir else None, resume=True, epochs=epochs, group=run.record.get("group"))


