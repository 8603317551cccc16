"""The Compare page's views: which settings differ, the results with 95 % intervals, the curves, McNemar.

The tables and points are pure functions of the runs (tested without a browser); the charts are Altair.
"""

from __future__ import annotations

import textwrap

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import formatting as fmt
from core import runs
from core.stats import mcnemar_test, wald_interval
from ui import runs_view

ACCURACY_MEASURES = ["test", "validation", "best validation", "training"]
LOSS_MEASURES = ["test", "validation", "training"]
# Test in black: it is the number that counts; the others are how the run got there.
MEASURE_COLOURS = {"test": "#111111", "validation": "#4c78a8", "best validation": "#9ecae9", "training": "#e45756"}
ROW_PX = 26  # height of one measure's row: both charts use ACCURACY_MEASURES' rows, so runs line up side by side


def comparable_pair(candidates: list[runs.Run]) -> list[str]:
    """What Compare opens on: the newest run with results and the newest other one of the same dataset
    (candidates come newest first); a lone run when no pair shares a dataset."""
    for i, first in enumerate(candidates):
        for second in candidates[i + 1:]:
            if second.record.get("dataset") == first.record.get("dataset"):
                return [first.id, second.id]
    return [c.id for c in candidates[:1]]


def hyperparameter_table(selected: list[runs.Run], labels: dict[str, str], everything: bool) -> pd.DataFrame:
    """Config fields (rows) by run (columns), as people read them: only the fields whose values differ, unless
    `everything`."""
    names = list(dict.fromkeys(k for r in selected for k in r.config))
    rows = {}
    for name in names:
        values = [r.config.get(name) for r in selected]
        if everything or any(v != values[0] for v in values[1:]):
            rows[runs_view.field_label(name)] = [fmt.setting(name, v) for v in values]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[labels[r.id] for r in selected])


def results_table(selected: list[runs.Run], labels: dict[str, str]) -> pd.DataFrame:
    mixed = len({r.record.get("dataset") for r in selected}) > 1
    rows = []
    for r in selected:
        m = runs_view.metrics(r)
        best = m.get("best_val_accuracy")
        loss = lambda key: f"{m[key]:.3f}" if isinstance(m.get(key), (int, float)) else fmt.DASH  # noqa: E731
        row = {"Run": labels[r.id]}
        if mixed:
            row["Dataset"] = runs_view.dataset_title(r.record.get("dataset"))
        row.update({
            "Test accuracy": fmt.pct(m.get("test_accuracy")),
            "95 % interval": fmt.accuracy_interval_text(m),
            "Best val. acc.": f"{fmt.pct(best)} (epoch {m.get('best_epoch')})" if best is not None else fmt.DASH,
            "Train acc.": fmt.pct(m.get("train_accuracy")),
            "Val. acc.": fmt.pct(m.get("val_accuracy")),
            "Train loss": loss("train_loss"),
            "Val. loss": loss("val_loss"),
            "Epochs": str(m.get("epochs_trained", fmt.DASH)),
        })
        rows.append(row)
    return pd.DataFrame(rows).set_index("Run")


def accuracy_points(selected: list[runs.Run], labels: dict[str, str]) -> pd.DataFrame:
    """One row per run and measure, in %; low/high hold the 95 % Wald interval where one is honest."""
    rows = []
    for r in selected:
        m = runs_view.metrics(r)
        val, n_val = m.get("val_accuracy"), (r.record.get("data") or {}).get("validation")
        val_ci = None
        if isinstance(val, (int, float)) and n_val:
            low, high = wald_interval(round((1 - val) * n_val), n_val)
            val_ci = (1 - high, 1 - low)
        for measure, value, ci in (("test", m.get("test_accuracy"), fmt.accuracy_interval(m)),
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
        m = runs_view.metrics(r)
        for measure, key in zip(LOSS_MEASURES, ("test_loss", "val_loss", "train_loss")):
            if isinstance(m.get(key), (int, float)):
                rows.append({"run": labels[r.id], "measure": measure, "value": m[key]})
    return pd.DataFrame(rows, columns=["run", "measure", "value"])


def points_chart(frame: pd.DataFrame, run_order: list[str], measures: list[str], title: str, x_title: str,
                 with_names: bool = True) -> alt.Chart:
    """Runs down the side, one dot per measure, 95 % intervals as error bars where the frame has them.

    Every chart gives each run the rows of all of ACCURACY_MEASURES, used or not, so that a chart without names
    lines up row for row beside one that has them; long run names wrap onto lines of their own."""
    wrap = {name: "\n".join(textwrap.wrap(name, 34)) for name in run_order}
    frame = frame.assign(line=frame["run"].map(wrap))
    base = alt.Chart(frame).encode(
        y=alt.Y("line:N", title=None, sort=[wrap[n] for n in run_order], scale=alt.Scale(domain=[wrap[n] for n in run_order]),
                axis=alt.Axis(labels=with_names, labelExpr="split(datum.label, '\\n')")),
        yOffset=alt.YOffset("measure:N", scale=alt.Scale(domain=ACCURACY_MEASURES)),
        color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top", columns=len(measures), labelLimit=240),
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
    return alt.layer(*layers).properties(title=title, height=ROW_PX * len(ACCURACY_MEASURES) * len(run_order))


def curves_chart(selected: list[runs.Run], labels: dict[str, str], colour: alt.Scale, metric: str, title: str) -> alt.Chart:
    """Per-epoch curves: colour is the run, a solid line training and a dashed line validation."""
    frames = []
    for r in selected:
        h = runs_view.history(r)
        for split, column in (("training", metric), ("validation", f"val_{metric}")):
            if column in h and len(h):
                frames.append(pd.DataFrame({"run": labels[r.id], "split": split, "epoch": h["epoch"], "value": h[column]}))
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "split", "epoch", "value"])
    if metric == "accuracy":
        data["value"] = data["value"] * 100
    return alt.Chart(data).mark_line(strokeWidth=3).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(format="d", tickMinStep=1)),  # whole epochs, even for 2 of them
        y=alt.Y("value:Q", title="accuracy (%)" if metric == "accuracy" else "loss", scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", scale=colour, title=None, legend=alt.Legend(orient="bottom", direction="vertical")),
        strokeDash=alt.StrokeDash("split:N", title=None, legend=alt.Legend(orient="top"),
                                  scale=alt.Scale(domain=["training", "validation"], range=[[1, 0], [6, 4]])),
        tooltip=["run", "split", "epoch", alt.Tooltip("value:Q", format=".3f")],
    ).properties(title=title, height=340)


