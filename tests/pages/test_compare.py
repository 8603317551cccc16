"""The Compare page, driven through Streamlit's AppTest on small fake runs."""

from __future__ import annotations

import json

from run_factory import cifar_run, fashion_run, texts, write_broken

from core.networks.config import FIELDS
from core.storage import archive, edits, runs
from ui.runs_view import field_label


def chosen(at) -> list[str]:
    """The runs ticked in Compare's table."""
    return at.session_state["compare.select"]


def tick(at, run_ids):
    """Tick exactly these runs, as a hand-over from another page does (AppTest cannot click into a data editor)."""
    at.session_state["nav.compare_runs"] = list(run_ids)
    return at.run()


def table_rows(at) -> list[str]:
    """The runs' table: each row's "Name · Whose · test accuracy", as a student reads it."""
    table = at.dataframe[0].value
    return [f"{n} · {w} · test {a:.1f}%" for n, w, a in zip(table["Name"], table["Whose"], table["Test acc. (%)"])]


def names_on_disk(folder):
    return sorted(json.loads(p.read_text())["name"] for p in folder.glob("*/run.json"))


def test_two_runs_side_by_side(dirs, app, open_page):
    own = dirs["runs"]
    a = fashion_run(own, "baseline", range(0, 10), 1, dropout=0.2)
    b = fashion_run(own, "more dropout", range(0, 50), 2, dropout=0.3, learning_rate=1e-4)
    at = open_page(app, "pages/compare.py")
    assert not at.exception
    assert sorted(chosen(at)) == sorted([a.name, b.name])  # the two newest

    # Exactly the hyperparameters that differ, one column per run; all of them on the toggle.
    table = at.table[0].value
    assert sorted(table.index) == sorted([field_label("dropout"), field_label("learning_rate")])
    assert list(table.columns) == ["more dropout", "baseline"]
    assert table.loc[field_label("dropout")].tolist() == ["0.3", "0.2"]
    at.toggle(key="compare.all_params").set_value(True).run()
    assert len(at.table[0].value) == len(FIELDS)

    results = at.table[1].value
    assert results.loc["baseline", "Test accuracy"] == "95.0%"
    assert results.loc["more dropout", "Test accuracy"] == "75.0%"
    assert results.loc["baseline", "95 % interval"] != "—"

    # B is wrong on 40 images that A gets right, and never the other way round: a real difference.
    sentence = texts(at.success)
    assert "more dropout alone is right on 0" in sentence and "baseline alone on 40" in sentence
    assert "baseline is really better" in sentence
    charts = at.get("vega_lite_chart")
    assert len(charts) == 4  # accuracy (with interval bars) and loss; accuracy and loss curves
    assert '"x2": {"field": "high"' in charts[0].proto.spec


def test_the_charts_follow_a_renamed_run(dirs, app, open_page):
    """The charts' specs are kept per choice of runs: a rename (a new label and record) draws them again."""
    own = dirs["runs"]
    fashion_run(own, "baseline", range(0, 10), 1)
    b = fashion_run(own, "more dropout", range(0, 50), 2, dropout=0.3)
    at = open_page(app, "pages/compare.py")
    assert all("more dropout" in c.proto.spec for c in at.get("vega_lite_chart"))
    edits.rename_run(runs.read_run(b), "dropout 0.3")
    at.run()
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert len(specs) == 4 and all("dropout 0.3" in s and "more dropout" not in s for s in specs)


def test_small_gap_is_not_shown_to_differ(dirs, app, open_page):
    own = dirs["runs"]
    fashion_run(own, "first", range(0, 10), 1)
    fashion_run(own, "second", range(3, 13), 2)  # 3 different mistakes each way
    at = open_page(app, "pages/compare.py")
    sentence = texts(at.info)
    assert "second alone is right on 3" in sentence and "first alone on 3" in sentence
    assert "not shown to differ" in sentence
    assert not at.success


