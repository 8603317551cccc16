"""A run copied as another's own: the same job asked twice is trained once (a class told "everyone try dropout 0.5"),
and each student still gets a run folder of their own, marked as a copy of which run."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from core.storage.runs import (
    PROGRESS_FILE,
    RUN_FILE,
    Run,
    RunLabels,
    clean_name,
    now_iso,
    preset_differences,
    read_json,
)
from core.system.files import write_json

LEFT_BEHIND = ("checkpoint", PROGRESS_FILE)  # a copy continues nothing: its source's checkpoint stays with it


def copy_run(source: Run, runs_dir, run_id: str, labels: RunLabels) -> Path:
    """`source` (finished) as the run `run_id` of `labels`' owner: its files linked (or copied across file systems),
    its record made anew, with `copied_from` naming the run that trained (the source, or what the source is a copy
    of). Written in a staging folder, then moved into place."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=runs_dir, prefix=".copy-"))
    try:
        for f in source.path.iterdir():
            if f.is_file() and f.name not in LEFT_BEHIND and f.name != RUN_FILE and not f.name.startswith("."):
                try:
                    os.link(f, staging / f.name)  # files are replaced, never changed in place: a link is a copy
                except OSError:
                    shutil.copy2(f, staging / f.name)
        record = read_json(source.path / RUN_FILE)
        record.update(id=run_id, name=clean_name(labels.name), owner=labels.owner, group=labels.group,
                      assignment=labels.assignment, sweep=labels.sweep, preset=labels.preset, created=now_iso(),
                      copied_from=source.record.get("copied_from") or {"id": source.id, "name": source.name,
                                                                        "owner": source.record.get("owner")},
                      **preset_differences(labels.preset, record["config"]))
        record.pop("imported", None)
        write_json(staging / RUN_FILE, record)
        target = runs_dir / run_id
        if target.exists():  # the waiting record a follower showed meanwhile
            shutil.rmtree(target)
        os.replace(staging, target)
        return target
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
