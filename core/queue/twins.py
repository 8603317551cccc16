"""The same job twice is trained once: a new job whose config and seed equal those of a run finished here (or
shipped) is answered by a copy of it at once; one equal to a job training now waits for it and is answered by a copy
of its run (core.storage.copies). A resume, a learning-rate test or a transfer from another run always trains."""

from __future__ import annotations

from pathlib import Path

from core.networks.config import ConfigError, TrainConfig, from_dict
from core.queue.jobs import Job
from core.queue.queue import Queue
from core.storage import runs
from core.storage.listing import list_runs


def can_have_twin(job: Job) -> bool:
    spec = job.spec
    return not (spec.resume or spec.lr_find or spec.config.start_from)


def _config_of(record_config: dict) -> TrainConfig | None:
    try:
        return from_dict(record_config)
    except (ConfigError, TypeError):
        return None


def finished_twin(job: Job, shipped_dir: Path | None) -> runs.Run | None:
    """A completed run here (or shipped) of exactly this job's config and seed, the newest."""
    for run in list_runs(job.spec.runs_dir, shipped_dir):
        if (run.status == "completed" and not run.problem and run.id != job.run_id and not run.record.get("imported")
                and _config_of(run.config) == job.spec.config):
            return run
    return None


def training_twin(job: Job, queue: Queue) -> Job | None:
    """The oldest other job training now of exactly this job's config and seed (not itself a copy in waiting)."""
    return next((other for other in queue.jobs(active_only=True)
                 if other.status == "running" and other.id != job.id and other.spec is not None
                 and can_have_twin(other) and other.spec.config == job.spec.config and other.id < job.id), None)
