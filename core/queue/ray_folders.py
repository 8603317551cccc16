"""Run folders between the server and a Ray node, which share no file system: a folder as a zip out to a node, the
live files a node relays while it trains, and the finished folder back, each written so that a page reading the
server's copy never sees half of it."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from core.storage import runs
from core.system.files import write_atomic
from core.training import checkpoint


def zip_folder(run_dir: Path) -> bytes:
    """The run folder (checkpoint/ included) as a zip; the progress file and temporary files are left out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(Path(run_dir).rglob("*")):
            name = path.relative_to(run_dir).as_posix()
            if path.is_file() and not path.is_symlink() and name != runs.PROGRESS_FILE and not path.name.startswith("."):
                z.write(path, name)
    return buffer.getvalue()


def unzip_folder(data: bytes, dest: Path) -> list[str]:
    """Unpack zip_folder's bytes into dest; returns the file names."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        for name in names:
            if name.startswith("/") or ".." in Path(name).parts or len(Path(name).parts) > 2:
                raise runs.RunError(f"a run folder from a node holds {name!r}: refused")
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(z.read(name))
    return names


def _write_order(name: str) -> tuple:
    """A checkpoint's arrays before its state.json, and run.json last: as the trainer writes them, so that a
    reader never sees a state naming missing arrays, nor a "completed" record before the results."""
    return (name == runs.RUN_FILE, name == f"{checkpoint.FOLDER}/{checkpoint.STATE_FILE}", name)


def _drop_old_arrays(run_dir: Path, keep: set[str]) -> None:
    for old in (run_dir / checkpoint.FOLDER).glob("epoch-*.npz"):
        if f"{checkpoint.FOLDER}/{old.name}" not in keep:
            old.unlink(missing_ok=True)


def write_live(run_dir: Path, files: dict[str, bytes]) -> None:
    """Files relayed from a node while it trains, each written atomically into the server's run folder."""
    for name in sorted(files, key=_write_order):
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        if name == runs.RUN_FILE:
            runs.write_relayed_record(run_dir, files[name])
        else:
            write_atomic(run_dir / name, files[name])
    if f"{checkpoint.FOLDER}/{checkpoint.STATE_FILE}" in files:
        _drop_old_arrays(run_dir, set(files))


def write_final(run_dir: Path, data: bytes) -> None:
    """The node's finished run folder in place of the server's copy: unpacked in a staging folder beside it, moved
    in file by file with os.replace (run.json last, keeping the owner's edits), then what the node no longer has is removed."""
    staging = Path(tempfile.mkdtemp(dir=run_dir.parent, prefix=f".ray-{run_dir.name}-"))
    try:
        names = unzip_folder(data, staging)
        for name in sorted(names, key=_write_order):
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            if name == runs.RUN_FILE:
                runs.write_relayed_record(run_dir, (staging / name).read_bytes())
            else:
                os.replace(staging / name, run_dir / name)
        for path in sorted(run_dir.rglob("*"), reverse=True):  # a folder's files before the folder
            if path.is_file() and path.relative_to(run_dir).as_posix() not in names:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
