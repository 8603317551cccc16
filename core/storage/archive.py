"""Runs as zip files: exported for a teacher or another classroom, imported back as the importer's own run after
every check a file from elsewhere needs (paths, links, sizes, a sound record, a model that is data, not code)."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path

from core.networks.config import ConfigError, from_dict
from core.networks.modelfile import ModelFileError, check_model_file
from core.storage.listing import list_runs
from core.storage.ownership import Actor
from core.storage.runs import (
    DEFAULT_RUNS_DIR,
    MODEL_FILE,
    PROGRESS_FILE,
    REQUIRED_COMPLETED,
    RESULT_STATUSES,
    RUN_FILE,
    Run,
    RunError,
    check_run,
    clean_name,
    new_run_id,
    now_iso,
    read_json,
    read_run,
)
from core.system.files import write_json

MAX_IMPORT_BYTES = 200 * 1024 * 1024  # unpacked size of an imported run
MAX_IMPORT_FILES = 32


def export_filename(run: Run) -> str:
    """The zip's name: the run's name (a teacher collecting them tells whose is whose), then its id's end."""
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", run.name).strip(" ._") or "run"
    return f"{stem[:60]} ({run.id[-6:]}).zip"


def export_run(run: Run) -> bytes:
    """The run folder as a zip (files at the top level, progress file left out)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(run.path.iterdir()):
            if f.is_file() and not f.is_symlink() and not f.name.startswith(".") and f.name != PROGRESS_FILE:
                z.write(f, f.name)
    return buffer.getvalue()


def import_run(data: bytes, runs_dir=DEFAULT_RUNS_DIR, owner: str | None = None, actor: Actor | None = None) -> Run:
    """Unpack an exported run into runs_dir under a new id, as `owner`'s; reject anything unsafe or unsound.
    An imported run belongs to whoever imports it and to no assignment or seed group: what a zip says about
    whose it was, or which class board it counts on, is not believed."""
    if actor is not None and not actor.signed_in:
        raise RunError("sign in on the class page to import a run")

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, NotImplementedError, EOFError) as e:
        raise RunError(f"not a zip file ({e}); export a run from the Compare page to get one") from None
    if len(entries) > MAX_IMPORT_FILES:
        raise RunError(f"the zip holds {len(entries)} entries; a run has at most {MAX_IMPORT_FILES}")
    total = sum(e.file_size for e in entries)
    if total > MAX_IMPORT_BYTES:
        raise RunError(f"the zip unpacks to {total / 1e6:.0f} MB; the limit is {MAX_IMPORT_BYTES / 1e6:.0f} MB")
    for e in entries:
        name = e.filename
        if name in ("", ".") or name.startswith(("/", "\\")) or ".." in Path(name).parts or "\\" in name or ":" in name:
            raise RunError(f"the zip entry {name!r} points outside the run folder; refusing it")
        if stat.S_ISLNK(e.external_attr >> 16):
            raise RunError(f"the zip entry {name!r} is a symbolic link; refusing it")
        if "/" in name.rstrip("/") or e.is_dir():
            raise RunError(f"the zip entry {name!r} is inside a folder; a run zip holds files only at its top level")
    if RUN_FILE not in {e.filename for e in entries}:
        raise RunError(f"the zip has no {RUN_FILE}; it is not an exported run")
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=runs_dir, prefix=".import-"))
    try:
        for e in entries:
            try:
                with archive.open(e) as src:
                    content = src.read(MAX_IMPORT_BYTES + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as err:
                # a damaged or cut-off download, an encrypted entry, an unknown compression method
                raise RunError(f"the zip entry {e.filename!r} cannot be unpacked ({err}); the zip is corrupt") from None
            if len(content) != e.file_size:
                raise RunError(f"the zip entry {e.filename!r} is not the size it claims; the zip is corrupt")
            try:
                (staging / e.filename).write_bytes(content)
            except OSError as err:  # e.g. a name too long for the file system
                raise RunError(f"the zip entry {e.filename[:60]!r} cannot be written ({err.strerror})") from None
        problem = check_run(staging)
        if problem:
            raise RunError(f"the imported run is not sound: {problem.replace(str(staging), 'zip')}")
        if (staging / MODEL_FILE).exists():
            try:
                check_model_file(staging / MODEL_FILE)
            except ModelFileError as e:
                raise RunError(f"the imported run's model is refused: {e}") from None
        record = read_json(staging / RUN_FILE)
        if record["status"] not in RESULT_STATUSES:
            raise RunError(f"only runs with results can be imported: completed or stopped ones (this one is {record['status']})")
        if record.get("status") == "cancelled" and not all((staging / f).is_file() for f in REQUIRED_COMPLETED):
            raise RunError("the stopped run lacks its results files; export it again from the Compare page")
        original = (record.get("imported") or {}).get("original_id") or record["id"]
        for existing in list_runs(runs_dir, pretrained_dir=None):
            if original in (existing.id, (existing.record.get("imported") or {}).get("original_id")):
                raise RunError(f"this run is already here, as “{existing.name}”: it was not imported twice")
        try:
            from_dict(record["config"])
        except (ConfigError, TypeError) as e:
            raise RunError(f"the imported run's config is invalid: {e}") from None
        new_id = new_run_id()
        for claim in ("assignment", "group", "sweep"):
            record.pop(claim, None)
        record.update(id=new_id, name=clean_name(record["name"]), owner=owner,
                      imported={"at": now_iso(), "original_id": original})
        write_json(staging / RUN_FILE, record)
        os.replace(staging, runs_dir / new_id)
        return read_run(runs_dir / new_id)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
