"""The Compare page, driven through Streamlit's AppTest on small fake runs."""

from __future__ import annotations

import json

from run_factory import app, cifar_run, fashion_run, run_dirs, texts, write_broken  # noqa: F401 - run_dirs is a fixture

from core import runs
from core.config import FIELDS
from pages.views import field_label


def names_on_disk(folder):
    return sorted(json.loads(p.read_text())["name"] for p in folder.glob("*/run.json"))


def test_two_runs_side_by_side(run_dirs):
    own, _ = run_dirs
    a = fashion_run(own, "baseline", range(0, 10), 1, dropout=0.2)
    b = fashion_run(own, "more dropout", range(0, 50), 2, dropout=0.3, learning_rate=1e-4)
    at = app("compare").run()
    assert not at.exception
    assert sorted(at.multiselect(key="compare_select").value) == sorted([a.name, b.name])  # the two newest

    # Exactly the hyperparameters that differ, one column per run; all of them on the toggle.
    table = at.table[0].value
    assert sorted(table.index) == sorted([field_label("dropout"), field_label("learning_rate")])
    assert list(table.columns) == ["more dropout", "baseline"]
    assert table.loc[field_label("dropout")].tolist() == ["0.3", "0.2"]
    at.toggle(key="compare_all_params").set_value(True).run()
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


def test_small_gap_is_not_shown_to_differ(run_dirs):
    own, _ = run_dirs
    fashion_run(own, "first", range(0, 10), 1)
    fashion_run(own, "second", range(3, 13), 2)  # 3 different mistakes each way
    at = app("compare").run()
    sentence = texts(at.info)
    assert "second alone is right on 3" in sentence and "first alone on 3" in sentence
    assert "not shown to differ" in sentence
    assert not at.success


def test_mcnemar_needs_the_same_dataset(run_dirs):
    own, _ = run_dirs
    fashion_run(own, "fashion", range(0, 10), 1)
    cifar_run(own, "cifar", 2)
    at = app("compare").run()
    assert "different datasets" in texts(at.info)
    assert "Dataset" in at.table[1].value.columns  # a mixed selection says which dataset is which


def test_more_runs_pick_the_pair_to_test(run_dirs):
    own, _ = run_dirs
    ids = [fashion_run(own, name, wrong, minute).name
           for name, wrong, minute in (("r1", range(0, 10), 1), ("r2", range(0, 50), 2), ("r3", range(3, 13), 3))]
    at = app("compare").run()
    at.multiselect(key="compare_select").set_value(ids).run()
    at.selectbox(key="compare_pair_a").set_value(ids[0]).run()
    at.selectbox(key="compare_pair_b").set_value(ids[2]).run()
    assert "not shown to differ" in texts(at.info)


def test_broken_and_failed_runs_are_listed_apart(run_dirs):
    own, _ = run_dirs
    good = fashion_run(own, "good", range(0, 10), 1)
    write_broken(own, name="half copy")
    at = app("compare").run()
    assert at.multiselect(key="compare_select").options == ["good · yours · test 95.0%"]
    listed = texts(at.markdown)
    assert "half copy" in listed and "completed run lacks" in listed
    assert good.name in at.multiselect(key="compare_select").value


def test_train_page_hands_over_the_runs(run_dirs):
    own, _ = run_dirs
    first = fashion_run(own, "first", range(0, 10), 1)
    fashion_run(own, "second", range(0, 20), 2)
    fashion_run(own, "third", range(0, 30), 3)
    at = app("compare")
    at.session_state["compare_runs"] = [first.name]
    at.run()
    assert at.multiselect(key="compare_select").value == [first.name]
    assert "compare_runs" not in at.session_state  # handed over once


def test_rename_own_run(run_dirs):
    own, _ = run_dirs
    run = fashion_run(own, "old name", range(0, 10), 1)
    at = app("compare").run()
    at.selectbox(key="manage_select").set_value(run.name)
    at.text_input(key=f"manage_name_{run.name}").set_value("new name")
    at.button(key="manage_rename").click().run()
    assert names_on_disk(own) == ["new name"]
    assert "Renamed" in texts(at.success)


def test_rename_refuses_a_bad_name(run_dirs):
    own, _ = run_dirs
    run = fashion_run(own, "old name", range(0, 10), 1)
    at = app("compare").run()
    at.text_input(key=f"manage_name_{run.name}").set_value("a/b")
    at.button(key="manage_rename").click().run()
    assert "Cannot rename" in texts(at.error) and not at.exception
    assert names_on_disk(own) == ["old name"]


def test_delete_asks_first(run_dirs):
    own, _ = run_dirs
    keep = fashion_run(own, "keep", range(0, 10), 1)
    doomed = fashion_run(own, "doomed", range(0, 10), 2)
    at = app("compare").run()
    at.selectbox(key="manage_select").set_value(doomed.name)
    at.button(key="manage_delete").click().run()
    assert "for good?" in texts(at.warning)
    assert doomed.exists()  # nothing gone before the confirmation
    at.button(key="manage_delete_no").click().run()
    assert doomed.exists() and "for good?" not in texts(at.warning)
    at.button(key="manage_delete").click().run()
    at.button(key="manage_delete_yes").click().run()
    assert not doomed.exists() and keep.exists()
    assert "Deleted “doomed”" in texts(at.success)
    assert at.multiselect(key="compare_select").value == [keep.name]


def test_shipped_runs_are_read_only(run_dirs):
    _, shipped = run_dirs
    run = fashion_run(shipped, "shipped one", range(0, 10), 1)
    at = app("compare").run()
    assert at.selectbox(key="manage_select").value == run.name
    assert at.button(key="manage_rename").disabled and at.button(key="manage_delete").disabled
    assert at.text_input(key=f"manage_name_{run.name}").disabled
    assert "shipped" in texts(at.info)
    assert at.multiselect(key="compare_select").options == ["shipped one · shipped · test 95.0%"]


def test_import_of_a_bad_zip_says_why(run_dirs):
    own, _ = run_dirs
    at = app("compare").run()
    at.file_uploader[0].set_value(("notes.zip", b"this is not a zip", "application/zip")).run()
    assert not at.exception
    error = texts(at.error)
    assert "Could not import notes.zip" in error and "not a zip file" in error
    assert not list(own.iterdir())


def test_export_then_import_makes_an_own_copy(run_dirs):
    own, shipped = run_dirs
    original = runs.read_run(fashion_run(shipped, "shipped one", range(0, 10), 1), shipped=True)
    data = runs.export_run(original)
    at = app("compare").run()
    at.file_uploader[0].set_value((f"{original.id}.zip", data, "application/zip")).run()
    assert not at.exception and not at.error
    copies = list(own.iterdir())
    assert len(copies) == 1 and names_on_disk(own) == ["shipped one"]
    assert "Imported" in texts(at.success)
    assert copies[0].name in at.multiselect(key="compare_select").value
