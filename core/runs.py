"""Run folders on disk: create, write atomically, list, read, rename, delete, export, import.

A run is one folder (schema in docs/run-format.md). Every file is written to a temporary name and
moved into place with os.replace, and run.json says "completed" only after everything else is
written: a run killed part-way is never listed as completed, and a completed run is never
half-overwritten. No Keras here: the dashboard lists and reads runs without TensorFlow.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import secrets
import shutil
import socket
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.npz"
MISCLASSIFIED_FILE = "misclassified.npz"
MODEL_FILE = "model.keras"
PER_CLASS_METRICS = ("confusion", "per_class")  # the bulk of metrics.json: 100x100 counts for CIFAR-100
PROGRESS_FILE = "progress.json"
PREDICTION_FIELDS = ("y_true", "y_pred", "confidence", "p_true", "loss")  # core.evaluation.per_example's
REQUIRED_COMPLETED = (RUN_FILE, HISTORY_FILE, METRICS_FILE, PREDICTIONS_FILE, MISCLASSIFIED_FILE)
STATUSES = ("running", "completed", "cancelled", "failed")
RESULT_STATUSES = ("completed", "cancelled")
DEFAULT_RUNS_DIR = Path("runs")  # relative to where the server or CLI starts; core.settings reads the environment
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
MAX_NAME_LENGTH = 80
MAX_IMPORT_BYTES = 200 * 1024 * 1024  # unpacked size of an imported run
MAX_IMPORT_FILES = 32
RUN_ID_PATTERN = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


class RunError(Exception):
    """A run cannot be read, changed or imported; the message says why and what to do."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