def test_mcnemar_needs_the_same_dataset(dirs, app, open_page):
    own = dirs["runs"]
    fashion_run(own, "fashion", range(0, 10), 1)
    cifar_run(own, "cifar", 2)
    at = open_page(app, "pages/compare.py")
    tick(at, sorted(p.name for p in own.iterdir() if not p.name.startswith(".")))
    assert "different datasets" in texts(at.info)
    assert "Dataset" in at.table[1].value.columns  # a mixed selection says which dataset is which


def test_more_runs_pick_the_pair_to_test(dirs, app, open_page):
    own = dirs["runs"]
    ids = [fashion_run(own, name, wrong, minute).name
           for name, wrong, minute in (("r1", range(0, 10), 1), ("r2", range(0, 50), 2), ("r3", range(3, 13), 3))]
    at = open_page(app, "pages/compare.py")
    tick(at, ids)
    at.selectbox(key="compare.pair_a").set_value(ids[0]).run()
    at.selectbox(key="compare.pair_b").set_value(ids[2]).run()
    assert "not shown to differ" in texts(at.info)


def test_broken_and_failed_runs_are_listed_apart(dirs, app, open_page):
    own = dirs["runs"]
    good = fashion_run(own, "good", range(0, 10), 1)
    write_broken(own, name="half copy")
    at = open_page(app, "pages/compare.py")
    assert table_rows(at) == ["good · yours · test 95.0%"]
    listed = texts(at.markdown)
    assert "half copy" in listed and "completed run lacks" in listed
    assert good.name in chosen(at)


def test_train_page_hands_over_the_runs(dirs, make_app, open_page):
    own = dirs["runs"]
    first = fashion_run(own, "first", range(0, 10), 1)
    fashion_run(own, "second", range(0, 20), 2)
    fashion_run(own, "third", range(0, 30), 3)
    at = make_app()
    at.session_state["nav.compare_runs"] = [first.name]
    open_page(at, "pages/compare.py")
    assert chosen(at) == [first.name]
    assert "nav.compare_runs" not in at.session_state  # handed over once


def test_rename_own_run(dirs, app, open_page):
    own = dirs["runs"]
    run = fashion_run(own, "old name", range(0, 10), 1)
    at = open_page(app, "pages/compare.py")
    at.selectbox(key="compare.manage_select").set_value(run.name)
    at.text_input(key=f"compare.name_{run.name}").set_value("new name")
    at.button(key="compare.rename").click().run()
    assert names_on_disk(own) == ["new name"]
    assert "Renamed" in texts(at.success)


def test_rename_refuses_a_bad_name(dirs, app, open_page):
    own = dirs["runs"]
    run = fashion_run(own, "old name", range(0, 10), 1)
    at = open_page(app, "pages/compare.py")
    at.text_input(key=f"compare.name_{run.name}").set_value("a/b")
    at.button(key="compare.rename").click().run()
    assert "Cannot rename" in texts(at.error) and not at.exception
    assert names_on_disk(own) == ["old name"]


def test_delete_asks_first(dirs, app, open_page):
    own = dirs["runs"]
    keep = fashion_run(own, "keep", range(0, 10), 1)
    doomed = fashion_run(own, "doomed", range(0, 10), 2)
    at = open_page(app, "pages/compare.py")
    at.selectbox(key="compare.manage_select").set_value(doomed.name)
    at.button(key="compare.delete").click().run()
    assert "for good?" in texts(at.warning)
    assert doomed.exists()  # nothing gone before the confirmation
    at.button(key="compare.delete_no").click().run()
    assert doomed.exists() and "for good?" not in texts(at.warning)
    at.button(key="compare.delete").click().run()
    at.button(key="compare.delete_yes").click().run()
    assert not doomed.exists() and keep.exists()
    assert "Deleted “doomed”" in texts(at.success)
    assert chosen(at) == [keep.name]


def test_shipped_runs_are_read_only(dirs, app, open_page):
    shipped = dirs["pretrained"]
    run = fashion_run(shipped, "shipped one", range(0, 10), 1)
    at = open_page(app, "pages/compare.py")
    assert at.selectbox(key="compare.manage_select").value == run.name
    assert at.button(key="compare.rename").disabled and at.button(key="compare.delete").disabled
    assert at.text_input(key=f"compare.name_{run.name}").disabled
    assert "shipped" in texts(at.info)
    assert table_rows(at) == ["shipped one · shipped · test 95.0%"]


