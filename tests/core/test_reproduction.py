"""core.analysis.reproduction: a trial is reproduced only by a finished run with its exact settings."""

from core.analysis import reproduction
from core.networks.presets import PRESETS
from core.storage import archive, listing, runs
from tools.fake_runs import make_config, write_run


def run_of(folder, preset, minute, status="completed", **changes):
    path = write_run(folder, name=f"{preset} {minute}", y_true=[0, 1, 2], y_pred=[0, 1, 1], preset=preset, status=status,
                     config=make_config(preset=preset, **changes), created=f"2026-11-20T10:{minute:02d}:00+00:00")
    return path


def test_only_a_run_with_the_presets_exact_settings_reproduces_it(tmp_path):
    faithful = run_of(tmp_path, "cifar-arch3", 1)
    quick = run_of(tmp_path, "cifar-arch3", 2, epochs=2, limit=2000)  # newer, but a quick experiment
    seeded = run_of(tmp_path, "fmnist-arch1-tr1", 3, seed=7)  # another seed is still the trial
    failed = run_of(tmp_path, "fmnist-arch2-tr1", 4, status="failed")
    listed = listing.list_runs(tmp_path, pretrained_dir=None)
    found = reproduction.reproductions(listed)
    assert {k: v.path for k, v in found.items()} == {"cifar-arch3": faithful, "fmnist-arch1-tr1": seeded}
    others = reproduction.variants(listed, found)
    assert [r.path for r in others["cifar-arch3"]] == [quick] and "fmnist-arch2-tr1" not in others
    assert failed.exists()


def test_a_shipped_run_cut_short_stands_in_for_its_trial_until_a_reproduction_exists(tmp_path):
    """Of the runs that only trained fewer epochs, the shipped one that went furthest; never a student's own run,
    nor a shipped run that changed anything else."""
    own, shipped = tmp_path / "runs", tmp_path / "pretrained"
    run_of(shipped, "cifar-arch3", 1, epochs=8)
    twelve = run_of(shipped, "cifar-arch3", 2, epochs=12, seed=3)
    run_of(shipped, "cifar-arch3", 3, epochs=20, limit=2000)
    run_of(own, "cifar-arch3", 4, epochs=30)
    run_of(shipped, "cifar-arch3", 5, epochs=40, status="cancelled")
    listed = listing.list_runs(own, pretrained_dir=shipped)
    others = reproduction.variants(listed, reproduction.reproductions(listed))
    assert reproduction.shortened(PRESETS["cifar-arch3"], others["cifar-arch3"]).path == twelve
    assert reproduction.shortened(PRESETS["cifar-arch3"], [r for r in others["cifar-arch3"] if not r.shipped]) is None


def test_departures_and_gaps_are_said_in_words():
    preset = PRESETS["fmnist-arch1-tr2"]
    config = {**preset.config.to_dict(), "epochs": 5, "limit": 1000, "l2": 0.025}
    assert reproduction.departures(preset, config) == ("L2 0.025 instead of 0.05; trained 5 of 50 epochs; "
                                                       "trained on the first 1,000 training images only")
    gaps = reproduction.gap_phrases(preset, {"train_accuracy": 0.80, "val_accuracy": 0.72})
    assert gaps == ["training accuracy is 8.9 points above the report's"]
    assert reproduction.report_number(0.9433, True) == "94.33%" and reproduction.report_number(0.5, False) == "0.5"
    assert reproduction.difference(0.8926, 0.8906, True) == "+0.2 points"


def test_an_imported_run_of_the_trials_exact_settings_is_a_variant_not_its_reproduction(tmp_path):
    """Its numbers were computed on another machine and could say anything: the report lists it, never stands on it."""
    elsewhere = runs.read_run(run_of(tmp_path / "elsewhere", "cifar-arch3", 1))
    imported = archive.import_run(archive.export_run(elsewhere), tmp_path / "runs")
    listed = listing.list_runs(tmp_path / "runs", pretrained_dir=None)
    assert reproduction.reproductions(listed) == {}
    others = reproduction.variants(listed, {})
    assert [r.id for r in others["cifar-arch3"]] == [imported.id]
    assert reproduction.variant_change(PRESETS["cifar-arch3"], others["cifar-arch3"][0]) == "imported (trained elsewhere)"
    short = archive.import_run(archive.export_run(runs.read_run(run_of(tmp_path / "elsewhere", "cifar-arch3", 2, epochs=2))),
                            tmp_path / "runs")
    assert reproduction.variant_change(PRESETS["cifar-arch3"], short) == "imported (trained elsewhere); trained 2 of 50 epochs"
