"""Compare runs: what was changed, what came out (with 95 % intervals), the curves, and whether a gap is real.

Also where one's own runs are renamed, deleted, exported and imported. Shipped runs are read-only.
"""

from __future__ import annotations

import functools
import textwrap

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import runs
from core.stats import mcnemar_test, wald_interval
from pages import common, views

SELECT_KEY = "compare_select"
ACCURACY_MEASURES = ["test", "validation", "best validation", "training"]
LOSS_MEASURES = ["test", "validation", "training"]
# Test in black: it is the number that counts; the others are how the run got there.
MEASURE_COLOURS = {"test": "#111111", "validation": "#4c78a8", "best validation": "#9ecae9", "training": "#e45756"}


def hyperparameter_table(selected: list[runs.Run], labels: dict[str, str], everything: bool) -> pd.DataFrame:
    """Config fields (rows) by run (columns): only the fields whose values differ, unless `everything`."""
    names = list(dict.fromkeys(k for r in selected for k in r.config))
    rows = {}
    for name in names:
        values = [r.config.get(name) for r in selected]
        if everything or any(v != values[0] for v in values[1:]):
            rows[views.field_label(name)] = [views.value_text(v) for v in values]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[labels[r.id] for r in selected])


def results_table(selected: list[runs.Run], labels: dict[str, str]) -> pd.DataFrame:
    mixed = len({r.record.get("dataset") for r in selected}) > 1
    rows = []
    for r in selected:
        m = views.metrics(r)
        best = m.get("best_val_accuracy")
        loss = lambda key: f"{m[key]:.3f}" if isinstance(m.get(key), (int, float)) else "—"  # noqa: E731
        row = {"Run": labels[r.id]}
        if mixed:
            row["Dataset"] = views.dataset_title(r.record.get("dataset"))
        row.update({
            "Test accuracy": views.percent(m.get("test_accuracy")),
            "95 % interval": views.interval_text(m),
            "Best val. acc.": f"{views.percent(best)} (epoch {m.get('best_epoch')})" if best is not None else "—",
            "Train acc.": views.percent(m.get("train_accuracy")),
            "Val. acc.": views.percent(m.get("val_accuracy")),
            "Train loss": loss("train_loss"),
            "Val. loss": loss("val_loss"),
            "Epochs": str(m.get("epochs_trained", "—")),
        })
        rows.append(row)
    return pd.DataFrame(rows).set_index("Run")


def accuracy_points(selected: list[runs.Run], labels: dict[str, str]) -> pd.DataFrame:
    """One row per run and measure, in %; low/high hold the 95 % Wald interval where one is honest."""
    rows = []
    for r in selected:
        m = views.metrics(r)
        val, n_val = m.get("val_accuracy"), (r.record.get("data") or {}).get("validation")
        val_ci = None
        if isinstance(val, (int, float)) and n_val:
            low, high = wald_interval(round((1 - val) * n_val), n_val)
            val_ci = (1 - high, 1 - low)
        for measure, value, ci in (("test", m.get("test_accuracy"), views.accuracy_interval(m)),
                                   ("validation", val, val_ci),
                                   ("best validation", m.get("best_val_accuracy"), None),
                                   ("training", m.get("train_accuracy"), None)):
            if isinstance(value, (int, float)):
                rows.append({"run": labels[r.id], "measure": measure, "value": value * 100,
                             "low": ci[0] * 100 if ci else None, "high": ci[1] * 100 if ci else None})
    return pd.DataFrame(rows, columns=["run", "measure", "value", "low", "high"])


def loss_points(selected: list[runs.Run], labels: dict[str, str]) -> pd.DataFrame:
    rows = []
    for r in selected:
        m = views.metrics(r)
        for measure, key in zip(LOSS_MEASURES, ("test_loss", "val_loss", "train_loss")):
            if isinstance(m.get(key), (int, float)):
                rows.append({"run": labels[r.id], "measure": measure, "value": m[key]})
    return pd.DataFrame(rows, columns=["run", "measure", "value"])


def points_chart(frame: pd.DataFrame, run_order: list[str], measures: list[str], title: str, x_title: str,
                 with_names: bool = True) -> alt.Chart:
    """Runs down the side, one dot per measure, 95 % intervals as error bars where the frame has them.

    Long run names are wrapped onto lines of their own; without names, the chart lines up beside one that has them."""
    wrap = {name: "\n".join(textwrap.wrap(name, 34)) for name in run_order}
    frame = frame.assign(line=frame["run"].map(wrap))
    base = alt.Chart(frame).encode(
        y=alt.Y("line:N", title=None, sort=[wrap[n] for n in run_order],
                axis=alt.Axis(labels=with_names, labelExpr="split(datum.label, '\\n')")),
        yOffset=alt.YOffset("measure:N", sort=measures),
        color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=measures, range=[MEASURE_COLOURS[m] for m in measures])),
    )
    dots = base.mark_point(filled=True, size=200, opacity=1).encode(
        x=alt.X("value:Q", title=x_title, scale=alt.Scale(zero=False)),
        tooltip=["run", "measure", alt.Tooltip("value:Q", format=".2f")],
    )
    layers = [dots]
    if "low" in frame:
        bars = base.transform_filter("isValid(datum.low)").mark_rule(strokeWidth=3).encode(x="low:Q", x2="high:Q")
        layers.insert(0, bars)
    return alt.layer(*layers).properties(title=title, height=26 * len(measures) * len(run_order))


