"""core.analysis.export and `export-tensorboard`: tables that turn back into the run files, TensorBoard event files that read back
as history.csv and run.json's config, pictures of charts, and one-sentence refusals of bad input."""

import argparse
import io
import sys

import numpy as np
import pandas as pd
import pytest

from core.analysis import export
from core.cli.export import add_parser
from core.networks.config import FIELDS
from core.settings import Settings
from core.storage import edits, runs
from tools.fake_runs import make_config, write_broken, write_run


def two_runs(folder):
    """Two completed runs of 3 and 5 epochs, with different results."""
    y = np.arange(200) % 10
    wrong = y.copy()
    wrong[:30] = (wrong[:30] + 1) % 10
    first = write_run(folder, name="three epochs", y_true=y, y_pred=wrong, config=make_config(epochs=3), seed=1)
    second = write_run(folder, name="five epochs, dropout", y_true=y, y_pred=y, config=make_config(epochs=5, dropout=0.3),
                       seed=2)
    return [runs.read_run(first), runs.read_run(second)]


def test_histories_long_has_a_row_per_run_epoch_and_metric_and_pivots_back(tmp_path):
    chosen = two_runs(tmp_path)
    long = export.histories_long(chosen)
    assert list(long.columns) == ["run", "name", "epoch", "metric", "value"]
    assert len(long) == (3 + 5) * len(export.METRICS)
    assert list(long["metric"][:6]) == list(export.METRICS)  # each epoch's metrics in history.csv's order
    for run in chosen:
        mine = long[long["run"] == run.id]
        assert set(mine["name"]) == {run.name}
        back = mine.pivot(index="epoch", columns="metric", values="value")[list(export.METRICS)].reset_index()
        pd.testing.assert_frame_equal(back.rename_axis(columns=None), run.history(), check_dtype=False)
    csv = pd.read_csv(io.BytesIO(export.to_csv_bytes(long)), dtype={"run": str})
    pd.testing.assert_frame_equal(csv, long, check_dtype=False)


def test_histories_long_of_nothing_and_of_a_run_without_history(tmp_path):
    assert list(export.histories_long([]).columns) == ["run", "name", "epoch", "metric", "value"]
    fresh = runs.read_run(runs.create_run(tmp_path, make_config(), runs.RunLabels("just started"), {}))
    assert export.histories_long([fresh]).empty
    trained = two_runs(tmp_path)[0]
    long = export.histories_long([fresh, trained])
    assert set(long["run"]) == {trained.id} and long["value"].dtype == float and long["epoch"].dtype == int


def test_results_table_turns_the_error_interval_into_an_accuracy_interval(tmp_path):
    chosen = two_runs(tmp_path)
    edits.annotate_run(chosen[0], notes="the baseline", tags="baseline, short")
    chosen[0] = runs.read_run(chosen[0].path)
    failed = runs.read_run(write_run(tmp_path, name="crashed", y_true=[0], y_pred=[0], status="failed", error="NaN"))
    table = export.results_table([*chosen, failed])
    assert list(table["id"]) == [r.id for r in [*chosen, failed]]
    assert set(FIELDS) <= set(table.columns)
    first, second, crashed = table.to_dict("records")
    low, high = chosen[0].metrics()["test_error_ci95"]
    assert first["test_accuracy"] == pytest.approx(0.85)
    assert (first["test_accuracy_low"], first["test_accuracy_high"]) == pytest.approx((1 - high, 1 - low))
    assert first["test_accuracy_low"] < 0.85 < first["test_accuracy_high"]
    assert (first["epochs"], first["epochs_trained"], first["total_s"]) == (3, 3, 260.0)
    assert (first["notes"], first["tags"]) == ("the baseline", "baseline, short")
    assert (second["dropout"], second["epochs_trained"], second["notes"], second["tags"]) == (0.3, 5, "", "")
    assert crashed["status"] == "failed" and pd.isna(crashed["test_accuracy"]) and pd.isna(crashed["test_accuracy_low"])