def test_import_of_a_bad_zip_says_why(dirs, app, open_page):
    own = dirs["runs"]
    at = open_page(app, "pages/compare.py")
    at.file_uploader[0].set_value(("notes.zip", b"this is not a zip", "application/zip")).run()
    assert not at.exception
    error = texts(at.error)
    assert "Could not import notes.zip" in error and "not a zip file" in error
    assert not [p for p in own.iterdir() if not p.name.startswith(".")]


def test_export_then_import_makes_an_own_copy(dirs, app, open_page):
    own, shipped = dirs["runs"], dirs["pretrained"]
    original = runs.read_run(fashion_run(shipped, "shipped one", range(0, 10), 1), shipped=True)
    data = archive.export_run(original)
    at = open_page(app, "pages/compare.py")
    at.file_uploader[0].set_value((f"{original.id}.zip", data, "application/zip")).run()
    assert not at.exception and not at.error
    copies = [p for p in own.iterdir() if not p.name.startswith(".")]
    assert len(copies) == 1 and names_on_disk(own) == ["shipped one"]
    assert "Imported" in texts(at.success)
    assert copies[0].name in chosen(at)


def test_compare_opens_on_two_runs_of_the_same_dataset(dirs, app, open_page):
    own = dirs["runs"]
    older = fashion_run(own, "older fashion", range(0, 10), 1)
    cifar_run(own, "cifar in between", 2)
    newest = fashion_run(own, "newest fashion", range(0, 20), 3)
    at = open_page(app, "pages/compare.py")
    assert chosen(at) == [newest.name, older.name]
    assert "nothing to pair" not in texts(at.info)


def test_what_differs_uses_the_names_people_know():
    from ui.compare_view import Entry, hyperparameter_table

    class FakeRun:
        def __init__(self, **config):
            self.config = config

    table = hyperparameter_table([Entry("a", "A", (FakeRun(dataset="fashion_mnist", architecture="fmnist_arch1", limit=0),)),
                                  Entry("b", "B", (FakeRun(dataset="cifar100", architecture="cifar_arch3", limit=3000),))],
                                 everything=False)
    assert table.loc[field_label("dataset")].tolist() == ["Fashion-MNIST", "CIFAR-100"]
    assert table.loc[field_label("architecture")].tolist() == ["Fashion-MNIST Arch 1", "CIFAR-100 Arch 3"]
    assert table.loc[field_label("limit")].tolist() == ["all", "3,000"]


def test_the_mcnemar_sentence_never_prints_scientific_notation(dirs, app, open_page):
    own = dirs["runs"]
    fashion_run(own, "good", range(0, 0), 1)
    fashion_run(own, "bad", range(0, 150), 2)
    sentence = texts(open_page(app, "pages/compare.py").success)
    assert "p < 0.0001" in sentence and "e-" not in sentence


def test_a_rename_keeps_the_run_chosen_and_a_name_is_shown_as_typed(dirs, app, open_page):
    own = dirs["runs"]
    fashion_run(own, "first", range(0, 10), 1)
    run = fashion_run(own, "second", range(0, 10), 2)
    at = open_page(app, "pages/compare.py")
    at.selectbox(key="compare.manage_select").set_value(run.name).run()
    at.text_input(key=f"compare.name_{run.name}").set_value("**bold** :red[red] $x^2$")
    at.button(key="compare.rename").click().run()
    assert at.selectbox(key="compare.manage_select").value == run.name
    [flash] = [s.value for s in at.success]
    assert flash == r"Renamed to “\*\*bold\*\* \:red\[red\] \$x^2\$”."


