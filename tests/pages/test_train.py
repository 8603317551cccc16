"""The Train page in AppTest: widgets from the config's ranges, presets, submitting, live progress, results.

The first test to build a model imports TensorFlow (about 5 s); the later ones reuse the cached description.
"""

from __future__ import annotations

import gc
import time

import pandas as pd
import pyarrow as pa
import streamlit as st
from run_factory import texts

from core.networks.architectures import ARCHITECTURES
from core.networks.config import FIELDS
from core.networks.presets import PRESETS
from core.queue import jobs
from core.queue.queue import Queue
from core.storage import runs
from core.system.files import write_json

TRAIN = "pages/train.py"


def _number(shown: str) -> float:
    """A select_slider option as shown ("off", "all", "1,000", "0.001") back to its number."""
    return 0.0 if shown in ("off", "all") else float(shown.replace(",", ""))


def _datasets(chart) -> dict[str, pd.DataFrame]:
    """A chart's named datasets, as Streamlit sends them to the browser (Arrow IPC)."""
    return {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets}


def _widgets(at) -> dict:
    """Every settings widget by config field."""
    out = {}
    for kind in ("slider", "select_slider", "number_input", "toggle", "segmented_control", "selectbox"):
        for w in getattr(at, kind):
            if w.key and w.key.startswith("cfg."):
                out[w.key[4:]] = w
    return out


def test_every_setting_is_a_widget_bounded_by_its_config_range(app, open_page):
    at = open_page(app, TRAIN)
    widgets = _widgets(at)
    assert set(widgets) == set(FIELDS)
    for name, w in widgets.items():
        meta = FIELDS[name].metadata
        if meta["kind"] != "number":
            continue
        if w.type == "select_slider":
            values = [_number(v) for v in w.options]
            assert min(values) >= meta["low"] and max(values) <= meta["high"], name
        else:
            assert (w.min, w.max) == (meta["low"], meta["high"]), name
    # Log scales: learning rate in 1-2-5 steps, L2 from "off" upwards.
    assert [_number(v) for v in widgets["learning_rate"].options][:4] == [1e-5, 2e-5, 5e-5, 1e-4]
    assert list(widgets["l2"].options[:2]) == ["off", "1e-06"] and widgets["l2"].value == 0.0
    assert list(widgets["batch_size"].options) == ["8", "16", "32", "64", "128", "256", "512", "1024"]


def test_widgets_the_architecture_does_not_use_are_greyed_out(app, open_page):
    at = open_page(app, TRAIN)
    uses = ARCHITECTURES["fmnist_arch1"].uses
    assert {n for n, w in _widgets(at).items() if w.disabled} == {n for n in FIELDS if n not in uses} - {
        "dataset",
        "architecture",
    } | {"transfer"}  # how to use a starting network means nothing until one is chosen
    at.selectbox(key="cfg.architecture").set_value("fmnist_arch2").run()
    assert not at.slider(key="cfg.depth").disabled
    assert at.toggle(key="cfg.augment").disabled  # CIFAR-100 only


def test_choosing_a_preset_sets_every_widget_and_shows_the_reports_figures(app, open_page):
    at = open_page(app, TRAIN)
    at.selectbox(key="train.preset").set_value("fmnist-arch2-tr1").run()
    preset = PRESETS["fmnist-arch2-tr1"]
    for name, w in _widgets(at).items():
        assert w.value == getattr(preset.config, name), name
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Validation accuracy"] == "89.1%" and metrics["Training accuracy"] == "94.9%"
    assert at.text_input(key="train.name").placeholder == preset.title  # the name, unless one is typed
    # The layer table follows: 9 hidden layers of 200 -> 784*200+200 + 8*(200*200+200) + 200*10+10 parameters.
    assert {m.label: m.value for m in at.metric}["Parameters"] == f"{784 * 200 + 200 + 8 * 40200 + 2010:,}"

    at.slider(key="cfg.epochs").set_value(5).run()  # a change keeps the preset and is named
    assert at.selectbox(key="train.preset").value == "fmnist-arch2-tr1"
    assert "epochs 50 → 5" in " ".join(c.value for c in at.caption)
    assert at.text_input(key="train.name").placeholder == "Fashion-MNIST Arch 2, trial 1 · epochs 5"


