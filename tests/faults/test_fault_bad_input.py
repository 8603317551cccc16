"""Bad input gets a clear message and changes nothing: hyperparameters out of range through every door
(the config, the command line, an imported run), damaged run folders, damaged or hostile run zips.

What tests/core already covers (each field's range through the config, the CLI's own flags, zip entries
with ../, absolute paths, links, folders, too many or too large entries) is not repeated here.
"""

from __future__ import annotations

import io
import json
import math
import random
import struct
import zipfile

import pytest
from fault_helpers import PRESET, exported, sound_run, with_record, zip_of

from core.networks.config import FIELDS, ConfigError, field_range, from_dict
from core.networks.presets import get
from core.storage import archive, edits, listing, runs
from core.system.files import write_json

NUMBER_FIELDS = [name for name, f in FIELDS.items() if f.metadata["kind"] == "number"]


def outside(name: str) -> list:
    """Just below and just above the field's range, as the widgets and the CLI would send them."""
    low, high = field_range(name)
    if FIELDS[name].type in ("int", int):
        return [low - 1, high + 1]
    return [low / 2 if low > 0 else -0.01, high * 1.5]


CASES = [(name, value) for name in NUMBER_FIELDS for value in outside(name)]


def names_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    """The files of one sound exported run (the preset's config)."""
    source = sound_run(tmp_path_factory.mktemp("source"), "exported", **get(PRESET).config.to_dict())
    return exported(source)


# --- every hyperparameter out of range, through every door ---------------------------------------

@pytest.mark.parametrize("name, value", CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_out_of_range_refused_everywhere_naming_the_field(name, value, tmp_path, run_cli, run_files):
    low, high = field_range(name)
    expected = f"{name} = "
    # (a) the config, as the pages build it
    with pytest.raises(ConfigError) as e:
        from_dict({**get(PRESET).config.to_dict(), name: value})
    assert str(e.value).startswith(expected) and f"between {low} and {high}" in str(e.value)

    # (b) the command line: one line, exit status 2, nothing trained or written
    runs_dir = tmp_path / "cli-runs"
    status, out, err = run_cli(["train", "--preset", PRESET, "--set", f"{name}={value!r}", "--runs-dir", runs_dir])
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"python -m core: error: {expected}") and "out of range" in err
    assert not runs_dir.exists() or names_in(runs_dir) == []

    # (c) an imported run whose record holds the value: refused, nothing left in the runs folder
    imports = tmp_path / "imports"
    imports.mkdir()
    config = {**json.loads(run_files[runs.RUN_FILE])["config"], name: value}
    with pytest.raises(runs.RunError) as e:
        archive.import_run(zip_of(with_record(run_files, config=config)), imports)
    assert f"the imported run's config is invalid: {expected}" in str(e.value)
    assert names_in(imports) == []


@pytest.mark.parametrize("assignment, message", [
    ("learning_rate=nan", "learning_rate = nan is out of range"),
    ("learning_rate=inf", "learning_rate = inf is out of range"),
    ("dropout=-inf", "dropout = -inf is out of range"),
    ("depth=2.5", "depth must be a whole number, got 2.5"),
    ("augment=maybe", "augment must be true or false, got 'maybe'"),
    ("optimizer=rmsprop", "optimizer = 'rmsprop' is not allowed"),
    ("epochs=", "epochs must be a number, got ''"),
])
def test_cli_non_numbers_and_non_finite(assignment, message, tmp_path, run_cli):
    status, out, err = run_cli(["train", "--preset", PRESET, "--set", assignment, "--runs-dir", tmp_path])
    assert status == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert names_in(tmp_path) == []


@pytest.mark.parametrize("value", [math.nan, math.inf, "0.2; rm -rf /", [0.1], {"x": 1}, True, None])
def test_imported_config_of_the_wrong_kind(value, tmp_path, run_files):
    config = {**json.loads(run_files[runs.RUN_FILE])["config"], "dropout": value}
    with pytest.raises(runs.RunError, match="the imported run's config is invalid: dropout"):
        archive.import_run(zip_of(with_record(run_files, config=config)), tmp_path)
    assert names_in(tmp_path) == []


