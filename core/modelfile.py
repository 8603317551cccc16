"""Model files from elsewhere (imported runs) are data, never code.

`check_model_file` reads a `.keras` archive's config.json without Keras and refuses anything that is
not a built-in Keras object (Lambda layers carry Python bytecode; custom classes run their own code).
`load_model` loads with Keras' safe_mode on, which refuses Lambda deserialization as a second guard.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

MAX_CONFIG_BYTES = 5 * 1024 * 1024


class ModelFileError(Exception):
    """A model file is unreadable or holds code; the message says which and why."""


def _objects(node):
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def check_model_file(path: Path) -> None:
    """Raise ModelFileError unless the file is a .keras archive of built-in Keras objects only."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise ModelFileError(f"{path.name}: its config.json is {info.file_size:,} bytes, too large for a model of this dashboard")
            config = json.loads(archive.read(info))
    except KeyError:
        raise ModelFileError(f"{path.name}: not a Keras model (no config.json inside)") from None
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelFileError(f"{path.name}: not a readable .keras file ({e})") from None
    for obj in _objects(config):
        module, name = str(obj.get("module") or "keras"), obj.get("class_name")
        if name == "Lambda" or obj.get("registered_name") not in (None, name) or not (module == "keras" or module.startswith("keras.")):
            raise ModelFileError(f"{path.name}: contains custom code ({module}.{name}); only built-in Keras layers are accepted")


def load_model(path: Path):
    """Load a checked model file with Keras' safe_mode (imports Keras)."""
    import keras

    check_model_file(Path(path))
    return keras.saving.load_model(path, safe_mode=True, compile=False)
