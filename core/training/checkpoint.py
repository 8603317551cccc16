"""Per-epoch checkpoints: what a run needs to continue from its last completed epoch, on any machine.

A checkpoint is the folder `checkpoint/` of a run folder:

    epoch-0007.npz   every variable of the model (weights, batch-norm statistics, the random state of the
                     dropout and augmentation layers) and of its optimizer (step counter, moments), in order
                     and, with early stopping's best weights kept, those weights
    state.json       the epoch, which .npz holds it and its SHA-256, the shuffling generator's state, the
                     history so far, what early stopping and reduce-on-plateau have counted, and the
                     variables' names and shapes

The arrays are plain numpy, not a Keras file, so the same numbers load into TensorFlow or JAX (a variable's
dtype may differ between backends, e.g. a seed state is int64 in TensorFlow and uint32 in JAX; values are
cast on restore). Writing order makes it atomic: the new .npz under a new name, then state.json replaced,
then the older .npz removed; a process killed at any point leaves state.json naming a complete file.
No Keras import here: the pages ask `describe()` without TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.system.files import write_atomic, write_json

FORMAT_VERSION = 1
FOLDER = "checkpoint"
STATE_FILE = "state.json"


class CheckpointError(Exception):
    """A checkpoint is missing, damaged, from another format version, or does not fit the network."""


@dataclass
class Checkpoint:
    epoch: int  # epochs completed
    history: list[dict]
    rng_state: dict | None  # numpy bit generator state of the shuffling (None: model.fit shuffled)
    model_values: list[np.ndarray]
    optimizer_values: list[np.ndarray]
    backend: str
    callbacks: dict  # {callback class name: {attribute: value}}: Keras callbacks' counters (core.training)
    best_weights: list[np.ndarray]  # early stopping's best weights so far ([] when none are kept)


def folder(run_dir) -> Path:
    return Path(run_dir) / FOLDER


def exists(run_dir) -> bool:
    """Whether a checkpoint was written: its state.json is written last, so a folder without it (a process killed
    while writing the first checkpoint) holds nothing to resume from."""
    return (folder(run_dir) / STATE_FILE).is_file()


def _model_variables(model) -> list:
    return list(model.trainable_variables) + list(model.non_trainable_variables)


def save(run_dir, model, epoch: int, history: list[dict], rng_state: dict | None, callbacks: dict | None = None,
         best_weights: list | None = None) -> None:
    """Write the checkpoint of `epoch` completed epochs (the model's optimizer must be built)."""
    import keras


    target = folder(run_dir)
    target.mkdir(exist_ok=True)
    model_vars, optimizer_vars = _model_variables(model), list(model.optimizer.variables)
    arrays = {f"m{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(model_vars)}
    arrays.update({f"o{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(optimizer_vars)})
    arrays.update({f"b{i}": np.asarray(w) for i, w in enumerate(best_weights or [])})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    name = f"epoch-{epoch:04d}.npz"
    write_atomic(target / name, data)
    write_json(target / STATE_FILE, {
        "format_version": FORMAT_VERSION,
        "epoch": epoch,
        "arrays": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "rng_state": rng_state,
        "history": history,
        "callbacks": callbacks or {},
        "best_weights": len(best_weights or []),
        "backend": keras.backend.backend(),
        "model_variables": [[v.path, list(v.shape)] for v in model_vars],
        "optimizer_variables": [[v.path, list(v.shape)] for v in optimizer_vars],
    })
    for old in target.glob("epoch-*.npz"):
        if old.name != name:
            old.unlink(missing_ok=True)


def describe(run_dir) -> dict | None:
    """The checkpoint's state.json (epoch, history, ...) without reading its arrays; None if there is none.
    Raises CheckpointError if it exists but cannot be read."""
    path = folder(run_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{path} is damaged ({e})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is damaged (not a JSON object)")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {version!r}; this version reads format {FORMAT_VERSION} only")
    required = {"epoch": int, "arrays": str, "sha256": str, "history": list, "model_variables": list,
                "optimizer_variables": list, "backend": str}
    for key, kind in required.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise CheckpointError(f"{path} is damaged ('{key}' is missing or not {kind.__name__})")
    return state


def load(run_dir) -> Checkpoint:
    """Read and verify the checkpoint; raises CheckpointError saying what is wrong."""
    state = describe(run_dir)
    if state is None:
        raise CheckpointError(f"{folder(run_dir)} has no checkpoint (runs save one after every completed epoch)")
    path = folder(run_dir) / Path(state["arrays"]).name
    try:
        data = path.read_bytes()
    except OSError:
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete") from None
    if hashlib.sha256(data).hexdigest() != state["sha256"]:
        raise CheckpointError(f"{path} is damaged (its checksum does not match state.json)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            model_values = [npz[f"m{i}"] for i in range(len(state["model_variables"]))]
            optimizer_values = [npz[f"o{i}"] for i in range(len(state["optimizer_variables"]))]
            best_weights = [npz[f"b{i}"] for i in range(int(state.get("best_weights") or 0))]
    except Exception as e:  # noqa: BLE001 - a damaged archive fails in many ways; the checksum caught most
        raise CheckpointError(f"{path} is damaged ({e})") from None
    return Checkpoint(state["epoch"], state["history"], state.get("rng_state"), model_values, optimizer_values,
                      state["backend"], state.get("callbacks") or {}, best_weights)


def restore(model, checkpoint: Checkpoint) -> None:
    """Assign the checkpoint to a compiled model built from the same config (its optimizer gets built)."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    for kind, variables, values in (("model", _model_variables(model), checkpoint.model_values),
                                    ("optimizer", list(model.optimizer.variables), checkpoint.optimizer_values)):
        if len(variables) != len(values):
            raise CheckpointError(f"the checkpoint does not fit this network: {len(values)} {kind} variables saved, "
                                  f"{len(variables)} in the network")
        for variable, value in zip(variables, values):
            if tuple(variable.shape) != tuple(value.shape):
                raise CheckpointError(f"the checkpoint does not fit this network: {variable.path} has shape "
                                      f"{tuple(variable.shape)}, the checkpoint {tuple(value.shape)}")
        for variable, value in zip(variables, values):
            variable.assign(value.astype(variable.dtype))


def remove(run_dir) -> None:
    """Drop the checkpoint (the optimizer state a finished run no longer needs)."""
    shutil.rmtree(folder(run_dir), ignore_errors=True)