def test_changing_the_dataset_opens_a_trial_that_learns_shortened_to_a_few_minutes(app, open_page):
    at = open_page(app, TRAIN)
    at.segmented_control(key="cfg.dataset").set_value("cifar100").run()
    assert at.selectbox(key="cfg.architecture").value == "cifar_arch1"
    assert at.selectbox(key="train.preset").value == "cifar-arch1-lr0.0001"  # not lr 0.01, which never learns
    assert at.select_slider(key="cfg.learning_rate").value == 1e-4 and at.slider(key="cfg.epochs").value == 5
    assert "epochs 50 → 5" in " ".join(c.value for c in at.caption)  # and how to get the whole trial
    assert any("CIFAR-100 is not on this machine" in w.value for w in at.warning)
    at.button(key="train.use_preset").click().run()  # the whole trial, as the report trained it
    assert at.slider(key="cfg.epochs").value == 50 and at.select_slider(key="cfg.learning_rate").value == 1e-4
    assert "differ from this trial" not in " ".join(c.value for c in at.caption)
    assert "train.use_preset" not in [b.key for b in at.button]  # nothing left to restore


def test_train_puts_the_chosen_config_in_the_queue(app, dirs, open_page, client):
    at = open_page(app, TRAIN)
    at.slider(key="cfg.epochs").set_value(3).run()
    at.select_slider(key="cfg.learning_rate").set_value(2e-4).run()
    at.text_input(key="train.name").set_value("my first run").run()
    at.button(key="train.submit").click().run()
    assert not at.exception
    [job] = Queue(dirs["runs"]).jobs()
    assert job.owner == client and job.status == "queued"
    spec = job.spec
    assert spec.name == "my first run" and spec.preset == "fmnist-arch1-tr1"
    assert spec.config.to_dict() == PRESETS["fmnist-arch1-tr1"].config.replace(epochs=3, learning_rate=2e-4).to_dict()
    assert spec.data_dir == str(dirs["data"]) and spec.runs_dir == str(dirs["runs"].resolve())
    assert dirs["runs"] in dirs["workers_started"]
    assert any("waiting in the queue" in h.value for h in at.subheader)
    assert at.button(key="train.submit").disabled  # one run at a time per browser


def test_queue_position_and_the_whole_queue(app, dirs, open_page, job_in_state, client):
    job_in_state(dirs["runs"], "queued", owner="someone-else", name="their run")
    job_in_state(dirs["runs"], "queued", name="my run")
    at = open_page(app, TRAIN)
    assert any("1** run is ahead of yours" in m.value for m in at.markdown)
    table = at.dataframe[-1].value
    assert list(table["Run"]) == ["their run", "my run"] and list(table["Whose"]) == ["another session", "yours"]
    at.button(key="train.cancel").click().run()
    assert Queue(dirs["runs"]).jobs(owner=client)[0].status == "cancelled"
    assert any("cancelled “my run” before it started" in i.value for i in at.info)


