"""core.storage.runs: run folders on disk — killed runs, broken folders, atomic writes, names, export/import."""

import io
import json
import os
import re
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.storage import archive, edits, listing, runs
from core.storage.runs import RunError
from core.system.files import write_atomic, write_csv, write_json, write_npz
from core.system.memo import FileMemo

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir())


# --- killed runs ---------------------------------------------------------------------------------

def test_run_with_dead_worker_is_listed_as_failed(tmp_path, fake_run, dead_pid):
    path = runs.create_run(tmp_path, {"dataset": "fashion_mnist", "architecture": "fmnist_arch1"}, runs.RunLabels("killed"), {})
    write_csv(path / runs.HISTORY_FILE, pd.DataFrame([{"epoch": 1, "loss": 1.0}]))
    assert runs.read_run(path).status == "running"  # this process is alive
    runs.update_record(path, worker={"host": socket.gethostname(), "pid": dead_pid})
    run = runs.read_run(path)
    assert run.status == "failed" and "stopped before the run finished" in run.record["error"]
    assert json.loads((path / runs.RUN_FILE).read_text())["status"] == "running"  # reading changes nothing
    assert [r.status for r in listing.list_runs(tmp_path, pretrained_dir=None)] == ["failed"]
    # A worker on another machine cannot be checked from here: it stays "running".
    runs.update_record(path, worker={"host": "another-host", "pid": dead_pid})
    assert runs.read_run(path).status == "running"


def test_completed_record_without_its_files_is_broken_not_completed(tmp_path):
    path = runs.create_run(tmp_path, {"dataset": "fashion_mnist", "architecture": "fmnist_arch1"}, runs.RunLabels("liar"), {})
    runs.update_record(path, status="completed")
    run = runs.read_run(path)
    assert (
        run.status == "broken"
        and "completed run lacks history.csv, metrics.json, predictions.npz, misclassified.npz" in run.problem
    )


def test_training_process_killed_mid_run_is_never_completed(tmp_path, fashion_dir):
    """A real `python -m core train`, SIGKILLed after its first epoch."""
    runs_dir = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "train", "--preset", "fmnist-arch1-tr1", "--data-dir", str(fashion_dir),
         "--runs-dir", str(runs_dir), "--epochs", "300", "--set", "batch_size=8"],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.monotonic() + 240
        while not list(runs_dir.glob("*/history.csv")):
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no epoch finished within 240 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (listed,) = listing.list_runs(runs_dir, pretrained_dir=None)
    assert listed.status == "failed" and listed.record["error"]
    assert not (listed.path / runs.METRICS_FILE).exists()
    assert json.loads((listed.path / runs.RUN_FILE).read_text())["status"] == "running"


# --- broken folders --------------------------------------------------------------------------------

@pytest.mark.parametrize("damage, problem", [
    (lambda p: (p / runs.PREDICTIONS_FILE).unlink(), "completed run lacks predictions.npz"),
    (lambda p: (p / runs.HISTORY_FILE).unlink(), "completed run lacks history.csv"),
    (lambda p: (p / runs.METRICS_FILE).write_text('{"test_accuracy": 0.7'), "metrics.json: not valid JSON"),
    (lambda p: (p / runs.METRICS_FILE).write_text('{"loss": 1}'), "metrics.json lacks test_accuracy"),
    (lambda p: (p / runs.METRICS_FILE).write_text('[1, 2]'), "metrics.json: expected a JSON object"),
    (lambda p: (p / runs.METRICS_FILE).write_text('{"test_accuracy": 0.7}'), "metrics.json lacks test_error_ci95"),
    (lambda p: (p / runs.RUN_FILE).write_text('{"id": '), "run.json: not valid JSON"),
    (lambda p: (p / runs.RUN_FILE).unlink(), "run.json is missing"),
    (lambda p: write_json(p / runs.RUN_FILE, {"id": "x", "name": "y", "status": "done", "config": {}, "created": ""}),
     "unknown status 'done'"),
    (lambda p: write_json(p / runs.RUN_FILE, {"id": "x", "status": "completed"}), "run.json lacks 'name'"),
], ids=["no-predictions", "no-history", "metrics-malformed", "metrics-no-accuracy", "metrics-not-object", "metrics-no-interval",
        "record-malformed", "record-missing", "bad-status", "record-incomplete"])
