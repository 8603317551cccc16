"""core.queue.sweeps and core.analysis.sweeps: one or two settings at several values, submitted as a grid, and read
back as one figure with the best point and the really worse ones."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.sweeps import sweep_results
from core.networks import presets
from core.networks.config import ConfigError
from core.queue import sweeps
from core.storage import listing, runs
from tools.fake_runs import make_config, write_run

BASE = presets.get("fmnist-arch1-tr1").config


def test_a_grid_of_two_settings_is_every_pair_each_named_and_recorded():
    jobs = sweeps.make_sweep_jobs(BASE, "/tmp/r", name="sweep", sweep=sweeps.parse(["dropout=0,0.2,0.5", "l2=0,1e-4"]))
    assert len(jobs) == 6 and len({j.sweep["id"] for j in jobs}) == 1
    assert [(j.config.dropout, j.config.l2) for j in jobs] == [(0, 0), (0, 1e-4), (0.2, 0), (0.2, 1e-4), (0.5, 0),
                                                             (0.5, 1e-4)]
    assert jobs[3].name == "sweep · dropout 0.2 · L2 0.0001" and jobs[3].sweep["values"] == {"dropout": 0.2, "l2": 1e-4}
    assert jobs[3].sweep["fields"] == ["dropout", "l2"] and jobs[3].labels.sweep == jobs[3].sweep


@pytest.mark.parametrize("pairs, message", [
    (["dropout=0,2"], "dropout = 2.0 is out of range"),
    (["dropout=0.2"], "needs at least two different values"),
    (["seed=1,2"], "'seed' cannot be swept"),
    (["a=1,2", "b=1,2", "c=1,2"], "1 or 2 settings"),
    (["units=" + ",".join(str(16 * i) for i in range(1, 7)), "l2=" + ",".join(f"{i}e-5" for i in range(1, 7))],
     "would train 36 runs; at most 30"),
    (["dropout"], "--sweep expects FIELD=VALUE"),
])
def test_a_sweep_that_cannot_be_trained_says_why(pairs, message):
    with pytest.raises(ConfigError, match=message):
        sweeps.make_sweep_jobs(BASE, "/tmp/r", name="s", sweep=sweeps.parse(pairs))


def test_the_cli_trains_a_sweep_and_refuses_it_with_seeds(run_cli, tmp_path, fashion_dir):
    status, out, _ = run_cli(["train", "--preset", "fmnist-arch1-tr1", "--epochs", "1", "--limit", "200", "--set", "units=16",
                              "--sweep", "dropout=0,0.5", "--data-dir", fashion_dir, "--runs-dir", tmp_path, "--name", "s"])
    assert status == 0 and "s · dropout 0 (1 of 2)" in out and "s · dropout 0.5 (2 of 2)" in out
    made = listing.list_runs(tmp_path, pretrained_dir=None)
    assert sorted(r.config["dropout"] for r in made) == [0, 0.5] and len({r.record["sweep"]["id"] for r in made}) == 1
    status, _, err = run_cli(["train", "--preset", "fmnist-arch1-tr1", "--sweep", "dropout=0,0.5", "--seeds", "2"])
    assert status == 2 and "--sweep and --seeds cannot be combined" in err


def test_a_sweeps_results_name_the_best_point_and_the_really_worse_ones(tmp_path):
    jobs = sweeps.make_sweep_jobs(BASE, tmp_path, name="s", sweep=sweeps.parse(["dropout=0,0.2,0.5"]))
    y_true = np.arange(1000) % 10
    for job, right in zip(jobs, (800, 900, 890)):  # 0.2 the best; 0.5 wrong on 10 more images, 0 on 100 more
        y_pred = np.where(np.arange(1000) < right, y_true, (y_true + 1) % 10)
        path = write_run(tmp_path, name=job.name, y_true=y_true, y_pred=y_pred, config=make_config(**job.config.to_dict()))
        runs.update_record(path, sweep=job.sweep)
    fields, points = sweep_results(listing.list_runs(tmp_path, pretrained_dir=None))
    assert fields == ["dropout"] and [p.values["dropout"] for p in points] == [0, 0.2, 0.5]
    worst, best, close = points
    assert best.versus_best is None and worst.versus_best.differs and close.versus_best.differs
    assert sweep_results(listing.list_runs(tmp_path / "none", pretrained_dir=None)) is None
    every = listing.list_runs(tmp_path, pretrained_dir=None)
    one_ticked = [r for r in every if r.config["dropout"] == 0.5]
    assert [p.values["dropout"] for p in sweep_results(every, ticked=one_ticked)[1]] == [0, 0.2, 0.5]  # drawn whole
    assert sweep_results(every, ticked=[]) is None  # no ticked run of a sweep: no sweep figure