def test_a_refused_upload_is_said_once_and_the_same_zip_is_not_imported_twice(dirs, app, open_page):
    own, shipped = dirs["runs"], dirs["pretrained"]
    data = archive.export_run(runs.read_run(fashion_run(shipped, "shipped one", range(0, 10), 1), shipped=True))
    at = open_page(app, "pages/compare.py")
    at.file_uploader[0].set_value(("bad.zip", b"not a zip", "application/zip")).run()
    assert "Could not import bad.zip" in texts(at.error)
    at.text_input(key="compare.search").set_value("shipped").run()  # any later click: the message is gone
    assert not at.error and at.file_uploader[0].value is None
    at.file_uploader[0].set_value(("copy.zip", data, "application/zip")).run()
    assert "Imported" in texts(at.success)
    at.file_uploader[0].set_value(("copy.zip", data, "application/zip")).run()
    assert "already here" in texts(at.error)
    assert len([p for p in own.iterdir() if not p.name.startswith(".")]) == 1


def seeded(folder, wrong_counts, minute, **config):
    """A group of seeds: one fake run per entry of wrong_counts (mistakes out of 200), tied by a group record."""
    group = {"id": f"g-20261120-10{minute:02d}00-abcdef", "seeds": len(wrong_counts)}
    paths = []
    for i, wrong in enumerate(wrong_counts):
        path = fashion_run(folder, f"dropout {config.get('dropout', 0)} · seed {i}", range(0, wrong), minute, seed=i, **config)
        runs.update_record(path, group={**group, "index": i})
        paths.append(path)
    return paths


def test_a_group_of_seeds_is_one_row_with_its_spread_and_two_groups_get_welchs_test(dirs, app, open_page):
    own = dirs["runs"]
    low = seeded(own, [40, 42, 38, 41], 1, dropout=0.5)  # about 80 %
    high = seeded(own, [20, 21, 19, 20], 2, dropout=0.2)  # about 90 %
    at = open_page(app, "pages/compare.py")
    tick(at, [p.name for p in low + high])
    rows = at.table[1].value  # results: one row per group
    assert list(rows.index) == ["dropout 0.2 (4 seeds)", "dropout 0.5 (4 seeds)"]  # newest first
    assert rows.loc["dropout 0.2 (4 seeds)", "Test accuracy"].startswith("90.0% ± 0.")
    table = at.dataframe[0].value
    assert len(table) == 2 and table["95 % interval"].str.endswith("(4 seeds)").all()
    sentence = texts(at.success)
    assert "Welch's t-test gives p < 0.0001" in sentence and "dropout 0.2 (4 seeds) is really better" in sentence
    assert "bell curve" in texts(at.caption)  # the test's assumptions, in words
    assert not any("McNemar" in c for c in texts(at.caption).splitlines())  # no single runs to pair
    at.toggle(key="compare.all_params").set_value(True).run()
    assert at.table[0].value.loc[field_label("seed")].tolist() == ["0–3", "0–3"]


def test_the_search_finds_runs_by_name_tags_and_notes(dirs, app, open_page):
    own = dirs["runs"]
    tagged = fashion_run(own, "first", range(0, 10), 1)
    fashion_run(own, "second", range(0, 20), 2)
    edits.annotate_run(runs.read_run(tagged), notes="the baseline we keep", tags="dropout")
    at = open_page(app, "pages/compare.py")
    for query in ("baseline", "DROPOUT", "first"):
        at.text_input(key="compare.search").set_value(query).run()
        assert at.dataframe[0].value["Name"].tolist() == ["first"], query
    assert sorted(chosen(at)) == sorted([tagged.name, (own / sorted(p.name for p in own.iterdir() if p.name != tagged.name
                                                                    and not p.name.startswith("."))[0]).name])


def test_the_chosen_runs_export_as_csv_and_their_charts_as_pictures(dirs, app, open_page):
    own = dirs["runs"]
    fashion_run(own, "first", range(0, 10), 1)
    fashion_run(own, "second", range(0, 20), 2)
    at = open_page(app, "pages/compare.py")
    buttons = {b.proto.label: b for b in at.get("download_button")}
    assert {"Histories (CSV)", "Results (CSV)", "PNG"} <= set(buttons)
    assert at.selectbox(key="compare.export_chart").options == ["Accuracy per epoch", "Loss per epoch",
                                                                "Accuracy, every measure", "Loss, every measure"]


