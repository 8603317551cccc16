"""core.analysis.estimate: how long a run will take here, from the runs that finished before; time left while training."""

import time

import pytest

from core.analysis import estimate
from core.networks.config import TrainConfig
from core.storage import runs
from core.system.files import write_csv
from tools.fake_runs import make_config, make_history, write_run

CPU = "CPU (AMD EPYC, 2 cores)"


def finished(folder, *, epoch_s, device=CPU, batch=32, shipped=False, **config):
    """A finished Fashion-MNIST Arch 1 run of 4 epochs (the first 3 s slower: compilation)."""
    cfg = make_config(preset="fmnist-arch1-tr1", epochs=4, batch_size=batch, **config)
    history = make_history(4, 0.9, 0.88, 0.3, 0.35).assign(seconds=[epoch_s + 3, epoch_s, epoch_s, epoch_s])
    path = write_run(folder, name="r", y_true=[0, 1], y_pred=[0, 1], preset="fmnist-arch1-tr1", config=cfg, history=history,
                     environment={"backend": "tensorflow", "device": device})
    runs.update_record(path, durations={"data_s": 1.0, "fit_s": 4 * epoch_s + 3, "evaluate_s": 2.0, "total_s": 4 * epoch_s + 6})
    return runs.read_run(path, shipped=shipped)


def test_a_config_is_timed_from_runs_of_its_network_on_this_machine(tmp_path):
    run = finished(tmp_path, epoch_s=10.0)
    guess = estimate.estimate_run(TrainConfig(architecture="fmnist_arch1", epochs=20), [run], CPU)
    assert guess.epoch_s == pytest.approx(10.0)  # same images per epoch, same network and batch
    assert guess.startup_s == pytest.approx(3 + 1) and guess.test_s == pytest.approx(2.0)
    assert guess.total_s == pytest.approx(4 + 20 * 10 + 2) and not guess.long
    assert guess.basis.endswith("on this machine (AMD EPYC, 2 cores)")


def test_fewer_images_and_a_smaller_network_take_less_time(tmp_path):
    run = finished(tmp_path, epoch_s=10.0)
    half = estimate.estimate_run(TrainConfig(architecture="fmnist_arch1", limit=30000), [run], CPU)
    assert half.epoch_s == pytest.approx(5.0)
    narrow = estimate.estimate_run(TrainConfig(architecture="fmnist_arch1", units=100), [run], CPU)
    assert narrow.epoch_s == pytest.approx(5.0)  # half the multiply-adds per image


def test_this_machines_runs_count_before_shipped_ones_and_other_machines_are_said_so(tmp_path):
    shipped = finished(tmp_path / "s", epoch_s=20.0, device="CPU (Intel Xeon, 2 cores)", shipped=True)
    elsewhere = estimate.estimate_run(TrainConfig(architecture="fmnist_arch1"), [shipped], CPU)
    assert elsewhere.basis == "from 1 finished run of this network on another CPU (Intel Xeon, 2 cores)"
    assert elsewhere.elsewhere
    here = finished(tmp_path / "h", epoch_s=10.0)
    guess = estimate.estimate_run(TrainConfig(architecture="fmnist_arch1"), [shipped, here], CPU)
    assert guess.epoch_s == pytest.approx(10.0) and not guess.elsewhere
    assert estimate.estimate_run(TrainConfig(architecture="fmnist_arch2"), [here], CPU) is None  # never ran here


def test_over_ten_minutes_is_long():
    assert estimate.Estimate(601, 10, 1, 1, "").long and not estimate.Estimate(599, 10, 1, 1, "").long


def test_time_left_counts_the_final_test_and_ignores_the_compiling_first_epoch():
    progress = {"epoch": 4, "epochs": 10, "step": 10, "steps": 20, "images": 51000, "updated": time.time()}
    # Epochs 2 and 3 took 2 s: 6.5 epochs left, then two forward passes over 10,000 images at 51,000 per 2 s.
    left = estimate.time_left(progress, [9.0, 2.0, 2.0], 10)
    assert left == pytest.approx(6.5 * 2 + 2 / 3 * 10000 / 51000 * 2)
    prior = estimate.Estimate(100, 2.5, 4, 30, "")
    assert estimate.time_left({**progress, "epoch": 1, "step": 5}, [], 10, prior) == pytest.approx(9.75 * 2.5 + 30)


