"""Run folders on disk: the record and files of one run, created, read, checked and updated.

A run is one folder (schema in docs/run-format.md). Every file is written atomically (core.system.files), and
run.json says "completed" only after everything else is written: a run killed part-way is never listed as
completed, and a completed run is never half-overwritten. No Keras here: the dashboard reads runs without
TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.datasets import DATASET_INFO
from core.networks.presets import differences_from
from core.system.files import write_atomic, write_json
from core.system.locks import folder_lock
from core.system.processes import pid_alive

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
HISTORY_FILE = "history.csv"
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.npz"
MISCLASSIFIED_FILE = "misclassified.npz"
MODEL_FILE = "model.keras"
PER_CLASS_METRICS = ("confusion", "per_class")  # the bulk of metrics.json: 100x100 counts for CIFAR-100
PROGRESS_FILE = "progress.json"
PREDICTION_FIELDS = ("y_true", "y_pred", "confidence", "p_true", "loss")  # core.metrics.evaluation.per_example's
REQUIRED_COMPLETED = (RUN_FILE, HISTORY_FILE, METRICS_FILE, PREDICTIONS_FILE, MISCLASSIFIED_FILE)
STATUSES = ("running", "completed", "cancelled", "failed")
RESULT_STATUSES = ("completed", "cancelled")
DEFAULT_RUNS_DIR = Path("runs")  # relative to where the server or CLI starts; core.settings reads the environment
PRETRAINED_DIR = Path(__file__).resolve().parent.parent.parent / "pretrained"
MAX_NAME_LENGTH = 80
RUN_ID_PATTERN = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


class RunError(Exception):
    """A run cannot be read, changed or imported; the message says why and what to do."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


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

    @property
    def has_model(self) -> bool:
        """Its trained network is here (shipped curve runs keep only their results, docs/presets.md)."""
        return (self.path / MODEL_FILE).is_file()

    def metrics(self) -> dict:
        return read_json(self.path / METRICS_FILE)

    def headline(self) -> dict:
        """The metrics without the per-class tables: what a table of many runs needs (a hundredth of the size)."""
        return {k: v for k, v in self.metrics().items() if k not in PER_CLASS_METRICS}

    def history(self) -> pd.DataFrame:
        path = self.path / HISTORY_FILE
        if not path.is_file():
            return pd.DataFrame(columns=HISTORY_COLUMNS)
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
            return read_json(self.path / PROGRESS_FILE)
        except RunError:
            return {}


def read_json(path: Path) -> dict:
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


def _worker_gone(record: dict) -> bool:
    """A 'running' record whose training process, on this machine, no longer exists."""
    worker = record.get("worker") or {}
    return worker.get("host") == socket.gethostname() and isinstance(worker.get("pid"), int) and not pid_alive(worker["pid"])


def check_run(path: Path) -> str | None:
    """None if the folder is a sound run, else what is wrong with it."""
    try:
        record = read_json(path / RUN_FILE)
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
            metrics = read_json(path / METRICS_FILE)
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
            record = read_json(path / RUN_FILE)
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
        record = read_json(path / RUN_FILE)
    except RunError:
        record = {}
    return Run(path, record, False)


# --- creating and updating (the trainer's side) ---------------------------------------------------

@dataclass(frozen=True)
class RunLabels:
    """What a run's record says it is and whose, besides its config: set when the run is made, the same for every
    segment of it."""

    name: str
    preset: str | None = None  # the preset it started from
    group: dict | None = None  # one of several seeds of the same settings (core.queue.jobs.seed_group)
    owner: str | None = None  # who may change it (core.storage.ownership): a signed-in name, or a browser's id
    assignment: str | None = None  # the assignment it answers (core.classroom)
    sweep: dict | None = None  # one point of a sweep of one or two settings (core.queue.sweeps)


def create_run(runs_dir, config: dict, labels: RunLabels, environment: dict, run_id: str | None = None) -> Path:
    """Make the run folder with a 'running' record; returns its path."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    name = clean_name(labels.name)
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
        "preset": labels.preset,
        "config": config,
        "environment": environment,
        "worker": {"host": socket.gethostname(), "pid": os.getpid()},
        "durations": {},
        "error": None,
        "owner": labels.owner,
        "group": labels.group,
        "assignment": labels.assignment,
        "sweep": labels.sweep,
        **preset_differences(labels.preset, config),
    }
    write_json(path / RUN_FILE, record)
    return path


def preset_differences(preset_id: str | None, config: dict) -> dict:
    """The record's `differs_from_preset` for a run of `config` that started from `preset_id` ({} without one)."""
    differences = differences_from(preset_id, config)
    return {} if differences is None else {"differs_from_preset": differences}


# What a run's owner may change while it trains: all that rename_run and annotate_run write (through _edit).
EDITABLE_FIELDS = ("name", "notes", "tags")


def write_relayed_record(run_dir: Path, data: bytes) -> None:
    """A run.json written by a trainer on another machine (core.queue.cluster), in place of this copy, under the folder's
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
            here = read_json(run_dir / RUN_FILE)
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
        record = {**read_json(path / RUN_FILE), **changes}
        write_json(path / RUN_FILE, record)
    return record