def test_run_names_in_what_differs_and_results_show_as_typed(dirs, app, open_page):
    from core import formatting as fmt

    typed = "![pic](x.png) [site](http:example.com) :rainbow[WIN]"
    a = fashion_run(dirs["runs"], typed, range(0, 10), 1, dropout=0.2)
    b = fashion_run(dirs["runs"], "plain", range(0, 50), 2, dropout=0.3)
    at = tick(open_page(app, "pages/compare.py"), [a.name, b.name])
    differs, results = at.table[0].value, at.table[1].value
    assert fmt.text(typed) in list(differs.columns)  # st.table draws Markdown: escaped, it shows as typed
    assert fmt.text(typed) in list(results.index) + list(results.get("Run", []))


def test_the_ticked_runs_are_kept_in_the_address_and_a_reload_ticks_them_again(dirs, make_app, open_page):
    own = dirs["runs"]
    first = fashion_run(own, "first", range(0, 10), 1)
    fashion_run(own, "second", range(0, 20), 2)
    third = fashion_run(own, "third", range(0, 30), 3)
    at = tick(open_page(make_app(), "pages/compare.py"), [first.name, third.name])
    assert at.query_params["runs"] == f"{third.name},{first.name}"  # not the default pair, third and second
    reload = make_app()  # a new session (a reload) on the same address
    reload.query_params["runs"] = at.query_params["runs"]
    reload = open_page(reload, "pages/compare.py")
    assert chosen(reload) == [third.name, first.name]
    assert list(reload.table[-1].value.index) == ["third", "first"]  # the results
    tick(reload, [])  # nothing ticked: nothing in the address
    assert "runs" not in reload.query_params


def test_a_hand_over_wins_over_the_address(dirs, make_app, open_page):
    own = dirs["runs"]
    first = fashion_run(own, "first", range(0, 10), 1)
    second = fashion_run(own, "second", range(0, 20), 2)
    at = make_app()
    at.query_params["runs"] = first.name
    at.session_state["nav.compare_runs"] = [second.name]
    assert chosen(open_page(at, "pages/compare.py")) == [second.name]


def test_ids_in_the_address_that_are_not_runs_are_left_out(dirs, make_app, open_page):
    own = dirs["runs"]
    first = fashion_run(own, "first", range(0, 10), 1)
    second = fashion_run(own, "second", range(0, 20), 2)
    fashion_run(own, "third", range(0, 30), 3)
    at = make_app()
    at.query_params["runs"] = f"20990101-000000-abcdef,{first.name},<img src=x>**b**,../{second.name},{first.name}"
    at = open_page(at, "pages/compare.py")
    assert chosen(at) == [first.name] and not at.error
    nothing = make_app()
    nothing.query_params["runs"] = "no-such-run,,"
    nothing = open_page(nothing, "pages/compare.py")
    assert len(chosen(nothing)) == 2 and not nothing.error  # none of them is a run: the default pair


def test_a_field_a_runs_saved_config_lacks_reads_as_its_default(dirs, app, open_page):
    """The report's runs were saved before early stopping and the learning-rate cut existed: they trained without."""
    own, shipped = dirs["runs"], dirs["pretrained"]
    old = fashion_run(shipped, "the report's run", range(0, 10), 1, dropout=0.2)
    record = runs.read_run(old, shipped=True).config
    runs.update_record(old, config={k: v for k, v in record.items() if k not in ("early_stopping", "reduce_lr")})
    fashion_run(own, "mine", range(0, 20), 2, dropout=0.3)
    at = open_page(app, "pages/compare.py")
    assert list(at.table[0].value.index) == [field_label("dropout")]  # not "Stop after… 0 vs —"
    at.toggle(key="compare.all_params").set_value(True).run()
    table = at.table[0].value
    assert table.loc[field_label("early_stopping")].tolist() == ["0", "0"]
    assert table.loc[field_label("reduce_lr")].tolist() == ["0", "0"]


def test_a_field_one_run_lacks_still_differs_from_a_value_the_other_set():
    from ui.compare_view import Entry, hyperparameter_table

    class FakeRun:
        def __init__(self, **config):
            self.config = config

    table = hyperparameter_table([Entry("a", "A", (FakeRun(dropout=0.2, early_stopping=5),)),
                                  Entry("b", "B", (FakeRun(dropout=0.2),))], everything=False)
    assert table.loc[field_label("early_stopping")].tolist() == ["5", "0"]
    assert list(table.index) == [field_label("early_stopping")]


