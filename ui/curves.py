"""Accuracy and loss per epoch, training and validation, side by side: the Train page's live and final charts.

The Vega-Lite spec is built and validated by Altair once per shape and cached; each redraw only sends the
epochs as a named dataset (Altair's copy and schema check were most of a live view's time: docs/load-test.md).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

TRAIN_COLOR, VAL_COLOR = "#2563eb", "#ea580c"
SPLITS = {"training": ("", TRAIN_COLOR), "validation": ("val_", VAL_COLOR)}
# Per metric: its title, its axis labels' format and its tooltip's. The axis formats name no precision: Vega then picks
# the decimals from the step between ticks (50%, 98.15%; 400,000, 0.3012), where a fixed ".2f" wrote 400000.00.
METRICS = {"accuracy": ("Accuracy", "%", ".1%"), "loss": ("Loss", ",f", ",.4~r")}
CURVES_DATASET, BATCHES_DATASET = "curves", "batches"
BATCH_COLOR = "#93c5fd"


@st.cache_data(show_spinner=False, max_entries=64)
def curve_spec(metric: str, epochs: int, reference: tuple[tuple[str, float], ...], chance: float | None = None,
               batches: bool = False) -> dict:
    """The Vega-Lite spec of one curve chart, without its data; accuracy charts mark chance level (guessing); with
    `batches`, the loss chart also draws the loss of recent batches between the epochs (a thin line from 0)."""
    title, number, exact = METRICS[metric]
    color = alt.Color("split:N", title=None, scale=alt.Scale(domain=list(SPLITS), range=[c for _, c in SPLITS.values()]),
                      legend=alt.Legend(orient="top", labelFontSize=18, symbolSize=250, symbolStrokeWidth=4))
    big = dict(labelFontSize=18, titleFontSize=18)  # read from the back of a classroom
    # Whole epochs only: a 2-epoch run must not get ticks at 1.5.
    first = 0 if batches else 1
    x = alt.X("epoch:Q", title="Epoch", scale=alt.Scale(domain=[first, max(2, epochs)]),
              axis=alt.Axis(tickMinStep=1, format="d", values=list(range(first, epochs + 1)) if epochs <= 12 else alt.Undefined,
                            **big))
    y = alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(format=number, **big))
    tooltip = [alt.Tooltip("epoch:Q", title="Epoch"), alt.Tooltip("split:N", title=""),
               alt.Tooltip("value:Q", title=title, format=exact)]
    base = alt.Chart().encode(x=x, y=y, color=color, tooltip=tooltip)
    layers = [base.mark_line(strokeWidth=3), base.mark_point(size=90, filled=True)]
    if reference:
        marks = pd.DataFrame([{"split": split, "value": value} for split, value in reference])
        layers.append(alt.Chart(marks).mark_rule(strokeDash=[8, 6], strokeWidth=2).encode(y="value:Q", color=color))
        title += "   (dashed: the report)"
    if batches:
        recent = alt.Chart(alt.Data(name=BATCHES_DATASET)).mark_line(strokeWidth=1.5, color=BATCH_COLOR, opacity=0.9)
        layers.insert(0, recent.encode(x=x, y=y, tooltip=[alt.Tooltip("value:Q", title="Recent batches' loss", format=".3f")]))
        title += "   (thin: recent batches)"
    if metric == "accuracy" and chance:
        line = pd.DataFrame({"value": [chance], "label": [f"chance ({chance:.0%})"]})
        rule = alt.Chart(line).encode(y="value:Q")
        layers += [rule.mark_rule(color="#9ca3af", strokeDash=[2, 4], strokeWidth=2),
                   rule.mark_text(align="left", dx=4, dy=-8, color="#6b7280", fontSize=15).encode(
                       x=alt.value(0), text="label:N")]
    chart = alt.layer(*layers, data=alt.Data(name=CURVES_DATASET))  # the dataset comes with each redraw
    return chart.properties(title=alt.Title(title, fontSize=22, anchor="start"), height=340).to_dict()


def last_epoch(history: pd.DataFrame, planned: int, finished: bool) -> int:
    """Where the epoch axis ends: a run still training keeps its planned epochs (the curves grow into them); a finished,
    stopped or failed run ends at the last epoch it trained (stopped at 4 of 300: 4)."""
    trained = int(history["epoch"].max()) if "epoch" in history and history["epoch"].notna().any() else 0
    return (trained or planned) if finished else max(planned, trained)


def curves(history: pd.DataFrame, epochs: int, reference=None, chance: float | None = None,
           batch_loss: list | None = None, finished: bool = False) -> None:
    """Accuracy and loss per epoch, on an axis of the planned `epochs` while the run trains and of the epochs it
    trained once `finished`; dashed lines: the report's figures (a presets.ReportFigures); dotted: chance, drawn when
    the run comes near it (always drawn, it would squash the curves of networks that learn)."""
    if history.empty and not batch_loss:
        st.caption("The curves appear when the first batches are done.")
        return
    epochs = last_epoch(history, epochs, finished)
    accuracies = history[[c for c in ("accuracy", "val_accuracy") if c in history]].min().min()
    near_chance = chance if chance and accuracies == accuracies and accuracies < 3 * chance else None
    for column, metric in zip(st.columns(2), METRICS):
        data = pd.concat([pd.DataFrame({"epoch": history["epoch"].astype(int), "split": split,
                                        "value": history[prefix + metric]})
                          for split, (prefix, _) in SPLITS.items() if prefix + metric in history]).dropna()
        marks = tuple((split, float(value)) for split, value in
                      (("training", getattr(reference, f"train_{metric}", None)),
                       ("validation", getattr(reference, f"val_{metric}", None))) if value is not None)
        with_batches = metric == "loss" and bool(batch_loss)
        spec = curve_spec(metric, epochs, marks, near_chance, with_batches)
        spec["datasets"] = {**spec.get("datasets", {}), CURVES_DATASET: data}
        if with_batches:
            spec["datasets"][BATCHES_DATASET] = pd.DataFrame(batch_loss, columns=["epoch", "value"])
        column.vega_lite_chart(spec, width="stretch")