def test_damaged_completed_run_is_broken_and_others_still_load(tmp_path, fake_run, damage, problem):
    good = fake_run(tmp_path, "good", accuracy=0.8)
    bad = fake_run(tmp_path, "bad")
    damage(bad)
    listed = {r.path.name: r for r in listing.list_runs(tmp_path, pretrained_dir=None)}
    assert listed[bad.name].status == "broken" and problem in listed[bad.name].problem
    assert listed[good.name].status == "completed" and listed[good.name].metrics()["test_accuracy"] == 0.8
    assert listed[good.name].name == "good"


def test_listing_skips_hidden_folders_files_and_missing_dirs(tmp_path, fake_run):
    fake_run(tmp_path / "own", "mine")
    fake_run(tmp_path / "shipped", "theirs")
    (tmp_path / "own" / ".import-abc").mkdir()
    (tmp_path / "own" / ".queue.sqlite").write_bytes(b"")
    listed = listing.list_runs(tmp_path / "own", pretrained_dir=tmp_path / "shipped")
    assert sorted((r.name, r.shipped) for r in listed) == [("mine", False), ("theirs", True)]
    assert listing.list_runs(tmp_path / "nowhere", pretrained_dir=None) == []


def test_listing_again_sees_every_change_to_a_finished_run(tmp_path, fake_run):
    path = fake_run(tmp_path, "first name", accuracy=0.75)
    listed = lambda: {r.id: r for r in listing.list_runs(tmp_path, pretrained_dir=None)}[path.name]  # noqa: E731
    assert listed() is listed(), "an unchanged finished run is read once"
    edits.rename_run(listed(), "second name")
    edits.annotate_run(listed(), notes="dropout helped", tags=["week 2"])
    assert (listed().name, listed().record["notes"], listed().record["tags"]) == ("second name", "dropout helped", ["week 2"])
    metrics = json.loads((path / runs.METRICS_FILE).read_text())
    write_json(path / runs.METRICS_FILE, {**metrics, "test_accuracy": 0.5})
    assert listed().metrics()["test_accuracy"] == 0.5
    (path / runs.PREDICTIONS_FILE).unlink()
    assert listed().status == "broken" and runs.PREDICTIONS_FILE in listed().problem


def test_a_file_memo_computes_again_when_the_files_change_and_starts_afresh_at_its_bound():
    memo, computed = FileMemo(limit=2), []

    def compute(value):
        computed.append(value)
        return value

    assert memo.get("a", (1,), lambda: compute("a1")) == memo.get("a", (1,), lambda: compute("again")) == "a1"
    assert memo.get("a", (2,), lambda: compute("a2")) == "a2", "a changed file is read again"
    assert memo.get("b", (1,), lambda: compute(None), keep=lambda v: v is not None) is None
    assert memo.get("b", (1,), lambda: compute("b1")) == "b1", "a value it was told not to keep is computed again"
    memo.get("c", (1,), lambda: compute("c1"))  # a third key: the bound is reached, the memo starts afresh
    assert memo.get("a", (2,), lambda: compute("a2 again")) == "a2 again"
    assert computed == ["a1", "a2", None, "b1", "c1", "a2 again"]


def test_the_headline_is_the_metrics_without_the_per_class_tables(tmp_path, fake_run):
    run = runs.read_run(fake_run(tmp_path, "sound", accuracy=0.75))
    full, headline = run.metrics(), run.headline()
    assert set(runs.PER_CLASS_METRICS) <= set(full) and not set(runs.PER_CLASS_METRICS) & set(headline)
    assert headline == {k: v for k, v in full.items() if k not in runs.PER_CLASS_METRICS} and headline["test_accuracy"] == 0.75


def test_reading_a_sound_run(tmp_path, fake_run):
    path = fake_run(tmp_path, "sound", accuracy=0.75)
    run = listing.find_run(path.name, tmp_path, pretrained_dir=tmp_path / "none")
    assert (run.id, run.name, run.status, run.shipped) == (path.name, "sound", "completed", False)
    assert list(run.history()["epoch"]) == [1, 2]
    assert run.predictions()["y_true"].shape == (20,) and run.misclassified()["image"].shape == (5, 28, 28, 1)
    assert run.config["epochs"] == 2 and run.progress() == {}
    for bad_id in ("../" + path.name, ".hidden", "", "nope"):
        with pytest.raises(RunError, match="no run with id"):
            listing.find_run(bad_id, tmp_path, pretrained_dir=tmp_path / "none")


