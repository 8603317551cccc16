"""How long a run will take, from the runs that trained before: this machine's first, else the shipped ones.

    estimate_run(config, listing.list_runs(...), device="CPU (AMD EPYC, 2 cores)") -> Estimate | None

Every finished run knows its training images per second (images in an epoch / median epoch time, the first
epoch left out: it also compiles), its start-up and its final test. A new config is timed from the runs of
the same network, closest first: same device and batch size, then same device, then any device. The speed is
scaled by the work: dense networks by their size (units and depth change the work per image), every network by its
batch size (each step costs a fixed overhead besides its images: a batch of 8 takes four times the steps of 32 for
the same images). An estimate scaled from runs of another batch size or shape says it is a guess.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass

import pandas as pd

from core.data.datasets import DATASET_INFO
from core.networks.config import TrainConfig
from core.storage import runs
from core.system.memo import FileMemo, mtimes

TEST_IMAGES = 10_000
LONG_S = 600  # longer than this: the Train page warns before a class waits for it
# A step's fixed cost (dispatch, optimizer update of every weight) in images' worth of work: a batch of b images
# trains at b / (b + STEP_OVERHEAD_IMAGES) of the speed an endless batch would. Fitted to Fashion-MNIST Arch 1 on the
# 2-core CPU (issue 32): batch 8 and 1,024 units took 24-30 s an epoch where batch 32 and 200 units took 1.6-2.3 s.
STEP_OVERHEAD_IMAGES = 48


@dataclass(frozen=True)
class Measured:
    """What one finished run says about speed."""

    architecture: str
    batch_size: int
    device: str
    images_per_s: float  # per unit of relative_cost, at the speed an endless batch would reach (batch_efficiency)
    cost: float  # its relative_cost
    startup_s: float  # data loading and compilation: the first epoch's extra time
    test_s: float  # the final test and saving
    here: bool  # trained by this classroom (not shipped)


@dataclass(frozen=True)
class Estimate:
    total_s: float
    epoch_s: float
    startup_s: float
    test_s: float
    basis: str  # in words: which runs, on which device
    guess: bool = False  # scaled from runs of another batch size or shape: the order of magnitude, not the minute
    elsewhere: bool = False  # from runs on other hardware (the shipped runs on a fresh machine)

    @property
    def long(self) -> bool:
        return self.total_s > LONG_S


def relative_cost(config: TrainConfig | dict) -> float:
    """Work per image relative to the architecture's default shape (multiply-adds of the dense layers)."""
    c = config.to_dict() if isinstance(config, TrainConfig) else config
    units, depth = c.get("units", 200), c.get("depth", 9)
    if c.get("architecture") == "fmnist_arch1":
        return (784 * units + units * 10) / (784 * 200 + 2000)
    if c.get("architecture") == "fmnist_arch2":
        return (784 * units + (depth - 1) * units**2 + units * 10) / (784 * 200 + 8 * 200**2 + 2000)
    return 1.0


def batch_efficiency(batch_size: int) -> float:
    """The share of an endless batch's speed that a batch of this size reaches (each step has a fixed cost)."""
    return batch_size / (batch_size + STEP_OVERHEAD_IMAGES)


def training_images(config: TrainConfig | dict) -> int:
    c = config.to_dict() if isinstance(config, TrainConfig) else config
    total = min(c.get("limit") or DATASET_INFO[c["dataset"]].train_images, DATASET_INFO[c["dataset"]].train_images)
    return total - round(total * c["validation_split"])


_MEASURED = FileMemo(limit=20_000)


def measure(run: runs.Run) -> Measured | None:
    """The speed a finished run shows, or None if it shows none (too short, or missing its times). Kept per run
    until its record or history changes: every waiting student's page asks it of every run, every few seconds."""
    if not run.has_results:
        return None
    stamps = mtimes(run.path / runs.RUN_FILE, run.path / runs.HISTORY_FILE)
    return _MEASURED.get((str(run.path), run.shipped), stamps, lambda: _measure(run))