def test_a_job_further_back_in_the_queue_is_polled_less_often(app, dirs, open_page, job_in_state, monkeypatch):
    intervals = []
    real_fragment = st.fragment

    def recording_fragment(func, *, run_every=None):
        intervals.append(run_every)
        return real_fragment(func, run_every=run_every)

    def polled_every() -> set[float]:
        intervals.clear()
        open_page(app, TRAIN)
        return set(intervals)

    monkeypatch.setattr(st, "fragment", recording_fragment)
    queue = Queue(dirs["runs"])
    for other in ("first", "second"):
        job_in_state(dirs["runs"], "queued", owner="someone-else", name=other)
    mine = job_in_state(dirs["runs"], "queued", name="my run")
    assert queue.position(mine.id) == 2 and polled_every() == {3.0}
    queue.claim()
    assert queue.position(mine.id) == 2 and polled_every() == {3.0}  # one running, one queued ahead
    queue.cancel(queue.jobs()[1].id)
    assert queue.position(mine.id) == 1 and polled_every() == {1.0}  # next in line: starts as soon as one ends
    queue.finish(queue.jobs()[0].id, "completed")
    queue.claim()
    assert queue.get(mine.id).status == "running" and polled_every() == {1.0}


def test_keras_is_kept_out_of_the_full_collection_streamlit_runs_after_every_rerun(app, open_page):
    open_page(app, TRAIN)  # describing the network imports Keras into the server
    import keras

    assert gc.get_freeze_count() > 0
    assert not any(obj is keras.layers.Dense for obj in gc.get_objects())  # frozen objects are in no generation


def test_a_running_job_shows_progress_curves_time_and_can_be_stopped(app, dirs, open_page, write_run, job_in_state):
    job = job_in_state(dirs["runs"], "running", epochs=10)
    run_dir = write_run(dirs["runs"], status="running", epochs=2, run_id=job.run_id)
    write_json(run_dir / runs.PROGRESS_FILE, {"epoch": 3, "epochs": 10, "step": 5, "steps": 20,
                                                   "epoch_seconds": 0.5, "updated": time.time()})
    at = open_page(app, TRAIN)
    [bar] = at.get("progress")
    assert bar.proto.text == "Epoch 3 of 10 · batch 5 of 20" and bar.proto.value == 22  # (2 + 5/20) of 10 epochs
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epochs finished"] == "2 of 10"
    assert metrics["Left (estimate)"] == "about 39 s"  # 7.75 epochs to go at 5 s each (no test time known yet)
    accuracy, loss = at.get("vega_lite_chart")
    assert '"title": {"text": "Accuracy   (dashed: the report)"' in accuracy.proto.spec and '"text": "Loss' in loss.proto.spec
    curve = _datasets(accuracy)["curves"].sort_values(["split", "epoch"])
    assert list(curve["split"]) == ["training"] * 2 + ["validation"] * 2 and list(curve["epoch"]) == [1, 2, 1, 2]
    history = runs.open_live(run_dir).history()
    assert list(curve["value"]) == list(history["accuracy"]) + list(history["val_accuracy"])  # the run's history.csv
    [report_lines] = [d for name, d in _datasets(accuracy).items() if name != "curves"]
    figures = PRESETS["fmnist-arch1-tr1"].report
    assert sorted(report_lines["value"]) == sorted([figures.train_accuracy, figures.val_accuracy])
    at.button(key="train.cancel").click().run()
    assert Queue(dirs["runs"]).get(job.id).cancel_requested


def test_a_finished_run_shows_test_accuracy_with_its_interval_and_opens_inspect_and_compare(
    app, dirs, open_page, write_run, job_in_state
):
    job = job_in_state(dirs["runs"], "completed", name="finished run", epochs=4)
    write_run(dirs["runs"], name="finished run", run_id=job.run_id, accuracy=0.87, n_test=1000)
    shipped = write_run(dirs["pretrained"], name="the report's run")
    at = open_page(app, TRAIN)
    assert at.slider(key="cfg.epochs").value == 4  # a new session (a reload) starts from this browser's last run
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == "87.0%"
    # Wald interval of the error 0.13 on 1,000 images: 0.13 ± 1.96 * sqrt(0.13 * 0.87 / 1000) = 0.109-0.151.
    assert any("95 % confidence interval: **84.9–89.1%**" in m.value for m in at.markdown)
    # The hand-over: Compare and Inspect take their runs from session_state["compare_runs" / "inspect_run"].
    at.button(key="train.compare").click().run()
    assert not at.exception and sorted(at.session_state["compare.select"]) == sorted([job.run_id, shipped.name])
    at.switch_page(TRAIN).run()
    at.button(key="train.inspect").click().run()
    assert not at.exception and at.selectbox[0].value == job.run_id