def test_arrays_in_a_run_are_never_unpickled(tmp_path, fake_run):
    path = fake_run(tmp_path)
    np.savez(path / runs.PREDICTIONS_FILE, y_true=np.array([object()], dtype=object))
    with pytest.raises(RunError, match="predictions.npz: unreadable"):
        runs.read_run(path).predictions()
    (path / runs.HISTORY_FILE).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RunError, match="unreadable history"):
        runs.read_run(path).history()
    (path / runs.HISTORY_FILE).unlink()
    assert list(runs.read_run(path).history().columns)[:3] == ["epoch", "loss", "accuracy"]


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("p_true"), "predictions.npz lacks p_true"),
    (lambda a: a.update(loss=a["loss"][:-1]), "predictions.npz holds arrays of different lengths"),
    (lambda a: a.update(y_pred=a["y_pred"] + 10), "predictions.npz has y_pred values that are not class numbers"),
    (lambda a: a.update(y_true=a["y_true"].astype(np.float32)), "predictions.npz has y_true values that are not class numbers"),
])
def test_per_example_files_that_a_page_would_trip_on_are_refused_with_what_is_wrong(tmp_path, fake_run, change, message):
    """An imported run's files can hold anything; Inspect and Compare index class names and sort by them."""
    path = fake_run(tmp_path)  # Fashion-MNIST: classes 0 to 9
    run = runs.read_run(path)
    assert set(run.predictions()) >= set(runs.PREDICTION_FIELDS) and "image" in run.misclassified()
    arrays = run.predictions()
    change(arrays)
    write_npz(path / runs.PREDICTIONS_FILE, **arrays)
    with pytest.raises(RunError, match=message):
        runs.read_run(path).predictions()


# --- atomic writes -------------------------------------------------------------------------------

def test_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    write_json(target, {"test_accuracy": 0.5})

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_json(target, {"test_accuracy": 0.9, "big": list(range(1000))})
    with pytest.raises(OSError):
        write_npz(tmp_path / "predictions.npz", y=np.arange(10))
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"test_accuracy": 0.5}
    assert names_in(tmp_path) == ["metrics.json"]


def test_interrupted_replace_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "history.csv"
    target.write_text("epoch\n1\n")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"epoch\n1\n2\n")
    monkeypatch.undo()
    assert target.read_text() == "epoch\n1\n" and names_in(tmp_path) == ["history.csv"]


def test_unserialisable_json_writes_nothing(tmp_path):
    with pytest.raises(TypeError, match="cannot store object"):
        write_json(tmp_path / "x.json", {"a": object()})
    assert names_in(tmp_path) == []
    write_json(tmp_path / "x.json", {"a": np.float32(0.5), "b": np.arange(3)})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 0.5, "b": [0, 1, 2]}


# --- names, rename, delete -------------------------------------------------------------------------

@pytest.mark.parametrize("name, message", [
    ("", "cannot be empty"), ("   ", "cannot be empty"), ("a/b", "cannot contain '/'"), ("a\\b", "cannot contain '\\\\'"),
    ("x" * 81, "at most 80 characters (this one has 81)"), ("..", "cannot be '.' or '..'"), ("tab\there", "cannot contain"),
    (None, "cannot be empty"),
])
def test_bad_names(name, message):
    with pytest.raises(RunError, match=re.escape(message)):
        runs.clean_name(name)


def test_good_names():
    assert runs.clean_name("  Arch 2 — dropout 0.2 (mine)  ") == "Arch 2 — dropout 0.2 (mine)"
    assert runs.clean_name("x" * 80) == "x" * 80