def results_charts(chosen: list[runs.Run], labels: dict[str, str]) -> None:
    order = [labels[r.id] for r in chosen]
    # The loss chart leaves out the run names: it lists the runs in the same rows, beside the accuracy chart.
    left, right = st.columns([1.7, 1], gap="medium")
    left.altair_chart(runs_view.styled(points_chart(accuracy_points(chosen, labels), order, ACCURACY_MEASURES,
                                                    "Accuracy", "accuracy (%)")))
    right.altair_chart(runs_view.styled(points_chart(loss_points(chosen, labels), order, LOSS_MEASURES, "Loss", "loss",
                                                     with_names=False)))
    st.caption("Validation and training: the last epoch. Bars: 95 % intervals (Wald, as in the report) of the test "
               "and validation accuracy. The training accuracy is averaged over the last epoch with dropout on, and the "
               "best validation epoch was picked after the fact, so neither has an honest interval. "
               "Losses include the L2 penalty.")


def curve_charts(chosen: list[runs.Run], labels: dict[str, str]) -> None:
    order = [labels[r.id] for r in chosen]
    colour = alt.Scale(domain=order, scheme="tableau10" if len(chosen) <= 10 else "tableau20")
    left, right = st.columns(2, gap="large")
    left.altair_chart(runs_view.styled(curves_chart(chosen, labels, colour, "accuracy", "Accuracy per epoch")))
    right.altair_chart(runs_view.styled(curves_chart(chosen, labels, colour, "loss", "Loss per epoch")))


def mcnemar_section(selected: list[runs.Run], labels: dict[str, str]) -> None:
    """McNemar's test on the paired test predictions of two runs (picked when more are selected)."""
    st.subheader("Is the difference in test accuracy real?")
    first, second = selected[:2]
    if len(selected) > 2:
        ids = [r.id for r in selected]
        left, right = st.columns(2)
        a = left.selectbox("First run", ids, format_func=labels.get, key="compare.pair_a")
        b = right.selectbox("Second run", [i for i in ids if i != a], format_func=labels.get, key="compare.pair_b")
        first, second = (next(r for r in selected if r.id == i) for i in (a, b))
    name_a, name_b = fmt.text(labels[first.id]), fmt.text(labels[second.id])
    if first.record.get("dataset") != second.record.get("dataset"):
        st.info(f"{name_a} and {name_b} were tested on different datasets, so there is nothing to pair.")
        return
    try:
        pa, pb = runs_view.predictions(first), runs_view.predictions(second)
    except runs.RunError as e:
        st.error(f"Cannot read the predictions: {fmt.text(e)}")
        return
    if pa["y_true"].shape != pb["y_true"].shape or not np.array_equal(pa["y_true"], pb["y_true"]):
        st.warning("These runs were not tested on the same images in the same order, so their predictions cannot be paired.")
        return
    result = mcnemar_test(pa["y_true"] == pa["y_pred"], pb["y_true"] == pb["y_pred"])
    (st.success if result.significant() else st.info)(result.sentence(name_a, name_b))
    st.caption("McNemar's test counts only the test images on which exactly one of the two runs is right: "
               "the fair way to compare two classifiers scored on the same test set.")
