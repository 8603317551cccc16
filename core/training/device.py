"""Which Keras backend and which device training uses, recorded in every run."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _accelerators(backend: str) -> list[str]:
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")
        ]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict:
    """Backend, device and versions of this process (imports Keras)."""
    import keras

    backend = keras.backend.backend()
    accelerators = _accelerators(backend)
    return {
        "backend": backend,
        "device": accelerators[0] if accelerators else f"CPU ({_cpu_name()}, {os.cpu_count()} cores)",
        "accelerator": bool(accelerators),
        "python": sys.version.split()[0],
        "keras": keras.__version__,
        "backend_version": _version({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend)),
        "numpy": _version("numpy"),
        "host": platform.node(),
    }


def set_threads(count: int) -> None:
    """Let TensorFlow use `count` CPU threads for one op and as many ops at once (a worker beside others on few cores).
    Called before TensorFlow is imported: it reads these variables when it makes its thread pools. So a worker takes
    its slot without first importing TensorFlow (10 s of CPU here) while the page that started it waits. Other
    backends keep their own."""
    if "tensorflow" in sys.modules:
        raise RuntimeError("set_threads comes before TensorFlow is imported, or it does nothing")
    if configured_backend() == "tensorflow":
        os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(count)


def configured_backend() -> str:
    """The backend a training process started from here would use, without importing Keras."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def gpu_names() -> list[str]:
    """The NVIDIA GPUs on this machine, by `nvidia-smi -L` (no Keras, no CUDA import); [] without any."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split(":", 1)[1].split("(UUID")[0].strip() for line in out.splitlines() if line.startswith("GPU")]


def expected_device() -> str:
    """What a training worker on this machine will use, said before any worker has started."""
    gpus = gpu_names()
    if gpus:
        return gpus[0] if len(gpus) == 1 else f"{len(gpus)} × {gpus[0]}"
    return f"CPU ({_cpu_name()}, {os.cpu_count()} cores)"