def test_two_writers_of_one_run_record_lose_none_of_each_others_changes(tmp_path, fake_run):
    """The trainer ending a run while its owner renames it: each read-modify-write of run.json holds the folder's
    lock, so neither writes back a record older than the other's change."""
    import threading

    path = fake_run(tmp_path, "raced")

    def writer(who):
        for i in range(60):
            runs.update_record(path, **{f"{who}{i}": i})

    threads = [threading.Thread(target=writer, args=(who,)) for who in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record = runs.read_run(path).record
    assert all(f"{who}{i}" in record for who in "ab" for i in range(60)) and record["name"] == "raced"


def test_rename_and_delete_own_run(tmp_path, fake_run):
    path = fake_run(tmp_path, "old")
    edits.rename_run(runs.read_run(path), " new name ")
    assert runs.read_run(path).name == "new name"
    with pytest.raises(RunError, match="cannot contain '/'"):
        edits.rename_run(runs.read_run(path), "../escape")
    assert runs.read_run(path).name == "new name"
    edits.delete_run(runs.read_run(path))
    assert names_in(tmp_path) == []


def test_shipped_runs_cannot_be_changed(tmp_path, fake_run):
    path = fake_run(tmp_path, "shipped")
    shipped = runs.read_run(path, shipped=True)
    with pytest.raises(RunError, match="shipped with the dashboard"):
        edits.rename_run(shipped, "mine now")
    with pytest.raises(RunError, match="shipped with the dashboard"):
        edits.delete_run(shipped)
    assert runs.read_run(path).name == "shipped"


def test_closing_a_killed_sitting_marks_what_ran_failed_and_times_only_the_last_one_to_its_last_sign_of_life():
    start = "2026-12-02T01:00:00+00:00"  # 1796173200 seconds
    done = {"started": start, "seconds": 500.0, "status": "completed"}
    stray = {"started": start, "seconds": 5.0, "status": "running"}
    record = {"segments": [done, stray, "not a segment", {"started": start, "seconds": 30.0, "status": "running"}]}
    closed = runs.close_killed_segments(record, 1796173200 + 700, "its node died")
    assert closed[0] == done and closed[2] == "not a segment"
    assert [(s["status"], s["error"], s["seconds"]) for s in (closed[1], closed[3])] == [
        ("failed", "its node died", 5.0), ("failed", "its node died", 700.0)]
    # No sign of life, a stamp before the start, a stamp in the future, no start: never less than recorded, never
    # more than it could have run.
    last = record["segments"][-1]
    for stamp, seconds in ((None, 30.0), (1796173200 + 10, 30.0), ("x", 30.0)):
        assert runs.close_killed_segments({"segments": [last]}, stamp, "e")[0]["seconds"] == seconds
    future = runs.close_killed_segments({"segments": [last]}, time.time() + 10**6, "e")[0]["seconds"]
    assert future <= time.time() - 1796173200 + 1
    assert runs.close_killed_segments({"segments": [{"status": "running", "seconds": "?"}]}, 1e9, "e")[0]["seconds"] == 0.0
    assert runs.close_killed_segments({"segments": "garbled"}, 1e9, "e") == []


def test_running_run_cannot_be_deleted_but_a_killed_one_can(tmp_path, dead_pid):
    path = runs.create_run(tmp_path, {"dataset": "fashion_mnist", "architecture": "fmnist_arch1"}, runs.RunLabels("busy"), {})
    with pytest.raises(RunError, match="still training; cancel it first"):
        edits.delete_run(runs.read_run(path))
    runs.update_record(path, worker={"host": socket.gethostname(), "pid": dead_pid})
    edits.delete_run(runs.read_run(path))
    assert not path.exists()


def test_broken_run_cannot_be_renamed_but_can_be_deleted(tmp_path, fake_run):
    path = fake_run(tmp_path)
    (path / runs.METRICS_FILE).unlink()
    with pytest.raises(RunError, match="is broken"):
        edits.rename_run(runs.read_run(path), "fixed")
    edits.delete_run(runs.read_run(path))
    assert names_in(tmp_path) == []


def test_create_run_checks_name_and_id(tmp_path):
    config = {"dataset": "fashion_mnist", "architecture": "fmnist_arch1"}
    with pytest.raises(RunError, match="cannot contain"):
        runs.create_run(tmp_path, config, runs.RunLabels("a/b"), {})
    with pytest.raises(RunError, match="bad run id"):
        runs.create_run(tmp_path, config, runs.RunLabels("ok"), {}, run_id="../20260101-000000-abcdef")
    assert names_in(tmp_path) == []
    path = runs.create_run(tmp_path, config, runs.RunLabels("ok", "fmnist-arch1-tr1"), {"backend": "x"},
                           run_id="20260101-000000-abcdef")
    record = json.loads((path / runs.RUN_FILE).read_text())
    assert record["status"] == "running" and record["worker"]["pid"] == os.getpid() and record["preset"] == "fmnist-arch1-tr1"
    assert runs.RUN_ID_PATTERN.match(runs.new_run_id())


# --- export and import ---------------------------------------------------------------------------

def zip_of(files: dict, symlinks=()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def keras_archive(config: dict) -> bytes:
    return zip_of({"config.json": json.dumps(config), "metadata.json": "{}"})


def exported_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive.export_run(runs.read_run(path)))) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_export_import_round_trip_gets_a_new_id(tmp_path, fake_run):
    path = fake_run(tmp_path / "a", "exported", accuracy=0.8)
    write_json(path / runs.PROGRESS_FILE, {"epoch": 1})
    files = exported_files(path)
    assert sorted(files) == sorted([*runs.REQUIRED_COMPLETED, runs.MODEL_FILE])  # no progress file
    imported = archive.import_run(zip_of(files), tmp_path / "b")
    assert imported.id != path.name and runs.RUN_ID_PATTERN.match(imported.id)
    assert imported.status == "completed" and imported.name == "exported" and not imported.shipped
    assert imported.record["imported"]["original_id"] == path.name
    assert imported.metrics()["test_accuracy"] == 0.8
    for name in (runs.PREDICTIONS_FILE, runs.MODEL_FILE, runs.HISTORY_FILE):
        assert (imported.path / name).read_bytes() == (path / name).read_bytes()
    assert names_in(tmp_path / "b") == [imported.id]
    with pytest.raises(RunError, match="already here, as “exported”"):  # twice: refused, not a second copy
        archive.import_run(zip_of(files), tmp_path / "b")
    with pytest.raises(RunError, match="already here"):  # nor the copy's own export
        archive.import_run(archive.export_run(imported), tmp_path / "b")
    assert names_in(tmp_path / "b") == [imported.id]


