"""Continuing a run: a cancelled, failed or killed run from its last checkpoint, or a finished one with a constant
learning rate extended to more epochs. The same run folder, with one more segment in its run.json."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from core.networks.config import ConfigError, TrainConfig, from_dict
from core.storage import runs
from core.system.files import write_csv
from core.training import checkpoint, fast
from core.training.callbacks import Listener
from core.training.device import environment
from core.training.trainer import Pace, Steps, drive, segment_steps


class ResumeError(runs.RunError):
    """A run cannot be continued; the message says why and what to do."""


def epochs_can_change(config: TrainConfig | dict) -> bool:
    """Whether a run may be trained to another number of epochs than it was planned for: only at a constant learning
    rate (a schedule is planned for its epochs)."""
    schedule = config.get("schedule") if isinstance(config, dict) else config.schedule
    return schedule == "constant"


def plan_resume(run_dir, epochs: int | None = None) -> tuple[TrainConfig, checkpoint.Checkpoint]:
    """Check that a run can be continued (to `epochs` in all, default its config's), changing nothing.
    Returns the config to continue with and the verified checkpoint."""
    path = Path(run_dir)
    if not (path / runs.RUN_FILE).is_file():
        raise ResumeError(f"{path} is not a run folder (it has no {runs.RUN_FILE}); `python -m core runs` lists the runs")
    run = runs.read_run(path)
    if run.problem:
        raise ResumeError(f"run {path.name} is broken ({run.problem}); it cannot be resumed")
    version = run.record.get("schema_version")
    if version != runs.SCHEMA_VERSION:
        raise ResumeError(f"run {path.name} has run format {version!r}; this version resumes format {runs.SCHEMA_VERSION} only")
    if run.status == "running":
        pid = (run.record.get("worker") or {}).get("pid")
        raise ResumeError(f"run {run.name!r} is still training (process {pid}); stop it before resuming it")
    try:
        config = from_dict(run.config)
    except (ConfigError, TypeError) as e:
        raise ResumeError(f"run {path.name} has an invalid config ({e}); it cannot be resumed") from None
    target = config.epochs if epochs is None else epochs
    if run.status == "completed" and epochs is None:
        raise ResumeError(f"run {run.name!r} is complete ({config.epochs} epochs); pass --epochs N (more than "
                          f"{config.epochs}) to train it further")
    if target != config.epochs and not epochs_can_change(config):
        raise ResumeError(f"run {run.name!r} cannot change its number of epochs: its {config.schedule} learning-rate "
                          f"schedule was planned for {config.epochs} epochs (only a constant rate can be extended)")
    try:
        saved = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        raise ResumeError(f"run {run.name!r} cannot be resumed: {e}") from None
    # A run killed after its last epoch's checkpoint, before its results were saved, resumes to evaluate and save.
    if target < saved.epoch or (target == saved.epoch and run.has_results):
        raise ResumeError(f"--epochs {target} is not more than the {saved.epoch} epochs run {run.name!r} has done")
    try:
        config = config.replace(epochs=target)
    except ConfigError as e:
        raise ResumeError(str(e)) from None
    return config, saved


def resume(run_dir, **options) -> Path:
    """Continue a run from its last checkpoint (resuming_steps' options, run to the end)."""
    return drive(resuming_steps(run_dir, **options))


def resuming_steps(run_dir, *, epochs: int | None = None, data_dir=None, dataset=None,
                   listener: Listener | None = None, should_stop: Callable[[], bool] = lambda: False,
                   engine: str | None = None, pace: Pace = Pace()) -> Steps:
    """Continue a cancelled, failed or killed run (or extend a finished one, constant learning rate only)
    from its last checkpoint, in the same folder, a step at a time: the same run, with one more segment in run.json."""
    config, saved = plan_resume(run_dir, epochs)
    engine = fast.resolve_engine(engine)
    env = environment()
    run_dir = Path(run_dir)
    record = runs.read_run(run_dir).record
    segments = runs.close_killed_segments(record, runs.open_live(run_dir).progress().get("updated"),
                                          record.get("error") or "the training process stopped")
    runs.update_record(run_dir, status="running", finished=None, error=None, traceback=None, config=config.to_dict(),
                       worker={"host": socket.gethostname(), "pid": os.getpid()}, epochs_trained=saved.epoch, segments=segments,
                       **runs.preset_differences(record.get("preset"), config.to_dict()))
    write_csv(run_dir / runs.HISTORY_FILE, pd.DataFrame(saved.history, columns=runs.HISTORY_COLUMNS))
    return (yield from segment_steps(run_dir, config, saved, engine, env, data_dir, dataset, listener, should_stop, pace))