# --- run folders with missing or malformed files ---------------------------------------------------

def deep_json(depth: int = 100_000) -> str:
    return '{"id": ' + "[" * depth + "]" * depth + "}"


def write_record(path, text: str) -> None:
    (path / runs.RUN_FILE).write_text(text)


def set_record(path, **changes) -> None:
    write_json(path / runs.RUN_FILE, {**json.loads((path / runs.RUN_FILE).read_text()), **changes})


@pytest.mark.parametrize("damage, problem", [
    (lambda p: write_record(p, deep_json()), "run.json: not valid JSON"),
    (lambda p: write_record(p, ""), "run.json: not valid JSON"),
    (lambda p: (p / runs.RUN_FILE).write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff"), "run.json: not valid JSON"),
    (lambda p: ((p / runs.RUN_FILE).unlink(), (p / runs.RUN_FILE).mkdir()), "run.json: not valid JSON"),
    (lambda p: (p / runs.METRICS_FILE).write_text(deep_json()), "metrics.json: not valid JSON"),
    (lambda p: set_record(p, name=42), "'name' is not text"),
    (lambda p: set_record(p, id={"a": 1}), "'id' is not text"),
    (lambda p: set_record(p, created=None), "'created' is not text"),
    (lambda p: set_record(p, status=["completed"]), "'status' is not text"),
    (lambda p: set_record(p, config=["dropout", 0.2]), "'config' is not an object"),
    (lambda p: (p / runs.MISCLASSIFIED_FILE).unlink(), "completed run lacks misclassified.npz"),
], ids=["deeply-nested", "empty", "binary", "folder", "metrics-deeply-nested", "name-number", "id-object",
        "created-null", "status-list", "config-list", "no-mistakes-file"])
def test_malformed_run_is_listed_broken_and_the_others_still_load(tmp_path, damage, problem):
    good = sound_run(tmp_path, "good one")
    bad = sound_run(tmp_path, "bad one")
    for path in (good, bad):  # the same creation time: the listing's order then compares the ids
        set_record(path, created="2026-11-26T10:00:00+00:00")
    damage(bad)
    listed = {r.path.name: r for r in listing.list_runs(tmp_path, pretrained_dir=None)}
    assert listed[bad.name].status == "broken" and problem in listed[bad.name].problem
    assert listed[good.name].status == "completed" and listed[good.name].metrics()["test_accuracy"] == 0.75
    # A broken folder cannot be renamed, only deleted; deleting it leaves the good one alone.
    with pytest.raises(runs.RunError, match="is broken"):
        edits.rename_run(listed[bad.name], "fixed")
    edits.delete_run(listed[bad.name])
    assert names_in(tmp_path) == [good.name]


@pytest.mark.parametrize("worker_field", ["a string", ["host", 1], 7])
def test_running_record_with_a_malformed_worker_is_broken_and_can_be_deleted(tmp_path, worker_field):
    """Not 'running' for ever (a running run cannot be deleted): broken, with the reason, and deletable."""
    good = sound_run(tmp_path, "good one")
    path = runs.create_run(tmp_path, get(PRESET).config.to_dict(), runs.RunLabels("half"), {})
    set_record(path, worker=worker_field)
    listed = {r.path.name: r for r in listing.list_runs(tmp_path, pretrained_dir=None)}
    assert listed[good.name].status == "completed"
    assert listed[path.name].status == "broken" and "'worker' is not an object" in listed[path.name].problem
    edits.delete_run(listed[path.name])
    assert names_in(tmp_path) == [good.name]


def test_imported_run_with_a_malformed_record_is_refused(tmp_path, run_files):
    for files, message in ((with_record(run_files, name=7), "'name' is not text"),
                           (with_record(run_files, config="fast"), "'config' is not an object"),
                           ({**run_files, runs.RUN_FILE: deep_json().encode()}, "run.json: not valid JSON")):
        with pytest.raises(runs.RunError, match="the imported run is not sound: zip/run.json"):
            archive.import_run(zip_of(files), tmp_path)
        assert names_in(tmp_path) == []
        with pytest.raises(runs.RunError) as e:
            archive.import_run(zip_of(files), tmp_path)
        assert message in str(e.value)


# --- damaged or hostile zips -----------------------------------------------------------------------

def central_header(data: bytes, name: str) -> int:
    """Offset of `name`'s entry in the zip's central directory."""
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        length = struct.unpack("<H", data[start + 28: start + 30])[0]
        if data[start + 46: start + 46 + length] == name.encode():
            return start
        start += 4
    raise AssertionError(f"{name} not in the zip")


def patched(data: bytes, name: str, offset: int, fmt: str, value: int) -> bytes:
    """The zip with one field of `name`'s central directory entry changed (method, flags, sizes)."""
    at = central_header(data, name) + offset
    return data[:at] + struct.pack(fmt, value) + data[at + struct.calcsize(fmt):]


def flipped_data(data: bytes, name: str) -> bytes:
    """The zip with one byte of `name`'s compressed data flipped (the local header is 30 bytes + name + extra)."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
    return data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1:]


@pytest.mark.parametrize("make, message", [
    (lambda f: flipped_data(zip_of(f), runs.RUN_FILE), "the zip entry 'run.json' cannot be unpacked"),
    (lambda f: flipped_data(zip_of(f), runs.MISCLASSIFIED_FILE), "the zip entry 'misclassified.npz' cannot be unpacked"),
    (lambda f: patched(zip_of(f), runs.METRICS_FILE, 10, "<H", 99), "compression method is not supported"),
    (lambda f: patched(zip_of(f), runs.METRICS_FILE, 8, "<H", 1), "is encrypted"),
    # a zip bomb that lies about its size: 50 MB of zeros (50 KB deflated) declared as 1,000 bytes
    (lambda f: patched(zip_of({**f, "padding": b"\0" * 50_000_000}), "padding", 24, "<I", 1000),
     "the zip entry 'padding' cannot be unpacked"),
    (lambda f: patched(zip_of(f), runs.HISTORY_FILE, 24, "<I", 10_000_000), "the zip entry 'history.csv'"),
    (lambda f: zip_of(f)[: len(zip_of(f)) // 2], "not a zip file"),
    (lambda f: zip_of({**f, "x" * 300: b"1"}), "cannot be written (File name too long)"),
], ids=["crc", "deflate", "method", "encrypted", "bomb-lying-size", "size-too-large", "cut-off-download", "long-name"])
def test_damaged_zip_is_refused_with_a_message_and_nothing_left(tmp_path, run_files, make, message):
    target = tmp_path / "runs"
    target.mkdir()
    (target / "keep.txt").write_text("unrelated")
    with pytest.raises(runs.RunError) as e:
        archive.import_run(make(run_files), target)
    assert message in str(e.value)
    assert names_in(target) == ["keep.txt"]


def test_no_corruption_of_an_exported_zip_escapes_as_anything_but_a_run_error(tmp_path, run_files):
    """Seeded random damage (bit flips, cut-offs, overwritten directory bytes): each import either succeeds
    or says why in a RunError, and never leaves a half-unpacked folder behind."""
    data = zip_of(run_files)
    rng = random.Random(20261126)
    target = tmp_path / "runs"
    refused = imported = 0
    for i in range(240):
        damaged = bytearray(data)
        if i % 3 == 0:
            for _ in range(3):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        elif i % 3 == 1:
            damaged = damaged[: rng.randrange(len(damaged))]
        else:
            damaged[len(damaged) - rng.randrange(1, 700)] = rng.randrange(256)
        try:
            run = archive.import_run(bytes(damaged), target)
        except runs.RunError:
            refused += 1
        else:  # the damage hit something unchecked (a timestamp, a comment): still a sound run
            imported += 1
            assert run.status == "completed"
            edits.delete_run(run)
        assert [p.name for p in target.iterdir() if not p.name.startswith(".deleting")] == []
    assert refused > 150  # nearly all of them