def test_a_stopped_run_exports_and_imports_back(tmp_path, fake_run):
    path = fake_run(tmp_path / "a", "stopped early", status="cancelled")
    imported = archive.import_run(archive.export_run(runs.read_run(path)), tmp_path / "b")
    assert imported.status == "cancelled" and imported.has_results and imported.name == "stopped early"


def test_an_export_is_named_after_the_run(tmp_path, fake_run):
    run = runs.read_run(fake_run(tmp_path, "Ann's run: dropout 0.3 * batch 64"))
    name = archive.export_filename(run)
    assert name == f"Ann_s run_ dropout 0.3 _ batch 64 ({run.id[-6:]}).zip"
    assert archive.export_filename(runs.read_run(fake_run(tmp_path, "***"))).startswith("run (")


def _record(files, **changes):
    record = {**json.loads(files[runs.RUN_FILE]), **changes}
    return {**files, runs.RUN_FILE: json.dumps(record)}


@pytest.mark.parametrize("make, message", [
    (lambda f: zip_of({**f, "../evil.txt": b"x"}), "points outside the run folder"),
    (lambda f: zip_of({**f, "/etc/evil": b"x"}), "points outside the run folder"),
    (lambda f: zip_of({**f, "C:evil": b"x"}), "points outside the run folder"),
    (lambda f: zip_of({**f, "sub\\evil": b"x"}), "points outside the run folder"),
    (lambda f: zip_of({**f, ".": b"x"}), "points outside the run folder"),
    (lambda f: zip_of(f, symlinks=["link"]), "is a symbolic link"),
    (lambda f: zip_of({**f, "sub/file.txt": b"x"}), "inside a folder"),
    (lambda f: zip_of({**f, "sub/": b""}), "inside a folder"),
    (lambda f: b"PK\x03\x04 this is not a zip", "not a zip file"),
    (lambda f: b"", "not a zip file"),
    (lambda f: zip_of({k: v for k, v in f.items() if k != runs.RUN_FILE}), "has no run.json"),
    (lambda f: zip_of({k: v for k, v in f.items() if k != runs.METRICS_FILE}), "not sound: completed run lacks metrics.json"),
    (lambda f: zip_of({**f, runs.METRICS_FILE: b"{oops"}), "not sound: zip/metrics.json: not valid JSON"),
    (lambda f: zip_of(_record(f, status="failed")), "only runs with results can be imported: completed or stopped ones"),
    (lambda f: zip_of(_record(f, config={**json.loads(f[runs.RUN_FILE])["config"], "dropout": 5})),
     "config is invalid: dropout = 5"),
    (lambda f: zip_of(_record(f, config={**json.loads(f[runs.RUN_FILE])["config"], "hack": 1})),
     "config is invalid: unknown config field(s): hack"),
    (lambda f: zip_of(_record(f, config={**json.loads(f[runs.RUN_FILE])["config"], "architecture": "cifar_arch1"})),
     "config is invalid: architecture 'cifar_arch1' is for cifar100"),
    (lambda f: zip_of(_record(f, name="../../etc")), "cannot contain '/'"),
    (lambda f: zip_of({**f, **{f"extra{i}": b"" for i in range(40)}}), "a run has at most 32"),
    (lambda f: zip_of({**f, runs.MODEL_FILE: b"not a zip"}), "model is refused"),
    (lambda f: zip_of({**f, runs.MODEL_FILE: keras_archive({"module": "keras.layers", "class_name": "Lambda",
                                                            "config": {"function": "bytecode"}})}), "model is refused"),
], ids=["dotdot", "absolute", "drive", "backslash", "dot", "symlink", "subfolder", "folder-entry", "not-zip", "empty",
        "no-record", "incomplete", "bad-metrics", "not-completed", "config-range", "config-unknown", "config-mismatch",
        "bad-name", "too-many", "model-not-zip", "model-lambda"])
