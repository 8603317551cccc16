"""`python -m core`: presets, data, train, runs; every bad input is one line on stderr and exit status 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.networks import presets
from core.storage import listing, runs

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def assert_one_line_error(status, err, *fragments):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("python -m core: error: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_presets_lists_every_preset_id_first(run_cli):
    status, out, _ = run_cli(["presets"])
    lines = out.strip().splitlines()
    assert status == 0 and [line.split()[0] for line in lines] == list(presets.PRESETS)
    best = next(line for line in lines if line.startswith("fmnist-arch2-tr1 "))
    assert "train 94.86%, val 89.06%" in best and "(0.1024, 0.1145)" in best


def test_data_reports_where_each_dataset_is_or_how_to_get_it(tmp_path, writers, sealed_data, run_cli):
    writers.fashion(tmp_path, 10, 5)
    status, out, _ = run_cli(["data", "--data-dir", tmp_path])
    assert status == 0
    assert f"Fashion-MNIST: data directory {tmp_path}" in out
    assert "CIFAR-100: not found. To get it: put cifar100.npz" in out
    writers.cifar_python(sealed_data.cache / "cifar-100-python", n_train=4, n_test=2)
    status, out, _ = run_cli(["data"])
    assert "Fashion-MNIST: not found. To get it:" in out and "apt-get install dataset-fashion-mnist" in out
    assert f"CIFAR-100: Keras cache {sealed_data.cache / 'cifar-100-python'}" in out


@pytest.mark.backend
def test_train_prints_the_run_folder_last_and_runs_lists_it(tmp_path, fashion_dir, run_cli):
    runs_dir = tmp_path / "runs"
    status, out, err = run_cli(["train", "--preset", "fmnist-arch1-tr1", "--data-dir", fashion_dir, "--limit", 300,
                                "--epochs", 1, "--runs-dir", runs_dir, "--name", "from the CLI"])
    assert status == 0, err
    lines = out.strip().splitlines()
    run_dir = Path(lines[-1])
    assert run_dir.parent == runs_dir and run_dir.is_dir()
    run = runs.read_run(run_dir)
    assert run.status == "completed" and run.name == "from the CLI"
    assert run.record["differs_from_preset"] == {"epochs": [50, 1], "limit": [0, 300]}
    accuracy = f"{run.metrics()['test_accuracy']:.2%}"
    assert lines[-2].startswith(f"completed: test accuracy {accuracy}, 95% CI of the error (")
    assert any(line.startswith("epoch 1/1") for line in lines) and any("val_accuracy" in line for line in lines)

    status, out, _ = run_cli(["runs", "--runs-dir", runs_dir])
    (line,) = out.strip().splitlines()
    assert status == 0 and line.split()[:4] == [run.id, "completed", accuracy, "own"] and line.endswith("from the CLI")


def test_runs_lists_status_accuracy_and_problems(tmp_path, fake_run, run_cli):
    status, out, _ = run_cli(["runs", "--runs-dir", tmp_path / "none"])
    assert status == 0 and "no runs in" in out
    good = fake_run(tmp_path, "good one", accuracy=0.75)
    broken = fake_run(tmp_path, "broken one")
    (broken / runs.PREDICTIONS_FILE).unlink()
    status, out, _ = run_cli(["runs", "--runs-dir", tmp_path])
    rows = {line.split()[0]: line for line in out.strip().splitlines()}
    assert rows[good.name].split()[1:3] == ["completed", "75.00%"]
    assert rows[broken.name].split()[1:3] == ["broken", "—"] and "(completed run lacks predictions.npz)" in rows[broken.name]


@pytest.mark.parametrize("argv, fragments", [
    (["train", "--preset", "nope"], ["unknown preset 'nope'"]),
    (["train", "--preset", "fmnist-arch1-tr1", "--set", "dropout=2"],
     ["dropout = 2.0 is out of range: it must be between 0.0 and 0.9"]),
    (["train", "--set", "nosuchfield=1"], ["unknown config field(s): nosuchfield"]),
    (["train", "--set", "dropout=abc"], ["dropout must be a number, got 'abc'"]),
    (["train", "--set", "dropout"], ["--set expects FIELD=VALUE, got 'dropout'"]),
    (["train", "--set", "architecture=cifar_arch1"], ["'cifar_arch1' is for cifar100, not for dataset 'fashion_mnist'"]),
    (["train", "--epochs", "0"], ["epochs = 0 is out of range: it must be between 1 and 300"]),
    (["train", "--preset", "fmnist-arch1-tr1", "--name", "a/b"], ["cannot contain '/'"]),
    (["train", "--data-dir", "/no/such/folder"], ["--data-dir /no/such/folder is not a folder"]),
    (["data", "--data-dir", "/no/such/folder"], ["--data-dir /no/such/folder is not a folder"]),
    (["pretrain", "--only", "nope", "--out", "/tmp/unused"], ["unknown preset(s) nope"]),
])
def test_bad_arguments_one_line_exit_2(argv, fragments, run_cli, tmp_path):
    status, out, err = run_cli(argv + ["--runs-dir", tmp_path] if argv[0] == "train" else argv)
    assert_one_line_error(status, err, *fragments)
    assert not any(tmp_path.iterdir())  # nothing was trained


def test_missing_dataset_one_line_exit_2(tmp_path, run_cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run_cli(["train", "--preset", "cifar-arch1-lr0.01", "--epochs", 1, "--data-dir", empty,
                              "--runs-dir", tmp_path / "runs"])
    assert_one_line_error(status, err, "CIFAR-100 not found (looked in: data directory", "Keras cache",
                          "no network in tests", "To get it: put cifar100.npz")
    (run,) = listing.list_runs(tmp_path / "runs", pretrained_dir=None)
    assert run.status == "failed"  # the attempt is recorded, never as completed


def test_real_process_presets_and_a_bad_argument():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "core", "presets"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.splitlines()[0].startswith("fmnist-arch1-tr1 ")
    done = subprocess.run([sys.executable, "-m", "core", "train", "--set", "dropout=2"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == ("python -m core: error: dropout = 2.0 is out of range: it must be between 0.0 and 0.9")


def test_a_run_trained_under_jax_never_imports_tensorflow(tmp_path, fashion_dir):
    """Keras seeds tf.random whenever TensorFlow is installed; under JAX that import alone cost a worker or a CLI run
    5-10 s of CPU (core.training.compiling.seed_everything). A whole run, saved and evaluated, needs none of it."""
    code = ("import sys; from core.cli.main import main; status = main(sys.argv[1:]); "
            "print('tensorflow imported' if 'tensorflow' in sys.modules else 'no tensorflow'); sys.exit(status)")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code, "train", "--preset", "fmnist-arch1-tr1", "--limit", "64",
                           "--epochs", "1", "--data-dir", str(fashion_dir), "--runs-dir", str(tmp_path / "runs")],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "no tensorflow"
    (run,) = listing.list_runs(tmp_path / "runs", pretrained_dir=None)
    assert run.status == "completed" and run.record["segments"][0]["backend"] == "jax"


def test_argparse_errors_exit_2(run_cli):
    status, _, err = run_cli(["train", "--epochs", "many"])
    assert status == 2 and "invalid int value: 'many'" in err and "Traceback" not in err
    status, _, err = run_cli(["fly"])
    assert status == 2 and "invalid choice: 'fly'" in err