def test_a_runs_own_first_epoch_outweighs_an_estimate_from_other_hardware():
    """On a fresh machine the estimate comes from the shipped runs, trained elsewhere: 8 s an epoch there, where the
    class's first epoch took 2 s here (2026-12-08, "about 5 min 14 s" shown 11 s into runs that took 111 s)."""
    progress = {"epoch": 2, "epochs": 6, "step": 0, "steps": 1594, "images": 51000, "updated": time.time()}
    shipped = estimate.Estimate(59, 8.0, 3, 1, "from 4 finished runs of this network on another CPU", elsewhere=True)
    here = estimate.Estimate(59, 8.0, 3, 1, "from 4 finished runs of this network on this machine")
    assert estimate.time_left(progress, [2.0], 6, shipped) == pytest.approx(5 * 2.0 + 1)
    assert estimate.time_left(progress, [2.0], 6, here) == pytest.approx(5 * 8.0 + 1)  # this machine's own runs
    assert estimate.time_left({**progress, "epoch": 1, "step": 10}, [], 6, shipped) == pytest.approx(
        (6 - 10 / 1594) * 8.0 + 1)  # nothing better before the first epoch ends (it also compiles)


def test_after_the_last_epoch_the_time_left_is_the_test_counting_down():
    prior = estimate.Estimate(100, 2.5, 4, 30, "")
    now = time.time()
    progress = {"epoch": 10, "epochs": 10, "step": 20, "steps": 20, "updated": now - 12}
    assert estimate.time_left(progress, [2.0] * 10, 10, prior, now=now) == pytest.approx(18)
    assert estimate.time_left({**progress, "updated": now - 100}, [2.0] * 10, 10, prior, now=now) == 1.0  # never "0 s"


def test_a_run_is_measured_once_until_its_history_changes(tmp_path, monkeypatch):
    run = finished(tmp_path, epoch_s=10.0)
    reads = []
    real = runs.Run.history
    monkeypatch.setattr(runs.Run, "history", lambda self: reads.append(self.path) or real(self))
    first = estimate.measure(run)
    assert estimate.measure(run) == first and len(reads) == 1, "a waiting page asks every few seconds"
    history = real(run).assign(seconds=[23.0, 20.0, 20.0, 20.0])
    write_csv(run.path / runs.HISTORY_FILE, history)
    assert estimate.measure(runs.read_run(run.path)).images_per_s == pytest.approx(first.images_per_s / 2)
    assert len(reads) == 2


def test_a_run_from_elsewhere_without_usable_times_gives_no_estimate_and_no_error(tmp_path):
    sound = finished(tmp_path / "sound", epoch_s=10.0)
    for folder, history in (("no-times", make_history(4, 0.9, 0.88, 0.3, 0.35).drop(columns=["seconds"])),
                            ("text-times", make_history(4, 0.9, 0.88, 0.3, 0.35).assign(seconds=["fast", "", "x", "y"]))):
        run = finished(tmp_path / folder, epoch_s=10.0)
        write_csv(run.path / runs.HISTORY_FILE, history)
        odd = runs.read_run(run.path)
        assert estimate.measure(odd) is None
        guess = estimate.estimate_run(TrainConfig(architecture="fmnist_arch1", epochs=20), [odd, sound], CPU)
        assert guess.epoch_s == pytest.approx(10.0)  # the sound run still times it


def test_an_extreme_config_is_scaled_by_its_batch_and_size_and_says_it_is_a_guess(tmp_path):
    """Batch 32 and 200 units at 2 s an epoch (Arch 1 here); batch 8 and 1,024 units took 24-30 s an epoch (issue 32)."""
    run = finished(tmp_path, epoch_s=2.0)
    extreme = estimate.estimate_run(TrainConfig(architecture="fmnist_arch1", units=1024, batch_size=8, epochs=300),
                                    [run], CPU)
    assert 20 <= extreme.epoch_s <= 35 and extreme.total_s > 1.5 * 3600
    assert extreme.guess and extreme.basis.endswith("scaled to batch 8 and this network's size: a guess")
    same = estimate.estimate_run(TrainConfig(architecture="fmnist_arch1", epochs=20), [run], CPU)
    assert not same.guess and same.epoch_s == pytest.approx(2.0)
    bigger_batch = estimate.estimate_run(TrainConfig(architecture="fmnist_arch1", batch_size=128), [run], CPU)
    assert bigger_batch.epoch_s < 2.0 and bigger_batch.guess


def test_a_run_taking_turns_ends_later_by_the_others_share_of_the_worker():
    assert estimate.shared_finish(10.0, []) == 10.0
    # A 5-second run ends first (it takes half the worker for 10 s); a 20-second one shares all of this run's time.
    assert estimate.shared_finish(10.0, [5.0, 20.0]) == pytest.approx(10 + 5 + 10)
