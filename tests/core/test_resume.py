"""Checkpoints and resume: a run interrupted after epoch 2 of 4 and resumed is the same run as one that was
never interrupted; a checkpoint moves from TensorFlow to JAX; bad requests change nothing."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.networks import presets
from core.networks.config import TrainConfig
from core.storage import runs
from core.system.files import write_json
from core.training import checkpoint
from core.training.callbacks import BaseListener
from core.training.resume import plan_resume, resume
from core.training.trainer import train

PROJECT = Path(__file__).resolve().parents[2]


class StopAfter(BaseListener):
    """Raises KeyboardInterrupt (as Ctrl-C would) once the given epoch has been reported."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch(self, row):
        if row["epoch"] == self.epoch:
            raise KeyboardInterrupt


def interrupted_then_resumed(config, runs_dir, data):
    with pytest.raises(KeyboardInterrupt):
        train(config, runs_dir, dataset=data, listener=StopAfter(2))
    (run_dir,) = [p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert runs.read_run(run_dir).status == "failed" and checkpoint.describe(run_dir)["epoch"] == 2
    return resume(run_dir, dataset=data)


def assert_same_run(a: Path, b: Path, epochs: int = 4):
    import keras

    history_a, history_b = runs.read_run(a).history(), runs.read_run(b).history()
    assert list(history_b["epoch"]) == list(history_a["epoch"]) == list(range(1, epochs + 1))
    columns = ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
    np.testing.assert_allclose(history_b[columns].to_numpy(), history_a[columns].to_numpy(), rtol=1e-5, atol=1e-6)
    weights_a = keras.saving.load_model(a / runs.MODEL_FILE).get_weights()
    weights_b = keras.saving.load_model(b / runs.MODEL_FILE).get_weights()
    for wa, wb in zip(weights_a, weights_b, strict=True):
        np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(runs.read_run(b).predictions()["y_pred"], runs.read_run(a).predictions()["y_pred"])


@pytest.mark.backend
@pytest.mark.parametrize("changes", [
    dict(architecture="fmnist_arch2", depth=2, units=32, dropout=0.3, l2=1e-4),
    dict(architecture="fmnist_cnn", units=16, dropout=0.4, l2=1e-4, augment=True, batch_size=32, limit=96),
], ids=["dropout", "batchnorm-augmentation"])
def test_a_run_resumed_after_epoch_2_of_4_equals_an_uninterrupted_one(tmp_path, fashion_data, changes):
    config = TrainConfig(**{"epochs": 4, "limit": 300, "seed": 11, **changes})
    whole = train(config, tmp_path / "whole", dataset=fashion_data)
    resumed = interrupted_then_resumed(config, tmp_path / "resumed", fashion_data)
    assert_same_run(whole, resumed)
    record = runs.read_run(resumed).record
    assert [(s["from_epoch"], s["to_epoch"], s["status"]) for s in record["segments"]] == [(0, 2, "failed"), (2, 4, "completed")]
    assert record["epochs_trained"] == 4 and record["status"] == "completed" and record["error"] is None
    assert all(s["backend"] and s["device"] and s["seconds"] > 0 for s in record["segments"])


@pytest.mark.backend
def test_a_rate_halved_at_the_epoch_a_run_stopped_is_the_rate_it_resumes_at(tmp_path, fashion_data):
    """Reduce-on-plateau halves the rate at the end of epochs 2 and 3 (the validation loss stops falling on this
    easy data); the run is stopped right after epoch 2. Its checkpoint must hold the halved rate for epoch 3."""
    config = TrainConfig(epochs=4, limit=300, seed=11, learning_rate=0.05, reduce_lr=1)
    whole = train(config, tmp_path / "whole", dataset=fashion_data)
    rates = runs.read_run(whole).history()["learning_rate"].tolist()
    assert rates == pytest.approx([0.05, 0.05, 0.025, 0.0125])
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", dataset=fashion_data, listener=StopAfter(2))
    (run_dir,) = [p for p in (tmp_path / "resumed").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert_same_run(whole, resume(run_dir, dataset=fashion_data))


@pytest.mark.backend
def test_early_stopping_resumed_keeps_its_count_and_its_best_weights(tmp_path, fashion_data):
    """Patience 2 on data learnt in a few epochs: the uninterrupted run stops early and goes back to its best
    weights. Stopped one epoch before that and resumed, it must stop at the same epoch with the same weights."""
    config = TrainConfig(epochs=8, limit=300, seed=11, learning_rate=0.05, early_stopping=2)
    whole = train(config, tmp_path / "whole", dataset=fashion_data)
    stopped_at = runs.read_run(whole).record["stopped_early_at"]
    assert stopped_at is not None and stopped_at < 8
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", dataset=fashion_data, listener=StopAfter(stopped_at - 1))
    (run_dir,) = [p for p in (tmp_path / "resumed").iterdir() if p.is_dir() and not p.name.startswith(".")]
    resumed = resume(run_dir, dataset=fashion_data)
    assert runs.read_run(resumed).record["stopped_early_at"] == stopped_at
    assert_same_run(whole, resumed, epochs=stopped_at)


@pytest.mark.backend
def test_a_run_killed_after_its_last_epoch_resumes_to_save_its_results(tmp_path, fashion_data):
    """Killed while evaluating the test set: nothing left to train, the results still to save."""
    config = TrainConfig(epochs=2, limit=300, seed=5)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path, dataset=fashion_data, listener=StopAfter(2))
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert not runs.read_run(run_dir).has_results and checkpoint.describe(run_dir)["epoch"] == 2
    resume(run_dir, dataset=fashion_data)
    run = runs.read_run(run_dir)
    assert run.status == "completed" and list(run.history()["epoch"]) == [1, 2] and run.metrics()["n_test"] > 0
    segments = [(s["from_epoch"], s["to_epoch"], s["status"]) for s in run.record["segments"]]
    assert segments == [(0, 2, "failed"), (2, 2, "completed")]


@pytest.mark.backend
def test_a_killed_sitting_is_on_record_with_the_time_it_ran_until_its_last_sign_of_life(tmp_path, stopped_run,
                                                                                        fashion_data, dead_pid):
    """A process killed mid-epoch writes no end to its segment: resume closes it, timed by the progress file."""
    run_dir = tmp_path / stopped_run.name
    shutil.copytree(stopped_run, run_dir)
    record = runs.read_run(run_dir).record
    killed = {**record["segments"][-1], "status": "running", "started": "2026-12-02T01:29:38+00:00", "seconds": 0.0}
    runs.update_record(run_dir, status="running", error=None, segments=[*record["segments"][:-1], killed],
                       worker={"host": socket.gethostname(), "pid": dead_pid})
    write_json(run_dir / runs.PROGRESS_FILE, {"epoch": 2, "updated": 1796174978.0 + 700})  # 700 s after the start
    resume(run_dir, dataset=fashion_data)
    first, resumed = runs.read_run(run_dir).record["segments"]
    assert (first["status"], first["seconds"], first["to_epoch"]) == ("failed", 700.0, 1)
    assert (resumed["status"], resumed["from_epoch"], resumed["to_epoch"]) == ("completed", 1, 3)


@pytest.mark.backend
def test_every_epoch_leaves_one_complete_checkpoint(tmp_path, fashion_data):
    config = TrainConfig(epochs=3, limit=300, schedule="constant")
    run_dir = train(config, tmp_path, dataset=fashion_data)
    state = checkpoint.describe(run_dir)
    assert state["epoch"] == 3 and len(state["history"]) == 3
    assert sorted(p.name for p in checkpoint.folder(run_dir).iterdir()) == ["epoch-0003.npz", checkpoint.STATE_FILE]
    saved = checkpoint.load(run_dir)
    assert saved.optimizer_values[0] == 3 * 8  # Adam's step counter: 3 epochs of 8 steps
    assert saved.rng_state["bit_generator"] == "PCG64"


@pytest.mark.backend
def test_a_finished_run_with_a_schedule_drops_its_optimizer_state(tmp_path, fashion_data):
    run_dir = train(TrainConfig(epochs=2, limit=300, schedule="cosine"), tmp_path, dataset=fashion_data)
    assert runs.read_run(run_dir).status == "completed" and not checkpoint.folder(run_dir).exists()
    with pytest.raises(runs.RunError, match="complete"):
        plan_resume(run_dir)


@pytest.mark.backend
def test_a_finished_constant_rate_run_trains_more_epochs(tmp_path, fashion_data):
    config = TrainConfig(epochs=2, limit=300, seed=4)
    longer = train(config.replace(epochs=3), tmp_path / "a", dataset=fashion_data)
    run_dir = train(config, tmp_path / "b", dataset=fashion_data)
    with pytest.raises(runs.RunError, match="complete"):
        plan_resume(run_dir)
    with pytest.raises(runs.RunError, match="not more than the 2 epochs"):
        plan_resume(run_dir, epochs=2)
    resume(run_dir, epochs=3, dataset=fashion_data)
    run = runs.read_run(run_dir)
    assert run.status == "completed" and run.config["epochs"] == 3
    np.testing.assert_allclose(run.history()["val_loss"], runs.read_run(longer).history()["val_loss"], rtol=1e-5)


@pytest.mark.backend
def test_a_cancelled_run_resumes_from_its_last_whole_epoch(tmp_path, fashion_data):
    """Stop mid-epoch 2: the cut-short epoch is in the history and the model, not in the checkpoint."""
    class CancelInEpoch2(BaseListener):
        cancel = False

        def on_batch(self, epoch, step, steps):
            self.cancel = self.cancel or (epoch == 2 and step >= 3)

    listener = CancelInEpoch2()
    config = TrainConfig(epochs=3, limit=300, seed=2)
    run_dir = train(config, tmp_path, dataset=fashion_data, listener=listener, should_stop=lambda: listener.cancel)
    assert runs.read_run(run_dir).status == "cancelled" and len(runs.read_run(run_dir).history()) == 2
    assert checkpoint.describe(run_dir)["epoch"] == 1
    resume(run_dir, dataset=fashion_data)
    run = runs.read_run(run_dir)
    assert run.status == "completed" and list(run.history()["epoch"]) == [1, 2, 3]
    assert [s["from_epoch"] for s in run.record["segments"]] == [0, 1]


def test_a_checkpoint_from_tensorflow_continues_under_jax(tmp_path, fashion_dir, fashion_data):
    """Trained 2 epochs under TensorFlow (here, in the suite's TensorFlow pass), then resumed to 4 by a JAX process."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("starts under TensorFlow")
    config = TrainConfig(architecture="fmnist_arch2", depth=2, units=32, dropout=0.2, epochs=2, limit=300)
    run_dir = train(config, tmp_path, dataset=fashion_data)
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax"}
    second = subprocess.run([sys.executable, "-m", "core", "resume", str(run_dir), "--epochs", "4", "--data-dir",
                             str(fashion_dir)], env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stdout and second.stdout.strip().splitlines()[-1] == str(run_dir)
    run = runs.read_run(run_dir)
    assert run.status == "completed" and list(run.history()["epoch"]) == [1, 2, 3, 4]
    assert [s["backend"] for s in run.record["segments"]] == ["tensorflow", "jax"]
    assert run.history()["val_loss"].iloc[-1] < run.history()["val_loss"].iloc[0]
    assert run.metrics()["test_accuracy"] > 0.5


# --- refusing what cannot be resumed: one line, status 2, nothing changed ----------------------------

def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, fashion_data):
    """A run killed after epoch 1 of 3, with its checkpoint (a template: tests copy it)."""
    runs_dir = tmp_path_factory.mktemp("stopped")
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(epochs=3, limit=300, schedule="cosine"), runs_dir, dataset=fashion_data,
                       listener=StopAfter(1))
    (run_dir,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return run_dir


def damage(name):
    def apply(run_dir):
        if name == "no checkpoint":
            checkpoint.remove(run_dir)
        elif name == "damaged arrays":
            (npz,) = checkpoint.folder(run_dir).glob("*.npz")
            npz.write_bytes(npz.read_bytes()[:-100])
        elif name == "missing arrays":
            (npz,) = checkpoint.folder(run_dir).glob("*.npz")
            npz.unlink()
        elif name == "damaged state":
            (checkpoint.folder(run_dir) / checkpoint.STATE_FILE).write_text("{not json")
        elif name == "other checkpoint format":
            path = checkpoint.folder(run_dir) / checkpoint.STATE_FILE
            path.write_text(json.dumps({**json.loads(path.read_text()), "format_version": 99}))
        elif name == "other run schema":
            runs.update_record(run_dir, schema_version=0)
        elif name == "longer schedule":
            return ["--epochs", "5"]
        elif name == "still training":
            runs.update_record(run_dir, status="running", worker={"host": os.uname().nodename, "pid": os.getpid()})
        return []
    return apply


@pytest.mark.parametrize("case, message", [
    ("no checkpoint", "has no checkpoint"),
    ("damaged arrays", "damaged"),
    ("missing arrays", "missing"),
    ("damaged state", "damaged"),
    ("other checkpoint format", "format 99"),
    ("other run schema", "run format 0"),
    ("longer schedule", "cosine learning-rate schedule"),
    ("still training", "still training"),
])
def test_resume_refuses_with_one_line_and_changes_nothing(tmp_path, stopped_run, run_cli, case, message):
    import shutil

    run_dir = tmp_path / stopped_run.name
    shutil.copytree(stopped_run, run_dir)
    extra = damage(case)(run_dir)
    before = snapshot(run_dir)
    status, out, err = run_cli(["resume", run_dir, *extra])
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and out == ""
    assert snapshot(run_dir) == before


def test_resume_of_a_folder_that_is_no_run_says_so(tmp_path, run_cli):
    status, _, err = run_cli(["resume", tmp_path / "nothing-here"])
    assert status == 2 and "is not a run folder" in err


def test_pretrain_resumes_an_interrupted_run_saved_before_newer_config_fields(tmp_path, fashion_dir, run_cli):
    """A preset's run stopped after epoch 1, its config written before early_stopping and reduce_lr existed:
    `pretrain` continues it from its checkpoint instead of starting the preset again."""
    class CancelInEpoch2(BaseListener):
        cancel = False

        def on_batch(self, epoch, step, steps_per_epoch):
            self.cancel = self.cancel or epoch == 2

    listener = CancelInEpoch2()
    config = presets.get("fmnist-arch1-tr1").config.replace(epochs=2)
    run_dir = train(config, tmp_path, runs.RunLabels("fmnist-arch1-tr1", "fmnist-arch1-tr1"), data_dir=fashion_dir,
                    listener=listener, should_stop=lambda: listener.cancel)
    older = {k: v for k, v in runs.read_run(run_dir).config.items() if k not in ("early_stopping", "reduce_lr")}
    runs.update_record(run_dir, config=older)
    status, out, err = run_cli(["pretrain", "--only", "fmnist-arch1-tr1", "--epochs", "2", "--out", tmp_path,
                                "--data-dir", fashion_dir])
    assert status == 0, err
    assert f"resuming {run_dir}" in out and [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [run_dir.name]
    run = runs.read_run(run_dir)
    assert run.status == "completed" and [s["from_epoch"] for s in run.record["segments"]] == [0, 1]


def test_pretrain_keeps_a_shortened_runs_checkpoint_and_a_later_pretrain_extends_that_run(tmp_path, fashion_dir, run_cli):
    """How the long CIFAR-100 runs ship part-way: `--epochs 1` keeps its checkpoint (the preset asks 50, at a
    constant rate); `--epochs 2` then continues the same run instead of starting another, and stops there."""
    pretrain = ["pretrain", "--only", "fmnist-arch1-tr1", "--out", tmp_path, "--data-dir", fashion_dir, "--epochs"]
    status, out, err = run_cli([*pretrain, "1"])
    assert status == 0, err
    [run_dir] = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert "1 of the preset's 50 epochs; its checkpoint stays" in out and checkpoint.load(run_dir).epoch == 1

    status, out, err = run_cli([*pretrain, "2"])
    assert status == 0, err
    assert f"resuming {run_dir} (2 epochs in all)" in out
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [run_dir.name]
    run = runs.read_run(run_dir)
    assert run.status == "completed" and run.config["epochs"] == 2 and len(run.history()) == 2
    assert [s["from_epoch"] for s in run.record["segments"]] == [0, 1] and checkpoint.load(run_dir).epoch == 2

    status, out, _ = run_cli([*pretrain, "2"])
    assert status == 0 and "fmnist-arch1-tr1: already in" in out
