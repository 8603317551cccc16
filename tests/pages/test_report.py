"""The Report page: the report's numbers beside fake reproductions, driven through Streamlit's AppTest."""

from __future__ import annotations

from run_factory import reproduce, texts

from core.networks.presets import PRESETS
from core.storage import archive, runs

BEST = "fmnist-arch2-tr1"  # the report's best model, the one with an interval


def card_tables(at):
    """The comparison table of every reproduced trial on the page, in page order (trials not yet
    reproduced have a table of the report's figures alone)."""
    return [t.value for t in at.table if "Reproduction" in t.value.columns]


def test_report_numbers_beside_a_reproduction(dirs, app, open_page):
    shipped = dirs["pretrained"]
    path = reproduce(shipped, BEST, train=(0.9512, 0.183), val=(0.8926, 0.391))
    runs.update_record(path, finished="2026-11-20T11:00:00+00:00", environment={"device": "CPU (Test, 2 cores)"})
    at = open_page(app, "pages/report.py")
    assert not at.exception
    assert "(0.1024, 0.1145)" in texts(at.markdown)  # the report's interval, in its own words

    [table] = card_tables(at)
    assert table.loc["Training accuracy"].tolist() == ["94.86%", "95.12%", "+0.3 points"]
    assert table.loc["Validation accuracy"].tolist() == ["89.06%", "89.26%", "+0.2 points"]
    assert table.loc["Training loss"].tolist() == ["0.19", "0.183", "-0.007"]
    assert table.loc["Validation loss"].tolist() == ["0.4", "0.391", "-0.009"]
    # 22 mistakes in 200: test accuracy 89.0 %, with its interval, and beside the report's.
    line = texts(at.markdown)
    assert "**Test accuracy 89.0%**, 95 % interval" in line
    assert "against the report's (0.1024, 0.1145): they overlap." in line
    assert not at.warning  # close to the report: nothing to explain

    not_trained = texts(at.info)
    for preset in PRESETS:
        if preset != BEST:
            assert ("Not reproduced yet: no finished run trained here or shipped has this trial's settings. "
                    f"`python -m core pretrain --only {preset}`") in not_trained
    assert f"--only {BEST}`" not in not_trained
    assert f"1 of {len(PRESETS)} trials reproduced" in texts(at.caption)
    assert ("Reproduced by a shipped run, finished 2026-11-20. Trained 4 min 20 s on CPU (Test, 2 cores)."
            in [texts([caption]) for caption in at.caption])
    report_only = [t.value for t in at.table if "Reproduction" not in t.value.columns]
    assert report_only[0].loc["Training accuracy", "Report"] == "94.33%"  # trial 1, §5.1.1, not trained here


def test_a_large_gap_says_why(dirs, app, open_page):
    shipped = dirs["pretrained"]
    reproduce(shipped, "fmnist-arch1-tr2", train=(0.80, 1.0), val=(0.79, 1.0))
    at = open_page(app, "pages/report.py")
    [why] = [w.value for w in at.warning]
    assert why.startswith("Training accuracy is 8.9 points above the report's; validation accuracy is 7.2 points above")
    assert "Likely reason:" in why and "L2" in why


def test_a_quick_experiment_is_a_variant_and_never_stands_for_the_trial(dirs, app, open_page):
    """A student's 2-epoch run on 2,000 images of CIFAR Arch 3 beside the faithful shipped one: the shipped run
    is the reproduction, the student's is listed apart with what it changed; the count stays honest."""
    own, shipped = dirs["runs"], dirs["pretrained"]
    reproduce(shipped, "cifar-arch3", train=(0.95, 0.9), val=(0.42, 3.1), minute=1, name="faithful")
    reproduce(own, "cifar-arch3", train=(0.02, 4.5), val=(0.016, 4.6), minute=2, name="quick try", epochs=2, limit=2000)
    at = open_page(app, "pages/report.py")
    [table] = card_tables(at)
    assert table.loc["Validation accuracy", "Reproduction"] == "42.00%"
    assert "“faithful”" in texts(at.caption) and f"1 of {len(PRESETS)} trials reproduced" in texts(at.caption)
    [variants] = [d.value for d in at.dataframe]
    assert variants["Run"].tolist() == ["quick try"]
    assert variants["Changed"].tolist() == ["trained 2 of 50 epochs; trained on the first 2,000 training images only"]


def test_an_imported_run_of_the_trials_settings_is_listed_as_imported_and_does_not_reproduce_it(dirs, app, open_page,
                                                                                                 tmp_path):
    """Its 99 % could have been typed into the zip: the page lists it, marked, and keeps the count honest."""
    made_elsewhere = reproduce(tmp_path / "elsewhere", "cifar-arch3", train=(0.99, 0.1), val=(0.99, 0.1), name="too good")
    archive.import_run(archive.export_run(runs.read_run(made_elsewhere)), dirs["runs"])
    at = open_page(app, "pages/report.py")
    assert f"0 of {len(PRESETS)} trials reproduced" in texts(at.caption)
    assert "Not reproduced yet: no finished run trained here or shipped has this trial's settings. `python -m core " \
           "pretrain --only cifar-arch3`" in texts(at.info)
    [variants] = [d.value for d in at.dataframe]
    assert variants["Run"].tolist() == ["too good"] and variants["Changed"].tolist() == ["imported (trained elsewhere)"]