def read_events(folder):
    """{tag: {step: value}} of one TensorBoard folder's scalars, and its HParams plugin data (a list)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    events = EventAccumulator(str(folder))
    events.Reload()
    plugin = {tag: events.SummaryMetadata(tag).plugin_data for tag in events.Tags()["tensors"]}
    scalars = {tag: {e.step: float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)}
               for tag, data in plugin.items() if data.plugin_name == "scalars"}
    hparams = [plugin_data_pb2.HParamsPluginData.FromString(data.content)
               for data in plugin.values() if data.plugin_name == "hparams"]
    return scalars, hparams


def test_tensorboard_files_read_back_as_history_and_config(tmp_path):
    pytest.importorskip("tensorboard")
    chosen = two_runs(tmp_path / "runs")
    folders = export.write_tensorboard(chosen, tmp_path / "tb")
    assert [f.name for f in folders] == [f"three_epochs-{chosen[0].id}", f"five_epochs_dropout-{chosen[1].id}"]
    for run, folder in zip(chosen, folders):
        history = run.history().set_index("epoch")
        train, no_hparams = read_events(folder / "train")
        validation, _ = read_events(folder / "validation")
        assert no_hparams == []
        top, (hparams,) = read_events(folder)
        assert set(train) == {"loss", "accuracy", "learning_rate", "seconds"} and set(validation) == {"loss", "accuracy"}
        for tag, values in train.items():
            assert values == pytest.approx(history[tag].to_dict())
        for tag, values in validation.items():
            assert values == pytest.approx(history["val_" + tag].to_dict())
        assert top == {"test_accuracy": {len(history): pytest.approx(run.metrics()["test_accuracy"])}}
        written = hparams.session_start_info.hparams
        assert set(written) == set(FIELDS)
        assert written["dropout"].number_value == run.config["dropout"]
        assert written["architecture"].string_value == run.config["architecture"]
        assert written["augment"].bool_value is False


def command(tmp_path, *argv):
    """The export-tensorboard command as core.cli.main runs it, from a parser holding only it."""
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export-tensorboard", *map(str, argv)])
    args.settings = Settings(runs_dir=tmp_path / "runs", pretrained_dir=tmp_path / "shipped")
    args.runs_dir = args.runs_dir or str(args.settings.runs_dir)
    return args.func(args)


def test_command_takes_folders_and_ids_and_prints_each_folder(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    first, second = two_runs(tmp_path / "runs")
    assert command(tmp_path, first.path, second.id, "--out", tmp_path / "tb") == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "tb" / export.tensorboard_folder(r)) for r in (first, second)]


@pytest.mark.parametrize("case, message", [
    ("empty folder", "is not a run folder"),
    ("unknown id", "no run with id '20260101-000000-abcdef'"),
    ("neither", "neither a run folder nor a run id"),
    ("no history", "has no history yet"),
    ("broken", "is broken"),
    ("exported before", "already exists"),
])
def test_command_refuses_bad_input_in_one_sentence_before_writing(tmp_path, case, message):
    good = two_runs(tmp_path / "runs")[0]
    out = tmp_path / "tb"
    bad = {
        "empty folder": lambda: (tmp_path / "empty").mkdir() or tmp_path / "empty",
        "unknown id": lambda: "20260101-000000-abcdef",
        "neither": lambda: "my-run",
        "no history": lambda: runs.create_run(tmp_path / "runs", make_config(), runs.RunLabels("just started"), {}),
        "broken": lambda: write_broken(tmp_path / "runs"),
        "exported before": lambda: (out / export.tensorboard_folder(good)).mkdir(parents=True) or good.path,
    }[case]()
    before = sorted(out.rglob("*")) if out.exists() else []
    with pytest.raises(runs.RunError, match=message) as refused:
        command(tmp_path, good.path, bad, "--out", out)
    assert "\n" not in str(refused.value)
    assert (sorted(out.rglob("*")) if out.exists() else []) == before  # nothing written, not even for the good run


def test_missing_packages_are_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard.plugins.hparams.api", None)  # as if tensorboard were not installed
    monkeypatch.setitem(sys.modules, "vl_convert", None)
    with pytest.raises(export.MissingPackage, match=r"needs the tensorboard package.*pip install tensorboard"):
        export.write_tensorboard(two_runs(tmp_path / "runs"), tmp_path / "tb")
    assert not (tmp_path / "tb").exists()
    with pytest.raises(export.MissingPackage, match=r"pip install vl-convert-python"):
        export.chart_bytes({}, "png")


def test_charts_as_png_and_svg():
    pytest.importorskip("vl_convert")
    import altair as alt
    from PIL import Image

    frame = pd.DataFrame({"epoch": [1, 2, 3], "accuracy": [0.5, 0.7, 0.8]})
    chart = alt.Chart(frame).mark_line().encode(x="epoch:Q", y="accuracy:Q").properties(title="Accuracy", width=300,
                                                                                       height=200)
    png = Image.open(io.BytesIO(export.chart_bytes(chart, "png")))
    assert png.format == "PNG" and png.width > 2 * 300 and png.height > 2 * 200  # the plot, its axes, drawn at scale 2
    svg = export.chart_bytes(chart.to_dict(), "svg").decode()
    assert svg.startswith("<svg") and "Accuracy" in svg
    with pytest.raises(ValueError, match="choose png or svg"):
        export.chart_bytes(chart, "gif")
    with pytest.raises(ValueError, match="not allowed"):  # refused before any request is made
        export.chart_bytes({"data": {"url": "http://127.0.0.1:9/x.csv"}, "mark": "point"}, "svg")
