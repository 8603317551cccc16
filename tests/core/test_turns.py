"""core.queue.turns: a worker trains every job it holds by turns. Each run stays its own: the same weights and history
as alone, its own Stop, its own failure; a new job gets the next turn. Turns are the same code on every backend; that
the JAX loop cut into one-step calls still equals fit is checked in test_fast.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.networks import presets
from core.queue import jobs, turns, worker
from core.queue.queue import Queue
from core.storage import runs
from core.training.trainer import release
from tools.fake_data import write_cifar_npz

TOLERANCE = 1e-5  # float32 reductions in another order would differ by this much at most; here they are equal


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, fashion_dir):
    """Fashion-MNIST's tiny files and a tiny cifar100.npz in one folder."""
    folder = tmp_path_factory.mktemp("both")
    for f in fashion_dir.iterdir():
        (folder / f.name).symlink_to(f)
    write_cifar_npz(folder / "cifar100.npz", n_train=96, n_test=16, seed=3)
    return folder


def class_jobs(runs_dir, data_dir) -> list[jobs.JobSpec]:
    """Students' jobs of three networks, with dropout, L2 and learning rate differing among them."""
    arch1 = presets.get("fmnist-arch1-tr1").config.replace(epochs=3, units=16, limit=0, batch_size=32)
    arch2 = presets.get("fmnist-arch2-tr1").config.replace(epochs=2, depth=2, units=16, limit=0, batch_size=32)
    cifar = presets.get("cifar-arch1-lr0.0001").config.replace(epochs=2, limit=0, batch_size=16)
    configs = {"arch1 a": arch1.replace(dropout=0.2, learning_rate=3e-3), "arch1 b": arch1.replace(l2=1e-3, seed=1),
               "arch2": arch2.replace(dropout=0.1, l2=1e-4), "cifar": cifar.replace(dropout=0.3, learning_rate=1e-3)}
    return [jobs.make_job(c, runs_dir, name=name, data_dir=data_dir) for name, c in configs.items()]


def weights(run_dir) -> list[np.ndarray]:
    from core.networks.modelfile import load_model

    return [np.asarray(w) for w in load_model(run_dir / runs.MODEL_FILE).get_weights()]


def curves(run_dir) -> pd.DataFrame:
    return runs.read_run(run_dir).history().drop(columns=["seconds"])


def start(job, stop, clock):
    """A worker's start of a job (core.queue.worker.serve), for Turns."""
    return worker.job_steps(job.spec, stop, clock=clock)


def twin_jobs(tmp_path, data_dir, twin_name: str):
    """Ann's job and Bob's equal one in a queue, and a worker's Turns that has claimed neither yet."""
    queue = Queue(tmp_path)
    spec = class_jobs(tmp_path, data_dir)[0]
    first = queue.submit(spec, "Ann")
    twin = queue.submit(jobs.make_job(spec.config, tmp_path, name=twin_name, data_dir=data_dir), "Bob")
    return queue, spec, first, twin, turns.Turns(queue, start, slice_s=0.0, shipped_dir=None)


def test_jobs_trained_by_turns_end_as_they_would_alone(tmp_path, data_dir, monkeypatch):
    alone = {spec.name: Path(worker.run_job(spec)) for spec in class_jobs(tmp_path / "alone", data_dir)}
    queue = Queue(tmp_path / "together")
    ids = [queue.submit(spec, "class") for spec in class_jobs(tmp_path / "together", data_dir)]
    monkeypatch.setattr(turns, "SLICE_S", 0.0)  # a turn is one step: the jobs interleave as finely as they can
    shared = turns.Turns(queue, start, slice_s=0.0)
    assert shared.claim() == 4
    order = []
    while shared.turn():
        order.append(len(shared.active))
    assert shared.ended == 4 and all(queue.get(i).status == "completed" for i in ids)
    assert len(order) > 4 * 3, "the jobs took many turns each"
    together = {j.spec.name: j.spec.run_dir for j in (queue.get(i) for i in ids)}
    for name, run_dir in together.items():
        pd.testing.assert_frame_equal(curves(run_dir), curves(alone[name]), atol=TOLERANCE, check_exact=False)
        for a, b in zip(weights(run_dir), weights(alone[name])):
            np.testing.assert_allclose(a, b, atol=TOLERANCE)