def test_a_failed_run_is_a_message_not_a_traceback(app, dirs, open_page, write_run, job_in_state):
    job = job_in_state(dirs["runs"], "failed", name="broken run")
    path = write_run(dirs["runs"], status="running", run_id=job.run_id, name="broken run")
    runs.update_record(path, status="failed", error="DataError: Fashion-MNIST not found")
    at = open_page(app, TRAIN)
    assert any("“broken run” failed: DataError: Fashion-MNIST not found" in e.value for e in at.error)


def test_settings_the_config_refuses_are_an_error_message(app, open_page):
    # Settings left in the session by something other than the widgets: CIFAR-100 with a Fashion-MNIST network.
    bad = {**PRESETS["fmnist-arch1-tr1"].config.to_dict(), "dataset": "cifar100", "epochs": 1000}
    for name, value in bad.items():
        app.session_state[f"cfg.{name}"] = value
    app.session_state["train.ready"] = True
    at = open_page(app, TRAIN)
    errors = texts(at.error)
    assert "architecture 'fmnist_arch1' is for fashion_mnist" in errors and "epochs = 1000 is out of range" in errors
    assert at.selectbox(key="cfg.architecture").value == "cifar_arch1" and at.slider(key="cfg.epochs").value == 50


def test_an_invalid_run_name_is_explained_and_blocks_training(app, dirs, open_page):
    at = open_page(app, TRAIN)
    at.text_input(key="train.name").set_value("runs/../x").run()
    assert any("cannot contain '/'" in e.value for e in at.error)
    assert at.button(key="train.submit").disabled
    at.text_input(key="train.name").set_value("").run()  # emptied: the name made from the settings
    assert not at.error
    at.button(key="train.submit").click().run()
    assert [j.spec.name for j in Queue(dirs["runs"]).jobs()] == ["Fashion-MNIST Arch 1, trial 1 · epochs 10"]


def _checkpoint(run_dir, epoch: int) -> None:
    """A checkpoint's state.json as training writes it (the arrays are never read by the page)."""
    from core.training import checkpoint

    checkpoint.folder(run_dir).mkdir()
    write_json(checkpoint.folder(run_dir) / checkpoint.STATE_FILE, {
        "format_version": checkpoint.FORMAT_VERSION, "epoch": epoch, "arrays": f"epoch-{epoch:04d}.npz", "sha256": "0" * 64,
        "rng_state": None, "history": [], "backend": "tensorflow", "model_variables": [], "optimizer_variables": []})


def test_a_stopped_run_with_a_checkpoint_offers_resume_and_the_live_view_says_where_it_resumed(app, dirs, open_page,
                                                                                                  write_run, job_in_state):
    job = job_in_state(dirs["runs"], "cancelled", name="stopped run", epochs=10)
    run_dir = write_run(dirs["runs"], name="stopped run", run_id=job.run_id, status="cancelled", epochs=3)
    runs.update_record(run_dir, config={**runs.read_run(run_dir).config, "epochs": 10})
    _checkpoint(run_dir, 3)
    at = open_page(app, TRAIN)
    assert at.button(key="train.resume").label == "Resume from epoch 4 of 10"
    at.button(key="train.resume").click().run()
    resumed = Queue(dirs["runs"]).jobs()[-1]
    assert resumed.spec.resume and resumed.run_id == job.run_id and resumed.status == "queued" and resumed.spec.epochs is None
    # A worker takes it: the live view says it did not start from scratch.
    Queue(dirs["runs"]).claim()
    write_json(run_dir / runs.PROGRESS_FILE, {"epoch": 4, "epochs": 10, "step": 1, "steps": 20, "epoch_seconds": 0.1,
                                                   "start_epoch": 3, "updated": time.time()})
    at.run()
    assert "Resumed at epoch 4: the first 3 epochs came from its checkpoint." in texts(at.caption)