def test_import_rejects_and_leaves_nothing_behind(tmp_path, fake_run, make, message):
    files = exported_files(fake_run(tmp_path / "source"))
    target = tmp_path / "runs"
    target.mkdir()
    (target / "keep.txt").write_text("unrelated")
    with pytest.raises(RunError) as e:
        archive.import_run(make(files), target)
    assert message in str(e.value)
    assert names_in(target) == ["keep.txt"]


def test_import_rejects_oversized_content(tmp_path, fake_run, monkeypatch):
    files = exported_files(fake_run(tmp_path / "source"))
    monkeypatch.setattr(archive, "MAX_IMPORT_BYTES", 1000)
    (tmp_path / "runs").mkdir()
    with pytest.raises(RunError, match="unpacks to .* MB; the limit is"):
        archive.import_run(zip_of({**files, "padding": b"\0" * 2000}), tmp_path / "runs")
    assert names_in(tmp_path / "runs") == []


def test_damaged_arrays_are_run_errors(tmp_path, fake_run):
    path = fake_run(tmp_path)
    with open(path / runs.PREDICTIONS_FILE, "wb") as f:
        np.save(f, np.zeros(20))  # a lone array under the .npz name
    with pytest.raises(RunError, match="predictions.npz: unreadable .*single array"):
        runs.read_run(path).predictions()
    raw = bytearray((path / runs.MISCLASSIFIED_FILE).read_bytes())
    info = zipfile.ZipFile(io.BytesIO(bytes(raw))).getinfo("image.npy")
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26: info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len + 2] ^= 0xFF  # inside the deflate stream of the zeros
    (path / runs.MISCLASSIFIED_FILE).write_bytes(bytes(raw))
    with pytest.raises(RunError, match="misclassified.npz: unreadable"):
        runs.read_run(path).misclassified()


def test_notes_and_tags_are_kept_on_ones_own_runs_only(tmp_path, fake_run):
    run = runs.read_run(fake_run(tmp_path, "mine"))
    edits.annotate_run(run, notes="  dropout helps?  ", tags="Baseline, dropout, baseline, ")
    record = runs.read_run(run.path).record
    assert record["notes"] == "dropout helps?" and record["tags"] == ["baseline", "dropout"]
    edits.annotate_run(runs.read_run(run.path), tags=[])
    assert runs.read_run(run.path).record["notes"] == "dropout helps?"  # only the tags changed
    with pytest.raises(RunError, match="at most 10 tags"):
        edits.annotate_run(run, tags=",".join(f"t{i}" for i in range(11)))
    with pytest.raises(RunError, match="at most 2000 characters"):
        edits.annotate_run(run, notes="x" * 2001)
    shipped = runs.read_run(run.path, shipped=True)
    with pytest.raises(RunError, match="shipped"):
        edits.annotate_run(shipped, notes="mine now")
