"""Starting a run from another run's network (transfer learning): the source run found by its id, or as the newest
finished run of a preset ("preset:ID"); its layers copied into the new network by name wherever their shapes match,
all but the last ("classes"), which is new because the classes may differ; frozen (only the new last layer trains)
or fine-tuned (everything trains)."""

from __future__ import annotations

from pathlib import Path

from core.networks.config import TrainConfig
from core.networks.modelfile import load_model
from core.storage import runs
from core.storage.listing import list_runs

OUTPUT_LAYER = "classes"  # every builder names its softmax layer so (core.networks.architectures)
PRESET_PREFIX = "preset:"


class TransferError(runs.RunError):
    """The run to start from cannot be found or does not fit; the message says which and what to do."""


def find_source(start_from: str, folders: list[Path]) -> runs.Run:
    """The finished run `start_from` names, in `folders` (the run's own runs folder, then the shipped runs)."""
    found = [r for folder in dict.fromkeys(map(Path, folders)) if folder.is_dir()
             for r in list_runs(folder, pretrained_dir=None) if r.status == "completed"]
    if start_from.startswith(PRESET_PREFIX):
        preset = start_from[len(PRESET_PREFIX):]
        chosen = [r for r in found if r.record.get("preset") == preset and r.has_model]
        if not chosen:
            raise TransferError(f"no finished run of preset {preset!r} to start from: train it first "
                                f"(python -m core pretrain --only {preset})")
        return chosen[0]  # listed newest first
    chosen = [r for r in found if r.id == start_from]
    if not chosen:
        raise TransferError(f"there is no finished run {start_from!r} to start from here; pick one that has finished")
    if not chosen[0].has_model:
        raise TransferError(f"run {chosen[0].name!r} kept its results but not its network ({runs.MODEL_FILE}): start "
                            "from a run that has one")
    return chosen[0]


def start_from(model, source: runs.Run, frozen: bool) -> None:
    """Copy `source`'s weights into `model` (built, not compiled) layer by layer; freeze the copied layers if `frozen`."""
    source_model = load_model(source.path / runs.MODEL_FILE)
    theirs = {layer.name: layer for layer in source_model.layers}
    copied = []
    for layer in model.layers:
        other = theirs.get(layer.name)
        if layer.name == OUTPUT_LAYER or other is None or not layer.weights:
            continue
        if [tuple(w.shape) for w in layer.weights] != [tuple(w.shape) for w in other.weights]:
            continue
        layer.set_weights(other.get_weights())
        if frozen:
            layer.trainable = False
        copied.append(layer.name)
    if not copied:
        raise TransferError(f"run {source.name!r} has no layer that fits this network: start from a run of the same "
                            "architecture")


def describe(source: runs.Run, config: TrainConfig) -> dict:
    """What a run's record says of the network it started from (`started_from`)."""
    return {"id": source.id, "name": source.name, "preset": source.record.get("preset"), "transfer": config.transfer}


def starter(config: TrainConfig, folders: list[Path]):
    """For a config that starts from another run: (the function compile_model calls on the built network, the
    source run); (None, None) for one trained from scratch. The source is found before any training starts."""
    if not config.start_from:
        return None, None
    source = find_source(config.start_from, folders)
    return (lambda model: start_from(model, source, config.transfer == "frozen")), source