# --- atomic writes -------------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, default=_json_default).encode())


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def write_npz(path: Path, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    write_atomic(path, frame.to_csv(index=False).encode())


# --- names ---------------------------------------------------------------------------------------

def clean_name(name: str) -> str:
    """A display name: printable, no path characters, at most MAX_NAME_LENGTH characters."""
    if not isinstance(name, str) or not name.strip():
        raise RunError("a run name cannot be empty")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise RunError(f"a run name can have at most {MAX_NAME_LENGTH} characters (this one has {len(name)})")
    bad = sorted({c for c in name if c in "/\\" or not c.isprintable()})
    if bad:
        raise RunError(f"a run name cannot contain {' '.join(repr(c) for c in bad)}; a name is a label, not a path")
    if name in (".", ".."):
        raise RunError("a run name cannot be '.' or '..'")
    return name


# --- reading -------------------------------------------------------------------------------------

@dataclass
class Run:
    """A run folder as listed: its record plus where it lives and whether it may be changed."""

    path: Path
    record: dict
    shipped: bool
    problem: str | None = None  # why the folder is listed as broken

    @property
    def id(self) -> str:  # the folder's name where a broken record lacks a usable one
        value = self.record.get("id")
        return value if isinstance(value, str) else self.path.name

    @property
    def name(self) -> str:
        value = self.record.get("name")
        return value if isinstance(value, str) else self.path.name

    @property
    def status(self) -> str:
        return "broken" if self.problem else self.record.get("status", "broken")

    @property
    def config(self) -> dict:
        return self.record.get("config", {})

    @property
    def has_results(self) -> bool:
        """Trained and tested: completed, or stopped early and tested as it was (cancelled)."""
        return self.status in RESULT_STATUSES

    def metrics(self) -> dict:
        return _read_json(self.path / METRICS_FILE)

    def headline(self) -> dict:
        """The metrics without the per-class tables: what a table of many runs needs (a hundredth of the size)."""
        return {k: v for k, v in self.metrics().items() if k not in PER_CLASS_METRICS}

    def history(self) -> pd.DataFrame:
        path = self.path / HISTORY_FILE
        if not path.is_file():
            return pd.DataFrame(columns=["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"])
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise RunError(f"{path}: unreadable history ({e})") from None

    def predictions(self) -> dict[str, np.ndarray]:
        return self._per_example(PREDICTIONS_FILE, PREDICTION_FIELDS)

    def misclassified(self) -> dict[str, np.ndarray]:
        return self._per_example(MISCLASSIFIED_FILE, ("index", "image", *PREDICTION_FIELDS))

    def _per_example(self, name: str, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
        """One of the per-example files, checked: every field there, one value per example, and classes that
        exist (an imported run's files can hold anything, and the pages index class names with them)."""
        arrays = _read_npz(self.path / name)
        if problem := _per_example_problem(arrays, fields, self.record.get("dataset")):
            raise RunError(f"{name} {problem}: this run's per-image results cannot be used")
        return arrays

    def progress(self) -> dict:
        try:
            return _read_json(self.path / PROGRESS_FILE)
        except RunError:
            return {}


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: nested too deeply for the parser
        raise RunError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise RunError(f"{path}: expected a JSON object")
    return value


def _per_example_problem(arrays: dict[str, np.ndarray], fields: tuple[str, ...], dataset) -> str | None:
    from core.datasets import DATASET_INFO

    if missing := [f for f in fields if f not in arrays]:
        return f"lacks {', '.join(missing)}"
    if len({arrays[f].shape[:1] for f in fields}) != 1 or arrays[fields[0]].ndim == 0:
        return "holds arrays of different lengths"
    info = DATASET_INFO.get(dataset)
    classes = len(info.class_names) if info else None
    for f in ("y_true", "y_pred"):
        values = arrays[f]
        if values.dtype.kind not in "iu" or (classes and values.size and not (0 <= values.min() and values.max() < classes)):
            return f"has {f} values that are not class numbers"
    return None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)  # never unpickle what a run folder holds
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with loaded as npz:
            return {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except Exception as e:  # a damaged archive fails in many ways (BadZipFile, zlib.error, NotImplementedError, ...)
        raise RunError(f"{path}: unreadable ({e})") from None


def pid_alive(pid: int | None) -> bool:
    """Whether a process on this machine still runs (a zombie, killed but not yet reaped, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _worker_gone(record: dict) -> bool:
    """A 'running' record whose training process, on this machine, no longer exists."""
    worker = record.get("worker") or {}
    return worker.get("host") == socket.gethostname() and isinstance(worker.get("pid"), int) and not pid_alive(worker["pid"])


def check_run(path: Path) -> str | None:
    """None if the folder is a sound run, else what is wrong with it."""
    try:
        record = _read_json(path / RUN_FILE)
    except RunError as e:
        return str(e)
    for key in ("id", "name", "status", "config", "created"):
        if key not in record:
            return f"{path / RUN_FILE} lacks '{key}'"
    for key in ("id", "name", "status", "created"):
        if not isinstance(record[key], str):
            return f"{path / RUN_FILE}: '{key}' is not text"
    if not isinstance(record["config"], dict):
        return f"{path / RUN_FILE}: 'config' is not an object"
    if not isinstance(record.get("worker") or {}, dict):  # a running run is checked through it
        return f"{path / RUN_FILE}: 'worker' is not an object"
    if record["status"] not in STATUSES:
        return f"{path / RUN_FILE}: unknown status {record['status']!r}"
    if record["status"] == "completed":
        missing = [f for f in REQUIRED_COMPLETED if not (path / f).is_file()]
        if missing:
            return f"completed run lacks {', '.join(missing)}"
        try:
            metrics = _read_json(path / METRICS_FILE)
        except RunError as e:
            return str(e)
        if not isinstance(metrics.get("test_accuracy"), (int, float)):
            return f"{path / METRICS_FILE} lacks test_accuracy"
        interval = metrics.get("test_error_ci95")
        if not (isinstance(interval, list) and len(interval) == 2 and all(isinstance(x, (int, float)) for x in interval)):
            return f"{path / METRICS_FILE} lacks test_error_ci95, the [low, high] interval of the test error"
    return None


def read_run(path: Path, shipped: bool = False) -> Run:
    path = Path(path)
    problem = check_run(path)
    record = {}
    if problem is None or (path / RUN_FILE).is_file():
        try:
            record = _read_json(path / RUN_FILE)
        except RunError:
            record = {}
    if problem is None and record.get("status") == "running" and _worker_gone(record):
        # Killed mid-training: say so instead of showing it as running forever.
        record = {
            **record,
            "status": "failed",
            "error": record.get("error") or "training process stopped before the run finished",
        }
    return Run(path, record, shipped, problem)


def open_live(path) -> Run:
    """A run that is training, read without the completeness checks (its files appear one by one)."""
    path = Path(path)
    try:
        record = _read_json(path / RUN_FILE)
    except RunError:
        record = {}
    return Run(path, record, False)


class FileMemo:
    """Values computed from files, kept in this process while the files are unchanged (`stamps`, from mtimes, say
    when). Bounded: at `limit` keys it starts afresh, so that the entries of deleted runs do not pile up."""

    def __init__(self, limit: int):
        self.limit, self._held = limit, {}

    def get(self, key, stamps: tuple, compute: Callable[[], Any], keep: Callable[[Any], bool] = lambda value: True):
        """The value kept for `key` if its stamps are `stamps`, else compute() (kept if keep(value))."""
        held = self._held.get(key)
        if held is not None and held[0] == stamps:
            return held[1]
        value = compute()
        if keep(value):
            if len(self._held) >= self.limit and key not in self._held:
                self._held.clear()
            self._held[key] = (stamps, value)
        return value


_SETTLED = FileMemo(limit=20_000)  # list_runs' finished runs


def mtimes(*paths: Path) -> tuple:
    """The files' modification times (None for a missing one): a cache key that changes when any of them does."""
    out = []
    for p in paths:
        try:
            out.append(p.stat().st_mtime_ns)
        except OSError:
            out.append(None)
    return tuple(out)


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


# --- creating and updating (the trainer's side) ---------------------------------------------------

def create_run(runs_dir, config: dict, name: str, preset: str | None, environment: dict, run_id: str | None = None,
               owner: str | None = None) -> Path:
    """Make the run folder with a 'running' record; returns its path."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    name = clean_name(name)
    run_id = run_id or new_run_id()
    if not RUN_ID_PATTERN.match(run_id):
        raise RunError(f"bad run id {run_id!r}")
    path = runs_dir / run_id
    path.mkdir()
    record = {
        "schema_version": SCHEMA_VERSION,
        "id": run_id,
        "name": name,
        "status": "running",
        "created": now_iso(),
        "finished": None,
        "dataset": config["dataset"],
        "architecture": config["architecture"],
        "preset": preset,
        "config": config,
        "environment": environment,
        "worker": {"host": socket.gethostname(), "pid": os.getpid()},
        "durations": {},
        "error": None,
        "owner": owner,  # who may change it (core.classroom): a signed-in name, or this browser's id
    }
    write_json(path / RUN_FILE, record)
    return path


def write_results(run_dir, predictions: dict[str, np.ndarray], test_images: np.ndarray, class_names, history: list[dict],
                  test_loss: float) -> dict:
    """The end files of a tested run: predictions.npz, misclassified.npz (the mistakes worth showing, with
    their images) and metrics.json. `predictions` is core.evaluation.per_example's. Returns the metrics."""
    from core import evaluation

    keep = evaluation.select_mistakes(predictions)
    write_npz(Path(run_dir) / PREDICTIONS_FILE, **predictions)
    write_npz(Path(run_dir) / MISCLASSIFIED_FILE, index=keep.astype(np.int32), image=np.asarray(test_images)[keep],
              **{k: v[keep] for k, v in predictions.items()})
    metrics = {"test_loss": float(test_loss), **evaluation.summarize(predictions, class_names),
               **evaluation.history_summary(history)}
    write_json(Path(run_dir) / METRICS_FILE, metrics)
    return metrics


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on a folder (flock on the folder itself: no lock file to travel with a run) for a
    read-modify-write that two processes may do at once: the trainer ending a run while its owner renames it;
    two students signing in."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


# What a run's owner may change while it trains: all that rename_run and annotate_run write (through _edit).
EDITABLE_FIELDS = ("name", "notes", "tags")


def write_relayed_record(run_dir: Path, data: bytes) -> None:
    """A run.json written by a trainer on another machine (core.cluster), in place of this copy, under the folder's
    lock, keeping what the owner changed here meanwhile: a rename while a Ray node trains is not undone. A record
    that is not a JSON object is written as it came, so that the run reads as broken, as any damaged record does."""
    try:
        record = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply for the parser
        record = None
    with folder_lock(run_dir):
        if not isinstance(record, dict):
            write_atomic(run_dir / RUN_FILE, data)
            return
        try:
            here = _read_json(run_dir / RUN_FILE)
        except RunError:  # none yet (a new run's first relay), or damaged: the trainer's record stands
            here = {}
        write_json(run_dir / RUN_FILE, {**record, **{k: here[k] for k in EDITABLE_FIELDS if k in here}})


def close_killed_segments(record: dict, last_seen, error: str) -> list:
    """run.json's segments with any left "running" (its process was killed) marked failed with `error`. The last is
    timed up to `last_seen`, progress.json's time.time() stamp: a segment's time is otherwise only written at each
    epoch's checkpoint, so a sitting killed mid-epoch would lose the time it ran."""
    segments = record.get("segments") if isinstance(record.get("segments"), list) else []
    closed = []
    for position, segment in enumerate(segments):
        if isinstance(segment, dict) and segment.get("status") == "running":
            segment = {**segment, "status": "failed", "error": error}
            if position == len(segments) - 1:
                segment["seconds"] = _seconds_until(segment, last_seen)
        closed.append(segment)
    return closed


def _seconds_until(segment: dict, last_seen) -> float:
    """From the segment's start to `last_seen` (at most now), never less than the time it had recorded."""
    try:
        recorded = max(0.0, float(segment.get("seconds") or 0.0))
    except (TypeError, ValueError):
        recorded = 0.0
    try:
        ran = min(float(last_seen), time.time()) - datetime.fromisoformat(segment["started"]).timestamp()
    except (KeyError, TypeError, ValueError):  # no start or no sign of life on record
        return recorded
    return max(recorded, ran)


def update_record(path: Path, **changes) -> dict:
    """Change fields of run.json, under the run folder's lock, so that no other process's change in between is lost."""
    path = Path(path)
    with folder_lock(path):
        record = {**_read_json(path / RUN_FILE), **changes}
        write_json(path / RUN_FILE, record)
    return record


# --- the user's side: rename, delete, export, import -----------------------------------------------


def _own(run: Run, actor=None) -> None:
    """May `actor` (a core.classroom.Identity; None without sign-in) change this run? Shipped runs: nobody."""
    from core.classroom import may_change

    if run.shipped:
        raise RunError(
            f"run {run.name!r} is shipped with the dashboard and cannot be changed; export it and import the copy to edit it"
        )
    if not may_change(actor, run.record):
        raise RunError(f"run {run.name!r} is {run.record.get('owner') or 'someone else'}'s: only its owner and the instructor "
                       "can change it")


def _edit(run: Run, actor, changes: Callable[[], dict]) -> None:
    """Write an owner's change to a run's record: only EDITABLE_FIELDS, which a relay from a Ray node keeps. Who may
    is checked before `changes` checks the input, so that someone else's run is refused whatever they typed."""
    _own(run, actor)
    if run.problem:
        raise RunError(f"run folder {run.path.name} is broken ({run.problem}); delete it instead")
    fields = changes()
    if not set(fields) <= set(EDITABLE_FIELDS):
        raise TypeError(f"not an owner's field: {sorted(set(fields) - set(EDITABLE_FIELDS))}")
    update_record(run.path, **fields)


def rename_run(run: Run, new_name: str, actor=None) -> None:
    _edit(run, actor, lambda: {"name": clean_name(new_name)})


MAX_NOTES_LENGTH, MAX_TAGS, MAX_TAG_LENGTH = 2000, 10, 30


def clean_tags(text_or_list) -> list[str]:
    """Tags from "dropout, baseline" or a list: trimmed, lower-case, unique, in order; refused if too many or too long."""
    items = text_or_list.split(",") if isinstance(text_or_list, str) else list(text_or_list or [])
    tags = list(dict.fromkeys(t.strip().lower() for t in items if isinstance(t, str) and t.strip()))
    if len(tags) > MAX_TAGS:
        raise RunError(f"a run can have at most {MAX_TAGS} tags (these are {len(tags)})")
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH or not tag.isprintable():
            raise RunError(f"the tag {tag[:40]!r} is not allowed: tags are printable and at most {MAX_TAG_LENGTH} characters")
    return tags


def annotate_run(run: Run, notes: str | None = None, tags=None, actor=None) -> None:
    """Set a run's notes and tags (one's own runs only); None leaves that part as it is."""
    def cleaned() -> dict:
        changes = {}
        if notes is not None:
            if not isinstance(notes, str) or len(notes) > MAX_NOTES_LENGTH:
                raise RunError(f"notes are text of at most {MAX_NOTES_LENGTH} characters")
            changes["notes"] = notes.strip()
        if tags is not None:
            changes["tags"] = clean_tags(tags)
        return changes

    _edit(run, actor, cleaned)


def delete_run(run: Run, actor=None) -> None:
    _own(run, actor)
    if run.status == "running":
        raise RunError(f"run {run.name!r} is still training; cancel it first")
    # Move aside first so a half-deleted folder never shows up as a run.
    trash = run.path.parent / f".deleting-{run.path.name}-{secrets.token_hex(2)}"
    os.replace(run.path, trash)
    shutil.rmtree(trash, ignore_errors=True)


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


def import_run(data: bytes, runs_dir=DEFAULT_RUNS_DIR, owner: str | None = None, actor=None) -> Run:
    """Unpack an exported run into runs_dir under a new id, as `owner`'s; reject anything unsafe or unsound.
    An imported run belongs to whoever imports it and to no assignment or seed group: what a zip says about
    whose it was, or which class board it counts on, is not believed."""
    from core.classroom import VISITOR
    from core.config import ConfigError, from_dict
    from core.modelfile import ModelFileError, check_model_file

    if actor == VISITOR:
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
        record = _read_json(staging / RUN_FILE)
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
        for claim in ("assignment", "group"):
            record.pop(claim, None)
        record.update(id=new_id, name=clean_name(record["name"]), owner=owner,
                      imported={"at": now_iso(), "original_id": original})
        write_json(staging / RUN_FILE, record)
        os.replace(staging, runs_dir / new_id)
        return read_run(runs_dir / new_id)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