def test_a_shortened_run_alone_does_not_reproduce_its_trial(dirs, app, open_page):
    own = dirs["runs"]
    reproduce(own, "cifar-arch3", train=(0.55, 1.7), val=(0.34, 2.6), epochs=5)
    at = open_page(app, "pages/report.py")
    assert "Not reproduced yet" in texts(at.info) and f"0 of {len(PRESETS)} trials reproduced" in texts(at.caption)
    [variants] = [d.value for d in at.dataframe]
    assert variants["Changed"].tolist() == ["trained 5 of 50 epochs"] and variants["Whose"].tolist() == ["yours"]


def test_a_shipped_run_of_fewer_epochs_shows_its_figures_and_says_it_stopped_short(dirs, app, open_page):
    path = reproduce(dirs["pretrained"], "cifar-arch3", train=(0.71, 1.4), val=(0.40, 2.5), epochs=12, name="Arch 3, part-way")
    sitting = {"device": "CPU (Test, 2 cores)", "status": "completed"}
    runs.update_record(path, segments=[{**sitting, "from_epoch": 0, "to_epoch": 5, "seconds": 2400.0},
                                       {**sitting, "from_epoch": 5, "to_epoch": 12, "seconds": 3600.0}])
    at = open_page(app, "pages/report.py")
    [table] = [t.value for t in at.table if "After 12 epochs" in t.value.columns]
    assert table.loc["Training accuracy"].tolist() == ["95%", "71.00%", "-24.0 points"]
    assert table.loc["Validation accuracy"].tolist() == ["42%", "40.00%", "-2.0 points"]
    assert ("Not reproduced yet: the shipped run “Arch 3, part-way” trained 12 of the trial's 50 epochs, so its figures "
            "below are after epoch 12, not 50.") in texts(at.info)
    assert "**Test accuracy 89.0%**" in texts(at.markdown)
    assert f"0 of {len(PRESETS)} trials reproduced" in texts(at.caption)
    assert ("Trained 1 h 40 min on CPU (Test, 2 cores), in 2 sittings (resumed once from a checkpoint)."
            in [texts([caption]) for caption in at.caption])
    assert not at.dataframe  # shown in the card, so not listed again as a variant


def test_the_newest_completed_run_of_a_preset_counts(dirs, app, open_page):
    own, shipped = dirs["runs"], dirs["pretrained"]
    reproduce(shipped, BEST, val=(0.85, 0.4), minute=1, name="older shipped")
    reproduce(own, BEST, val=(0.88, 0.4), minute=2, name="newer of yours")
    reproduce(own, BEST, val=(0.99, 0.4), minute=3, name="newest, failed", status="failed")
    at = open_page(app, "pages/report.py")
    [table] = card_tables(at)
    assert table.loc["Validation accuracy", "Reproduction"] == "88.00%"
    assert "“newer of yours”" in texts(at.caption)


def test_departures_from_the_preset_are_spelled_out(dirs, app, open_page):
    shipped = dirs["pretrained"]
    preset = PRESETS["fmnist-arch1-tr2"]
    reproduce(shipped, preset.id, l2=preset.config.l2 / 2, limit=1000, train=(0.71, 1.3), val=(0.72, 1.3))
    at = open_page(app, "pages/report.py")
    [variants] = [d.value for d in at.dataframe]
    said = variants["Changed"].iloc[0]
    assert f"L2 {preset.config.l2 / 2:g} instead of {preset.config.l2:g}" in said
    assert "trained on the first 1,000 training images only" in said


def test_the_report_page_draws_accuracy_against_images_per_class_beside_its_conclusions(dirs, app, open_page):
    from tools.fake_runs import per_class_run

    at = open_page(app, "pages/report.py")
    assert "Accuracy against images per class" not in [s.value for s in at.subheader]  # no curve's runs yet
    for minute, (n, start, right) in enumerate([(10, None, 20), (10, "fine_tune", 45), (100, None, 40),
                                                (100, "fine_tune", 70)]):
        per_class_run(dirs["runs"], n, start, right, minute)
    at = open_page(app, "pages/report.py")
    assert not at.exception
    assert "Accuracy against images per class" in [s.value for s in at.subheader]
    verdicts = next(d.value for d in at.dataframe if "images per class" in d.value.columns)
    assert verdicts["fine-tuned"].tolist() == ["really better (p < 0.0001)"] * 2