def _measure(run: runs.Run) -> Measured | None:
    try:
        return _measured(run)
    except (runs.RunError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None  # a run folder from elsewhere (an import) with its times missing or not numbers shows no speed


def _measured(run: runs.Run) -> Measured | None:
    seconds = [s for s in pd.to_numeric(run.history()["seconds"], errors="coerce").tolist() if s == s and s > 0]
    images = (run.record.get("data") or {}).get("train") or training_images(run.config)
    steady = seconds[1:] or seconds
    if not steady or not run.config:
        return None
    epoch_s = statistics.median(steady)
    durations = run.record.get("durations") or {}
    test_s = durations.get("evaluate_s")
    if test_s is None and durations.get("total_s") and durations.get("fit_s"):
        test_s = durations["total_s"] - durations["fit_s"] - durations.get("data_s", 0.0)
    cost = relative_cost(run.config)
    return Measured(run.config.get("architecture"), run.config.get("batch_size"), (run.record.get("environment") or {}).get(
        "device", "unknown"), images / epoch_s * cost / batch_efficiency(run.config["batch_size"]), cost,
        max(0.0, seconds[0] - epoch_s) + durations.get("data_s", 0.0), max(0.0, test_s or 0.0), not run.shipped)


def _kind(device: str) -> str:
    return "cpu" if device.startswith("CPU") else "gpu"


def estimate_run(config: TrainConfig, candidates: list[runs.Run], device: str) -> Estimate | None:
    """The expected total time of `config` on `device`, or None when no run of this network has finished."""
    measured = [m for m in map(measure, candidates) if m and m.architecture == config.architecture]
    tiers = [
        ([m for m in measured if m.device == device and m.batch_size == config.batch_size], "on this machine"),
        ([m for m in measured if m.device == device], "on this machine, at other batch sizes"),
        ([m for m in measured if _kind(m.device) == _kind(device) and m.batch_size == config.batch_size],
         "on another {kind}"),
        ([m for m in measured if _kind(m.device) == _kind(device)], "on another {kind}, at other batch sizes"),
        (measured, "on other hardware"),
    ]
    chosen, where = next(((ms, w) for ms, w in tiers if ms), ([], ""))
    elsewhere = not where.startswith("on this machine")
    if not chosen:
        return None
    if any(m.here for m in chosen):  # this classroom's own runs say more about this machine than shipped ones
        chosen = [m for m in chosen if m.here]
    cost = relative_cost(config)
    rate = statistics.median(m.images_per_s for m in chosen) * batch_efficiency(config.batch_size) / cost
    epoch_s = training_images(config) / rate
    startup_s = statistics.median(m.startup_s for m in chosen)
    test_s = statistics.median(m.test_s for m in chosen)
    devices = sorted({m.device for m in chosen})
    if all(_kind(d) == _kind(device) for d in devices):  # "on another CPU (CPU (…))" would say CPU twice
        devices = [re.sub(r"^CPU \((.*)\)$", r"\1", d) for d in devices]
    basis = (f"from {len(chosen)} finished run{'s' if len(chosen) > 1 else ''} of this network "
             f"{where.format(kind='CPU' if _kind(device) == 'cpu' else 'GPU')} ({', '.join(devices)})")
    scaled = [f"batch {config.batch_size}"] if any(m.batch_size != config.batch_size for m in chosen) else []
    if any(abs(m.cost - cost) > 1e-9 * cost for m in chosen):
        scaled.append("this network's size")
    if scaled:
        basis += f", scaled to {' and '.join(scaled)}: a guess"
    return Estimate(startup_s + config.epochs * epoch_s + test_s, epoch_s, startup_s, test_s, basis, bool(scaled),
                    elsewhere)


def time_left(progress: dict, epoch_seconds: list[float], epochs: int, prior: Estimate | None = None,
              now: float | None = None) -> float | None:
    """Seconds until a training run is tested and saved, or None when there is nothing to go by yet.

    `progress` is the run's progress.json, `epoch_seconds` its finished epochs' times. The first epoch also
    compiles, so it is left out once a second one has finished; before that, the prior estimate's epoch
    time is used when there is one, unless it comes from other hardware and the run has finished its first epoch:
    the shipped runs' machine can be several times slower or faster than this one. The final test is counted: from
    the prior estimate, else as two forward passes over the test images (a forward pass costs about a third of a
    training step)."""
    done = len(epoch_seconds)
    steps, step = progress.get("steps") or 1, progress.get("step", 0)
    in_epoch = step / steps if progress.get("epoch", 0) > done else 0.0
    if done >= 2:
        epoch_s = statistics.median(epoch_seconds[1:][-5:])
    elif done == 1 and prior is not None and prior.elsewhere:
        epoch_s = epoch_seconds[0]
    elif prior is not None:
        epoch_s = prior.epoch_s
    elif done == 1:
        epoch_s = epoch_seconds[0]
    elif step > 0:
        epoch_s = progress.get("epoch_seconds", 0.0) / in_epoch
    else:
        return None
    images = progress.get("images") or 0
    test_s = prior.test_s if prior is not None else (2 / 3 * TEST_IMAGES / images * epoch_s if images else 0.0)
    if done >= epochs:  # testing and saving now: count down what the test takes
        since = max(0.0, (now or time.time()) - progress.get("updated", now or time.time()))
        return max(1.0, test_s - since)
    return max(0.0, (epochs - done - in_epoch) * epoch_s) + test_s


def shared_finish(own_left_s: float, others_left_s: list[float]) -> float:
    """When a run ends, in wall seconds, when it takes turns with others on one worker (core.queue.turns): each gets an
    equal share of the worker while it trains, so every other run costs it min(its own time left, the other's)."""
    return own_left_s + sum(min(other, own_left_s) for other in others_left_s)