def curves_chart(selected: list[runs.Run], labels: dict[str, str], colour: alt.Scale, metric: str, title: str) -> alt.Chart:
    """Per-epoch curves: colour is the run, a solid line training and a dashed line validation."""
    frames = []
    for r in selected:
        h = views.history(r)
        for split, column in (("training", metric), ("validation", f"val_{metric}")):
            if column in h and len(h):
                frames.append(pd.DataFrame({"run": labels[r.id], "split": split, "epoch": h["epoch"], "value": h[column]}))
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "split", "epoch", "value"])
    if metric == "accuracy":
        data["value"] = data["value"] * 100
    return alt.Chart(data).mark_line(strokeWidth=3).encode(
        x=alt.X("epoch:Q", title="epoch"),
        y=alt.Y("value:Q", title="accuracy (%)" if metric == "accuracy" else "loss", scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", scale=colour, title=None, legend=alt.Legend(orient="bottom", direction="vertical")),
        strokeDash=alt.StrokeDash("split:N", title=None, legend=alt.Legend(orient="top"),
                                  scale=alt.Scale(domain=["training", "validation"], range=[[1, 0], [6, 4]])),
        tooltip=["run", "split", "epoch", alt.Tooltip("value:Q", format=".3f")],
    ).properties(title=title, height=340)


def mcnemar_section(selected: list[runs.Run], labels: dict[str, str]) -> None:
    """McNemar's test on the paired test predictions of two runs (picked when more are selected)."""
    st.subheader("Is the difference in test accuracy real?")
    first, second = selected[:2]
    if len(selected) > 2:
        ids = [r.id for r in selected]
        left, right = st.columns(2)
        a = left.selectbox("First run", ids, format_func=labels.get, key="compare_pair_a")
        b = right.selectbox("Second run", [i for i in ids if i != a], format_func=labels.get, key="compare_pair_b")
        first, second = (next(r for r in selected if r.id == i) for i in (a, b))
    if first.record.get("dataset") != second.record.get("dataset"):
        st.info(f"{labels[first.id]} and {labels[second.id]} were tested on different datasets, so there is nothing to pair.")
        return
    try:
        pa, pb = views.predictions(first), views.predictions(second)
    except runs.RunError as e:
        st.error(f"Cannot read the predictions: {e}")
        return
    if pa["y_true"].shape != pb["y_true"].shape or not np.array_equal(pa["y_true"], pb["y_true"]):
        st.warning("These runs were not tested on the same images in the same order, so their predictions cannot be paired.")
        return
    result = mcnemar_test(pa["y_true"] == pa["y_pred"], pb["y_true"] == pb["y_pred"])
    (st.success if result.significant() else st.info)(result.sentence(labels[first.id], labels[second.id]))
    st.caption("McNemar's test counts only the test images on which exactly one of the two runs is right: "
               "the fair way to compare two classifiers scored on the same test set.")


def manage_section(all_runs: list[runs.Run], selected_ids: list[str]) -> None:
    """Rename, delete and export a run; import an exported one. Shipped runs are read-only."""
    st.subheader("Manage runs")
    by_id = {r.id: r for r in all_runs}
    if all_runs:
        if st.session_state.get("manage_select") not in by_id:
            st.session_state["manage_select"] = selected_ids[0] if selected_ids else all_runs[0].id
        run = by_id[st.selectbox("Run", list(by_id), format_func=lambda i: views.run_option(by_id[i]), key="manage_select")]
        if run.shipped:
            st.info("This run is **shipped** with the dashboard, so it cannot be renamed or deleted. "
                    "Export it and import the copy to get one of your own.", icon=":material/lock:")
        name_col, rename_col, delete_col = st.columns([3, 1, 1], vertical_alignment="bottom")
        new_name = name_col.text_input("Name", value=run.name, key=f"manage_name_{run.id}", disabled=run.shipped,
                                       max_chars=runs.MAX_NAME_LENGTH)
        if rename_col.button("Rename", key="manage_rename", disabled=run.shipped or bool(run.problem), width="stretch"):
            try:
                runs.rename_run(run, new_name)
            except runs.RunError as e:
                st.error(f"Cannot rename: {e}")
            else:
                st.session_state["compare_flash"] = f"Renamed to “{new_name.strip()}”."
                st.rerun()
        if delete_col.button("Delete…", key="manage_delete", disabled=run.shipped or run.status == "running", width="stretch"):
            st.session_state["compare_confirm_delete"] = run.id
        if run.status == "running" and not run.shipped:
            st.caption("A run that is still training cannot be deleted; cancel it on the Train page first.")
        if st.session_state.get("compare_confirm_delete") == run.id:
            with st.container(border=True):
                st.warning(f"Delete **{run.name}** for good? Its folder `{run.path.name}` and everything in it will be removed.")
                yes, no = st.columns(2)
                if yes.button("Yes, delete it", type="primary", key="manage_delete_yes", width="stretch"):
                    st.session_state.pop("compare_confirm_delete", None)
                    try:
                        runs.delete_run(run)
                    except runs.RunError as e:
                        st.error(f"Cannot delete: {e}")
                    else:
                        st.session_state["compare_flash"] = f"Deleted “{run.name}”."
                        st.rerun()
                if no.button("Cancel", key="manage_delete_no", width="stretch"):
                    st.session_state.pop("compare_confirm_delete", None)
                    st.rerun()
        if views.has_results(run):
            st.download_button("Export as zip", data=functools.partial(runs.export_run, run), file_name=f"{run.id}.zip",
                               mime="application/zip", key="manage_export", on_click="ignore",
                               icon=":material/download:")

    # A new uploader key after each import empties it, so one upload is imported once.
    upload_key = f"import_zip_{st.session_state.setdefault('compare_import_round', 0)}"
    uploaded = st.file_uploader("Import a run (a zip exported from this page)", type="zip", key=upload_key)
    if uploaded is not None:
        try:
            new = runs.import_run(uploaded.getvalue(), common.RUNS_DIR)
        except runs.RunError as e:
            st.error(f"Could not import {uploaded.name}: {e}")
        else:
            st.session_state["compare_import_round"] += 1
            st.session_state["compare_runs"] = [*selected_ids, new.id]  # selected on the rerun, as a hand-over
            st.session_state["compare_flash"] = f"Imported “{new.name}” as a run of yours; it is now selected above."
            st.rerun()


# --- the page -------------------------------------------------------------------------------------

st.title("Compare runs")
if flash := st.session_state.pop("compare_flash", None):  # what the action before the last rerun did
    st.success(flash)

all_runs = common.all_runs()
by_id = {r.id: r for r in all_runs}
comparable_ids = [r.id for r in all_runs if views.has_results(r)]

# The Train page hands over runs to compare; otherwise keep the last choice, or start with the two newest.
handed = st.session_state.pop("compare_runs", None)
if handed is not None:
    st.session_state[SELECT_KEY] = [i for i in handed if i in comparable_ids]
elif SELECT_KEY in st.session_state:
    st.session_state[SELECT_KEY] = [i for i in st.session_state[SELECT_KEY] if i in comparable_ids]
else:
    st.session_state[SELECT_KEY] = comparable_ids[:2]

chosen_ids = st.multiselect("Runs to compare", comparable_ids, format_func=lambda i: views.run_option(by_id[i]),
                            key=SELECT_KEY, persist_state="session", placeholder="Choose runs, shipped ones and yours")
unavailable = [r for r in all_runs if not views.has_results(r)]
if unavailable:
    with st.expander(f"{len(unavailable)} run{'' if len(unavailable) == 1 else 's'} without results to compare"):
        for r in unavailable:
            why = r.problem or r.record.get("error") or ("still training" if r.status == "running" else "no results written")
            st.markdown(f"- **{r.name}** ({views.owner(r)}, {r.status}): {why}")

chosen = [by_id[i] for i in chosen_ids]
if not chosen:
    st.info("Choose one or more runs above to compare them." if comparable_ids else
            "No finished runs yet: train one on the Train page, or import one below.")
else:
    labels = views.short_labels(chosen)
    order = [labels[r.id] for r in chosen]
    colour = alt.Scale(domain=order, scheme="tableau10" if len(chosen) <= 10 else "tableau20")

    st.subheader("What differs")
    show_all = st.toggle("Show all hyperparameters", key="compare_all_params", disabled=len(chosen) == 1)
    table = hyperparameter_table(chosen, labels, show_all or len(chosen) == 1)
    if table.empty:
        st.markdown("These runs share every hyperparameter.")
    else:
        st.table(table)

    st.subheader("Results")
    st.table(results_table(chosen, labels))
    # The loss chart leaves out the run names: it lists the runs in the same order, beside the accuracy chart.
    left, right = st.columns([1.7, 1], gap="medium")
    left.altair_chart(views.styled(points_chart(accuracy_points(chosen, labels), order, ACCURACY_MEASURES,
                                                "Accuracy", "accuracy (%)")))
    right.altair_chart(views.styled(points_chart(loss_points(chosen, labels), order, LOSS_MEASURES, "Loss", "loss",
                                                 with_names=False)))
    st.caption("Validation and training: the last epoch. Bars: 95 % intervals (Wald, as in the report) of the test "
               "and validation accuracy. The training accuracy is averaged over the last epoch with dropout on, and the "
               "best validation epoch was picked after the fact, so neither has an honest interval. "
               "Losses include the L2 penalty.")

    if len(chosen) >= 2:
        mcnemar_section(chosen, labels)

    st.subheader("Training curves")
    left, right = st.columns(2, gap="large")
    left.altair_chart(views.styled(curves_chart(chosen, labels, colour, "accuracy", "Accuracy per epoch")))
    right.altair_chart(views.styled(curves_chart(chosen, labels, colour, "loss", "Loss per epoch")))

st.divider()
manage_section(all_runs, chosen_ids)