def test_a_finished_constant_rate_run_trains_more_epochs(app, dirs, open_page, write_run, job_in_state):
    job = job_in_state(dirs["runs"], "completed", name="done", epochs=4)
    run_dir = write_run(dirs["runs"], name="done", run_id=job.run_id, epochs=4)
    _checkpoint(run_dir, 4)
    at = open_page(app, TRAIN)
    at.number_input(key="train.more_epochs").set_value(6).run()
    at.button(key="train.more").click().run()
    more = Queue(dirs["runs"]).jobs()[-1]
    assert more.spec.resume and more.spec.epochs == 10 and more.spec.config.epochs == 10


def test_the_time_a_run_will_take_is_estimated_from_finished_runs_before_training(app, dirs, open_page, write_run):
    write_run(dirs["pretrained"], name="shipped", epochs=10)  # 51,000 images an epoch in 5 s
    at = open_page(app, TRAIN)
    [estimate] = [c.value for c in at.caption if c.value.startswith("**About")]
    # Opened on trial 1 at 10 epochs: 10 x 5 s + the start-up and test the shipped run recorded.
    assert estimate.startswith("**About 1 min") and "from 1 finished run of this network" in estimate
    assert "** on this machine's " in estimate and "(CPU (" not in estimate
    assert "Until a run of this network finishes here, that is a rough guess." in estimate  # a shipped run's machine
    at.slider(key="cfg.epochs").set_value(300).run()  # 25 minutes: over 10, a warning says so
    assert any("That is long for a lesson" in w.value for w in at.warning)


def test_the_settings_are_in_the_address_and_a_link_opens_them(make_app, open_page):
    at = open_page(make_app(), TRAIN)
    at.slider(key="cfg.epochs").set_value(7).run()
    assert at.query_params["preset"] == "fmnist-arch1-tr1" and at.query_params["epochs"] == "7"
    link = make_app()
    link.query_params.update({"preset": "fmnist-arch2-tr1", "dropout": "0.3", "learning_rate": "7"})
    at = link.switch_page(TRAIN).run()
    assert at.selectbox(key="train.preset").value == "fmnist-arch2-tr1" and at.slider(key="cfg.dropout").value == 0.3
    assert at.select_slider(key="cfg.learning_rate").value == PRESETS["fmnist-arch2-tr1"].config.learning_rate
    assert "learning_rate = 7.0 is out of range" in texts(at.error)


def test_the_image_limit_offers_3000(app, open_page):
    at = open_page(app, TRAIN)
    assert "3,000" in at.select_slider(key="cfg.limit").options and "2,000" in at.select_slider(key="cfg.limit").options


def test_the_learning_rate_finder_is_a_queued_test_whose_suggestion_sets_the_slider(app, dirs, open_page):
    at = open_page(app, TRAIN)
    at.button(key="train.lr_find").click().run()
    queue = Queue(dirs["runs"])
    (finder,) = [j for j in queue.jobs() if j.spec.lr_find]
    assert finder.status == "queued" and finder.spec.config.architecture == "fmnist_arch1"
    assert not [b for b in at.button if b.key == "train.cancel"]  # a finder test is not the browser's run
    # A worker runs it: the curve and its suggestion land in the runs folder.
    queue.claim()
    path = jobs.lr_find_file(dirs["runs"], finder.run_id)
    path.parent.mkdir(parents=True)
    rates = [1e-6 * 10 ** (i / 20) for i in range(100)]
    write_json(path, {"learning_rates": rates, "losses": [2.3] * 100, "smoothed": [2.3] * 100, "stop_reason": "diverged",
                           "suggestion": 3.16e-4})
    queue.finish(finder.id, "completed")
    at.run()
    assert any('"Loss while the learning rate rises"' in c.proto.spec for c in at.get("vega_lite_chart"))
    at.button(key="train.lr_use").click().run()
    assert at.select_slider(key="cfg.learning_rate").value == 3.2e-4


