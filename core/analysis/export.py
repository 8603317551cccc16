"""Runs out of the dashboard: learning curves and results as tables (CSV), TensorBoard event files, charts as images.

Pure functions over run folders (core.storage.runs); no Streamlit. TensorFlow, TensorBoard and vl-convert are imported only by
the functions that need them.

    to_csv_bytes(histories_long(chosen))               # one row per run, epoch and metric
    results_table(chosen)                              # one row per run: settings and results
    write_tensorboard(chosen, "tb")                    # then: tensorboard --logdir tb
    chart_bytes(chart, "png")                          # an Altair chart or Vega-Lite spec with its data inline
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from core.networks.config import FIELDS
from core.storage import runs

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")  # history.csv after `epoch`
LONG_COLUMNS = ["run", "name", "epoch", "metric", "value"]
# TensorBoard draws one chart per tag with a curve per writer: training and validation share the charts.
SPLITS = {"train": ("loss", "accuracy", "learning_rate", "seconds"), "validation": ("val_loss", "val_accuracy")}


class MissingPackage(runs.RunError):
    """An export needs a package that is not installed; the message says which and how to get it."""


def histories_long(runs_list) -> pd.DataFrame:
    """The runs' histories in long format: columns run (id), name, epoch, metric, value."""
    frames = []
    for run in runs_list:
        history = run.history()
        if history.empty:  # no epoch yet, no rows; its untyped empty columns would turn the others' numbers to objects
            continue
        frame = history.melt(id_vars="epoch", value_vars=[m for m in METRICS if m in history], var_name="metric",
                             value_name="value")
        # melt lists metric by metric; a stable sort by epoch gives each epoch's metrics in history.csv's order
        frames.append(frame.sort_values("epoch", kind="stable").assign(run=run.id, name=run.name))
    return pd.concat(frames, ignore_index=True)[LONG_COLUMNS] if frames else pd.DataFrame(columns=LONG_COLUMNS)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def results_table(runs_list) -> pd.DataFrame:
    """One row per run: what it is, every config field, its results (blank where it has none), notes and tags."""
    rows = []
    for run in runs_list:
        try:
            metrics = run.metrics()
        except runs.RunError:  # a run without results (failed, still training) still gets its row
            metrics = {}
        error_low, error_high = metrics.get("test_error_ci95") or (None, None)
        record = run.record
        rows.append({
            "id": run.id, "name": run.name,
            **{name: run.config.get(name) for name in FIELDS},
            "test_accuracy": metrics.get("test_accuracy"),
            # The interval of the accuracy is that of the error, turned around.
            "test_accuracy_low": None if error_high is None else 1 - error_high,
            "test_accuracy_high": None if error_low is None else 1 - error_low,
            "best_val_accuracy": metrics.get("best_val_accuracy"),
            "best_epoch": metrics.get("best_epoch"),
            "epochs_trained": metrics.get("epochs_trained", record.get("epochs_trained")),
            "total_s": (record.get("durations") or {}).get("total_s"),
            "status": run.status, "created": record.get("created"),
            "notes": record.get("notes", ""), "tags": ", ".join(record.get("tags") or []),
        })
    return pd.DataFrame(rows, columns=["id", "name", *FIELDS, "test_accuracy", "test_accuracy_low", "test_accuracy_high",
                                       "best_val_accuracy", "best_epoch", "epochs_trained", "total_s", "status", "created",
                                       "notes", "tags"])


def tensorboard_folder(run: runs.Run) -> str:
    """The run's folder in a TensorBoard log directory: its name made safe for a path, then its id (names repeat)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", run.name).strip("._-") or "run"
    return f"{stem[:60]}-{run.id}"


def write_tensorboard(runs_list, out_dir) -> list[Path]:
    """TensorBoard event files for each run, in out_dir/<tensorboard_folder>: the per-epoch scalars (train/ and
    validation/ writers, so each chart holds both curves), the config as hyperparameters of TensorBoard's HParams
    tab, and the test accuracy as its metric. Returns the folders written.

    Every run is checked before anything is written: a broken run, a run without history, or a folder that already
    exists (exporting twice would draw every curve twice) raises RunError."""
    out_dir = Path(out_dir)
    plan = []
    for run in runs_list:
        if run.problem:
            raise runs.RunError(f"run folder {run.path} is broken ({run.problem}); there is nothing sound to export")
        history = run.history()
        if history.empty:
            raise runs.RunError(f"run {run.name!r} ({run.id}) has no history yet: it has not finished an epoch")
        folder = out_dir / tensorboard_folder(run)
        if folder.exists():
            raise runs.RunError(f"{folder} already exists (exported before?); remove it or choose another output folder")
        plan.append((run, history, folder))
    hp = _require("tensorboard.plugins.hparams.api", "tensorboard", "writing TensorBoard files")
    import tensorflow as tf

    @contextmanager
    def writing(path: Path):
        writer = tf.summary.create_file_writer(str(path))
        try:
            with writer.as_default():
                yield
        finally:
            writer.close()  # flushed, and its file no longer held open

    for run, history, folder in plan:
        for split, columns in SPLITS.items():
            with writing(folder / split):
                for column in (c for c in columns if c in history):
                    for epoch, value in history[["epoch", column]].dropna().itertuples(index=False):
                        tf.summary.scalar(column.removeprefix("val_"), float(value), step=int(epoch))
        with writing(folder):  # the session the HParams tab lists; its metric is found in this folder
            hp.hparams({k: v for k, v in run.config.items() if isinstance(v, (bool, int, float, str))}, trial_id=run.id)
            if run.has_results:
                tf.summary.scalar("test_accuracy", float(run.metrics()["test_accuracy"]), step=int(history["epoch"].iloc[-1]))
    return [folder for _, _, folder in plan]


def chart_bytes(chart_or_spec, fmt: str) -> bytes:
    """An Altair chart or a Vega-Lite spec (dict) as PNG or SVG, drawn by vl-convert without a browser.

    The data must be inline: a spec whose data is a named dataset filled at display time (ui/curves.py) draws empty."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"chart format {fmt!r}: choose png or svg")
    vlc = _require("vl_convert", "vl-convert-python", "saving charts as pictures")
    spec = chart_or_spec.to_dict() if hasattr(chart_or_spec, "to_dict") else chart_or_spec
    # No fetching of data by URL: a picture of a run's chart needs nothing from the network.
    if fmt == "png":
        return vlc.vegalite_to_png(spec, scale=2, allowed_base_urls=[])  # twice the pixels: sharp on a projector
    return vlc.vegalite_to_svg(spec, allowed_base_urls=[]).encode()


def _require(module: str, package: str, purpose: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingPackage(f"{purpose} needs the {package} package, which is not installed (pip install {package})") from None
