"""Model files from elsewhere (imported runs) are data, never code.

`check_model_file` reads a `.keras` archive's config.json without Keras and refuses anything that is
not a built-in Keras object: Lambda layers and lambda functions (an activation included) carry Python
bytecode, custom classes run their own code, a function object can name any function of any module
(Keras' own `keras.config.enable_unsafe_deserialization` or `keras.utils.get_file` included), and a
TFSMLayer loads a TensorFlow graph from a path of its choosing. `load_model` loads with Keras' safe_mode
on, which refuses lambda deserialization as a second guard. Nothing here unpickles anything.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

MAX_CONFIG_BYTES = 5 * 1024 * 1024
# Classes that carry or load code, wherever they appear.
CODE_CLASSES = {"Lambda", "__lambda__", "TFSMLayer"}
# Keras' own markers for values inside a config (tensors, arrays, bytes...): they name no class or module.
VALUE_MARKERS = {"__tensor__", "__keras_tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}
# A function object may only be a built-in activation, loss or metric.
FUNCTION_MODULES = ("keras.activations", "keras.losses", "keras.metrics",
                    "keras.src.activations", "keras.src.losses", "keras.src.metrics")


class ModelFileError(Exception):
    """A model file is unreadable or holds code; the message says which and why."""


def _objects(node):
    """Every dict with a class_name, however deep (a loop, not recursion: the nesting is the sender's choice)."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "class_name" in node:
                yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _under(module: str, roots) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def _refusal(obj: dict) -> str | None:
    """Why this serialized object may hold code, or None for a built-in Keras object."""
    name, module, registered = obj.get("class_name"), obj.get("module"), obj.get("registered_name")
    if not isinstance(name, str) or not isinstance(module, (str, type(None))):
        return f"an object with class {name!r} from module {module!r}"
    if name in CODE_CLASSES:
        return f"{module or 'keras'}.{name}"
    if name == "function":
        function = obj.get("config")
        allowed = isinstance(function, str) and _under(module or "", FUNCTION_MODULES)
        if not allowed or registered not in (None, function, name):
            return f"the function {module}.{function}"
        return None
    if module is None:
        return None if name in VALUE_MARKERS and registered is None else f"{name} (a class from no module)"
    if not _under(module, ("keras",)):
        return f"{module}.{name}"
    if registered not in (None, name):
        return f"{module}.{name} registered as {registered!r}"
    inner = obj.get("config")
    for key, value in (inner.items() if isinstance(inner, dict) else ()):
        # An activation is a built-in's name or a checked object; a bare dict is a dumped Python function.
        if key.endswith("activation") and isinstance(value, dict) and "class_name" not in value:
            return f"{module}.{name} with a Python function as its {key}"
    return None


def check_model_file(path: Path) -> None:
    """Raise ModelFileError unless the file is a .keras archive of built-in Keras objects only."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise ModelFileError(
                    f"{path.name}: its config.json is {info.file_size:,} bytes, too large for a model of this dashboard"
                )
            config = json.loads(archive.read(info))
    except KeyError:
        raise ModelFileError(f"{path.name}: not a Keras model (no config.json inside)") from None
    except (zipfile.BadZipFile, OSError, ValueError, RecursionError, NotImplementedError, RuntimeError, EOFError) as e:
        raise ModelFileError(f"{path.name}: not a readable .keras file ({e})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ModelFileError(f"{path.name}: its config.json does not describe a Keras model")
    for obj in _objects(config):
        refused = _refusal(obj)
        if refused:
            raise ModelFileError(f"{path.name}: contains custom code ({refused}); only built-in Keras layers are accepted")


def load_model(path: Path):
    """Load a checked model file with Keras' safe_mode (imports Keras)."""
    import keras

    check_model_file(Path(path))
    return keras.saving.load_model(path, safe_mode=True, compile=False)