def test_a_damaged_learning_rate_result_is_a_message_not_a_traceback(app, dirs, open_page):
    at = open_page(app, TRAIN)
    at.button(key="train.lr_find").click().run()
    queue = Queue(dirs["runs"])
    (finder,) = [j for j in queue.jobs() if j.spec.lr_find]
    queue.claim()
    path = jobs.lr_find_file(dirs["runs"], finder.run_id)
    path.parent.mkdir(parents=True)
    path.write_text('{"learning_rates": [1e-6, 1e-5')  # cut off mid-write by a full disk
    queue.finish(finder.id, "completed")
    at.run()
    assert not at.exception
    assert any("result cannot be read" in e.value and "run the test again" in e.value for e in at.error)


def _epoch_axis(chart) -> list:
    """The domain of a curve chart's epoch axis, as the browser gets it."""
    import json

    return json.loads(chart.proto.spec)["layer"][0]["encoding"]["x"]["scale"]["domain"]


def test_a_run_stopped_at_epoch_4_of_300_has_curves_of_4_epochs(app, dirs, open_page, write_run, job_in_state):
    job = job_in_state(dirs["runs"], "cancelled", name="stopped early", epochs=300)
    run_dir = write_run(dirs["runs"], name="stopped early", run_id=job.run_id, status="cancelled", epochs=4)
    runs.update_record(run_dir, config={**runs.read_run(run_dir).config, "epochs": 300})
    at = open_page(app, TRAIN)
    assert any("stopped after 4 of 300 epochs" in s.value for s in at.subheader)
    assert [_epoch_axis(c) for c in at.get("vega_lite_chart")] == [[1, 4], [1, 4]]


def test_a_running_run_keeps_its_planned_epochs_on_the_axis_and_a_finished_one_ends_where_it_stopped():
    from ui.curves import last_epoch

    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "loss": [2.0, 1.5, 1.2, 1.1]})
    assert last_epoch(history, 300, finished=False) == 300  # the curves grow into the planned axis
    assert last_epoch(history, 300, finished=True) == 4
    assert last_epoch(history.iloc[:0], 300, finished=True) == 300  # nothing trained: the plan is all there is


def _axis_labels(metric: str, values: list[float]) -> list[str]:
    """The text of a curve chart drawn without a browser (vl-convert, as Compare's picture export draws)."""
    import re

    import pytest

    from ui.curves import CURVES_DATASET, curve_spec

    vl_convert = pytest.importorskip("vl_convert")
    spec = curve_spec(metric, len(values), ())
    rows = [{"epoch": epoch, "split": "training", "value": v} for epoch, v in enumerate(values, 1)]
    svg = vl_convert.vegalite_to_svg({**spec, "datasets": {**spec.get("datasets", {}), CURVES_DATASET: rows}})
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_curve_axes_read_as_plain_numbers_at_any_scale():
    diverged = _axis_labels("loss", [400000, 300000, 2.3, 2.2])  # a learning rate far too high
    assert "400,000" in diverged and not any(label.endswith(".00") for label in diverged)
    flat = [label for label in _axis_labels("loss", [0.3012, 0.3014, 0.3016, 0.302]) if label.startswith("0.30")]
    assert len(flat) > 2 and len(set(flat)) == len(flat)  # enough decimals to tell the ticks apart
    close = [label for label in _axis_labels("accuracy", [0.981, 0.982, 0.984, 0.985]) if label.endswith("%")]
    assert len(close) > 2 and len(set(close)) == len(close) and all(label.startswith("98.") for label in close)
    assert "50%" in _axis_labels("accuracy", [0.1, 0.5, 0.9, 0.95])