def test_stop_stops_one_job_a_failing_job_fails_alone_and_a_new_job_gets_the_next_turn(tmp_path, data_dir,
                                                                                         monkeypatch):
    queue = Queue(tmp_path)
    specs = class_jobs(tmp_path, data_dir)[:2]
    broken = jobs.make_job(specs[0].config, tmp_path, name="no data", data_dir=tmp_path / "nowhere")
    first, second, bad = (queue.submit(s, "class") for s in (*specs, broken))
    shared = turns.Turns(queue, start, slice_s=0.0)
    shared.claim()
    for _ in range(6):
        shared.turn()
    queue.cancel(first)
    monkeypatch.setattr(turns, "POLL_S", -1.0)
    try:
        late = queue.submit(jobs.make_job(specs[1].config.replace(seed=7), tmp_path, name="late", data_dir=data_dir),
                            "class")
        shared.claim()
        shared.turn()  # the new job goes first
        assert next(a for a in shared.active if a.job.id == late).steps is not None
        while shared.turn():
            pass
    finally:
        release()
    assert queue.get(first).status == "cancelled" and runs.read_run(queue.get(first).run_dir).has_results
    assert queue.get(second).status == queue.get(late).status == "completed"
    assert queue.get(bad).status == "failed" and "nowhere does not exist" in queue.get(bad).error


def test_a_new_jobs_first_turn_is_one_step_that_gives_its_curve_a_point(tmp_path, data_dir):
    """A class presses Train at once: each new job's first turn builds its network and trains one batch, then the next
    new job's turn comes, however long a turn may be; the rest of its training waits for its next turns."""
    queue = Queue(tmp_path)
    specs = class_jobs(tmp_path, data_dir)
    for spec in specs:
        queue.submit(spec, "class")
    shared = turns.Turns(queue, start, slice_s=3600.0)
    assert shared.claim() == len(specs)
    try:
        for spec in specs:
            assert shared.turn()
            progress = json.loads((spec.run_dir / runs.PROGRESS_FILE).read_text())
            assert len(progress["batch_loss"]) == 1 and progress["batch_loss"][0][0] <= 1, spec.name
            assert runs.read_run(spec.run_dir).history().empty, "no epoch ended in a first turn"
        assert all(a.steps is not None for a in shared.active)
    finally:
        release()


def test_a_jobs_epochs_are_timed_by_its_own_turns_not_the_wall(tmp_path, data_dir):
    queue = Queue(tmp_path)
    for spec in class_jobs(tmp_path, data_dir)[:2]:
        queue.submit(spec, "class")
    shared = turns.Turns(queue, start, slice_s=0.0)
    shared.claim()
    held = list(shared.active)
    while shared.turn():
        pass
    for a in held:
        seconds = runs.read_run(a.job.spec.run_dir).history()["seconds"].sum()
        assert 0 < seconds <= a.busy_s + 1e-6  # never more than the time it had


def test_the_same_job_twice_is_trained_once_and_each_student_gets_their_own_run(tmp_path, data_dir):
    queue, spec, first, twin, shared = twin_jobs(tmp_path, data_dir, "Bob's, the same")
    assert shared.claim() == 2 and [a.leader for a in shared.active] == [None, first]
    waiting = runs.open_live(queue.get(twin).run_dir).record
    assert waiting["copy_of"] == {"id": queue.get(first).run_id, "name": spec.name}  # what Bob's page shows meanwhile
    while shared.turn():
        pass
    assert shared.ended == 2 and queue.get(first).status == queue.get(twin).status == "completed"
    original, copy = (runs.read_run(queue.get(i).run_dir) for i in (first, twin))
    assert copy.record["copied_from"] == {"id": original.id, "name": spec.name, "owner": "Ann"}
    assert copy.name == "Bob's, the same" and copy.record["owner"] == "Bob" and copy.metrics() == original.metrics()
    assert not (copy.path / "checkpoint").exists() and len(copy.record["segments"]) == 1  # trained once, by Ann's job

    again = queue.submit(jobs.make_job(spec.config, tmp_path, name="Cy's, later", data_dir=data_dir), "Cy")
    later = turns.Turns(queue, start, slice_s=0.0, shipped_dir=None)
    assert later.claim() == 1 and later.ended == 1 and not later.active  # answered at once from the finished run
    assert runs.read_run(queue.get(again).run_dir).record["copied_from"]["id"] == original.id


def test_a_job_whose_twin_is_stopped_trains_itself(tmp_path, data_dir, monkeypatch):
    queue, _, first, twin, shared = twin_jobs(tmp_path, data_dir, "twin")
    shared.claim()
    queue.cancel(first)
    monkeypatch.setattr(turns, "POLL_S", -1.0)
    while shared.turn():
        pass
    assert queue.get(first).status == "cancelled" and queue.get(twin).status == "completed"
    assert "copied_from" not in runs.read_run(queue.get(twin).run_dir).record
