"""Sweeps: one or two settings tried at several values each, the whole grid submitted at once ("dropout 0, 0.2, 0.5
x L2 off, 1e-4, 1e-3"). Every run of a sweep records the sweep ({"id", "fields", "values", "index", "size"}), so that
Compare draws them as one figure of test accuracy against the values."""

from __future__ import annotations

import dataclasses
import itertools

from core import formatting as fmt
from core.networks.config import FIELDS, ConfigError, TrainConfig
from core.queue.jobs import JobSpec, make_job
from core.storage import runs

MAX_FIELDS = 2  # a line, or a heat map
MAX_RUNS = 30  # a class's worth of runs at most


def parse(pairs: list[str]) -> dict[str, list[str]]:
    """`["dropout=0,0.2,0.5"]` -> {"dropout": ["0", "0.2", "0.5"]} (the CLI's --sweep; values are checked by grid)."""
    out = {}
    for pair in pairs:
        name, sep, values = pair.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ConfigError(f"--sweep expects FIELD=VALUE,VALUE,..., got {pair!r}")
        out[name.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return out


def grid(config: TrainConfig, sweep: dict[str, list]) -> list[tuple[TrainConfig, dict]]:
    """Every combination of the swept values, each config with its sweep record; ConfigError naming what is wrong."""
    if not 1 <= len(sweep) <= MAX_FIELDS:
        raise ConfigError(f"a sweep tries 1 or {MAX_FIELDS} settings at a time, not {len(sweep)}")
    for name, values in sweep.items():
        if name not in FIELDS or name in ("seed", "dataset", "architecture"):
            raise ConfigError(f"{name!r} cannot be swept: choose settings of the network, the optimizer or the data")
        if len(set(map(str, values))) < 2:
            raise ConfigError(f"a sweep of {name} needs at least two different values")
    size = 1
    for values in sweep.values():
        size *= len(values)
    if size > MAX_RUNS:
        raise ConfigError(f"this sweep would train {size} runs; at most {MAX_RUNS} at once")
    sweep_id = "s-" + runs.new_run_id()
    names = list(sweep)
    out = []
    for index, combo in enumerate(itertools.product(*sweep.values())):
        swept = config.replace(**dict(zip(names, combo)))  # ConfigError names a value out of range
        values = {n: getattr(swept, n) for n in names}
        out.append((swept, {"id": sweep_id, "fields": names, "values": values, "index": index, "size": size}))
    return out


def name_of(name: str, values: dict) -> str:
    """ "my sweep · dropout 0.2 · L2 0.001": one run of a sweep."""
    suffix = "".join(f" · {'L2' if k == 'l2' else k.replace('_', ' ')} {fmt.setting(k, v)}" for k, v in values.items())
    return runs.clean_name(name[: runs.MAX_NAME_LENGTH - len(suffix)].rstrip() + suffix)


def make_sweep_jobs(config: TrainConfig, runs_dir, *, name: str, sweep: dict[str, list], preset: str | None = None,
                    data_dir=None) -> list[JobSpec]:
    """One job per point of the grid, named by its values."""
    return [dataclasses.replace(make_job(c, runs_dir, name=name_of(name, record["values"]), preset=preset,
                                         data_dir=data_dir), sweep=record) for c, record in grid(config, sweep)]