def _holders(node, target) -> list:
    """The blocks from the page's root down to `target`."""
    for child in getattr(node, "children", {}).values():
        if child is target:
            return [node]
        if inside := _holders(child, target):
            return [node, *inside]
    return []


def test_the_cifar_arch1_diagram_is_drawn_whole_at_its_own_height(app, open_page, monkeypatch):
    """It was cut off after the second pooling: the rest hid in a borderless box of 660 pixels that scrolled."""
    drawn = []
    monkeypatch.setattr(st, "graphviz_chart", lambda *a, _draw=st.graphviz_chart, **k: drawn.append(k) or _draw(*a, **k))
    at = open_page(app, TRAIN)
    at.segmented_control(key="cfg.dataset").set_value("cifar100").run()
    assert at.selectbox(key="cfg.architecture").value == "cifar_arch1"
    [diagram] = at.get("graphviz_chart")
    assert diagram.proto.spec.count("[label=") - diagram.proto.spec.count("->") == 9  # every box, to the softmax
    assert "Dense 100 · softmax" in diagram.proto.spec
    holders = _holders(at._tree, diagram)
    heights = [b.proto.height_config for b in holders if hasattr(getattr(b, "proto", None), "height_config")]
    assert heights and not any(h.pixel_height or h.rem_height for h in heights)  # no box of a fixed height around it
    assert drawn[-1].get("height", "content") == "content"  # no fixed height of its own either


def test_the_image_limit_goes_no_further_than_the_datasets_training_images(app, open_page):
    at = open_page(app, TRAIN)
    assert at.select_slider(key="cfg.limit").options[-1] == "60,000"
    at.segmented_control(key="cfg.dataset").set_value("cifar100").run()
    assert at.select_slider(key="cfg.limit").options[-1] == "50,000" and "all" in at.select_slider(key="cfg.limit").options


def test_try_several_values_trains_the_grid_as_one_sweep(app, dirs, open_page):
    at = open_page(app, TRAIN)
    at.toggle(key="train.sweep").set_value(True).run()
    at.multiselect(key="train.sweep_fields").set_value(["dropout", "l2"]).run()
    at.text_input(key="train.sweep_values_dropout").set_value("0, 0.5").run()
    at.text_input(key="train.sweep_values_l2").set_value("0, 0.001").run()
    assert "4 runs, one for each dropout rate and l2 strength (0 = off)" in " ".join(c.value for c in at.caption)
    assert at.button(key="train.submit").label == "Train 4 runs" and at.number_input(key="train.seeds").disabled
    at.button(key="train.submit").click().run()
    queued = Queue(dirs["runs"]).jobs()
    assert len(queued) == 4 and len({j.spec.sweep["id"] for j in queued}) == 1
    assert sorted((j.spec.config.dropout, j.spec.config.l2) for j in queued) == [(0, 0), (0, 1e-3), (0.5, 0), (0.5, 1e-3)]
    at.text_input(key="train.sweep_values_dropout").set_value("0, 2").run()
    assert any("This sweep cannot be trained: dropout = 2.0 is out of range" in e.value for e in at.error)


def test_a_run_can_start_from_a_finished_run_of_the_same_network(app, dirs, open_page, write_run):
    source = write_run(dirs["runs"], name="my first network")
    (source / runs.MODEL_FILE).write_bytes(b"")  # only a run that kept its network is offered (Run.has_model)
    at = open_page(app, TRAIN)
    start = at.selectbox(key="cfg.start_from")
    assert start.value == "" and at.segmented_control(key="cfg.transfer").disabled
    start.set_value(source.name).run()
    assert not at.segmented_control(key="cfg.transfer").disabled
    at.segmented_control(key="cfg.transfer").set_value("frozen").run()
    at.button(key="train.submit").click().run()
    (job,) = Queue(dirs["runs"]).jobs()
    assert (job.spec.config.start_from, job.spec.config.transfer) == (source.name, "frozen")