def test_two_runs_curves_are_read_side_by_side_in_words(dirs, app, open_page):
    import numpy as np
    import pandas as pd

    from core.system.files import write_csv

    a = fashion_run(dirs["runs"], "no dropout", range(0, 10), 1, dropout=0.0)
    b = fashion_run(dirs["runs"], "dropout 0.5", range(0, 10), 2, dropout=0.5)
    e = np.arange(1, 31)
    for path, best in ((a, 8), (b, 20)):
        val_loss = 0.3 + 0.004 * (e - best) ** 2 / (1 + (e < best) * 5)
        write_csv(path / runs.HISTORY_FILE, pd.DataFrame({
            "epoch": e, "loss": 0.6 * np.exp(-e / 10) + 0.05, "accuracy": 0.8 + 0.18 * (1 - np.exp(-e / 8)),
            "val_loss": val_loss, "val_accuracy": [0.88] * 30, "learning_rate": [1e-3] * 30, "seconds": [1.0] * 30}))
    at = tick(open_page(app, "pages/compare.py"), [a.name, b.name])
    assert "dropout 0.5 overfits later than no dropout: epoch 20 vs 8 (dropout 0.5 vs 0)." in texts(at.markdown)


def test_a_sweep_is_one_figure_of_test_accuracy_against_its_values(dirs, app, open_page):
    import numpy as np

    from core.networks import presets
    from core.queue import sweeps
    from tools.fake_runs import make_config, write_run

    specs = sweeps.make_sweep_jobs(presets.get("fmnist-arch1-tr1").config, dirs["runs"], name="s",
                                   sweep=sweeps.parse(["dropout=0,0.2", "l2=0,0.001"]))
    y_true = np.arange(1000) % 10
    made = []
    for spec, right in zip(specs, (800, 900, 895, 700)):  # 895: 5 images apart from the best, within chance
        y_pred = np.where(np.arange(1000) < right, y_true, (y_true + 1) % 10)
        path = write_run(dirs["runs"], name=spec.name, y_true=y_true, y_pred=y_pred,
                         config=make_config(**spec.config.to_dict()))
        runs.update_record(path, sweep=spec.sweep)
        made.append(path.name)
    at = tick(open_page(app, "pages/compare.py"), made)
    assert "The sweep: test accuracy at each value" in [s.value for s in at.subheader]
    assert [c for c in at.get("vega_lite_chart") if '"rect"' in c.proto.spec]  # two settings: a heat map
    assert "2 really worse, 1 not shown to differ from it" in texts(at.caption)
    assert "Each cell: a run's test accuracy (its 95 % interval on hover)." in texts(at.caption)
    at = tick(open_page(app, "pages/compare.py"), made[-1:])  # one run of the sweep ticked: still the whole sweep
    assert [c for c in at.get("vega_lite_chart") if '"rect"' in c.proto.spec]
    assert "2 really worse, 1 not shown to differ from it. All 4 runs of the sweep are drawn, 3 of them not ticked." \
        in texts(at.caption)


def test_accuracy_against_images_per_class_is_drawn_when_the_runs_differ_in_it(dirs, app, open_page):
    from tools.fake_runs import per_class_run

    made = [per_class_run(dirs["runs"], n, start, right, minute).name
            for minute, (n, start, right) in enumerate([(10, None, 20), (10, "fine_tune", 45), (100, None, 40),
                                                        (100, "fine_tune", 70)])]
    at = tick(open_page(app, "pages/compare.py"), made)
    assert "Accuracy against images per class" in [s.value for s in at.subheader]
    verdicts = next(d.value for d in at.dataframe if "images per class" in d.value.columns)
    assert verdicts.to_dict("records") == [
        {"images per class": 10, "fine-tuned": "really better (p < 0.0001)"},
        {"images per class": 100, "fine-tuned": "really better (p < 0.0001)"}]
