"""The Compare page's views: which settings differ, the results with 95 % intervals, the curves, McNemar.

The tables and points are pure functions of the runs (tested without a browser); the charts are Altair.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.analysis import export
from core.metrics.stats import SeedSummary, seed_summary, wald_interval
from core.networks.config import FIELDS
from core.queue.jobs import unseeded_name
from core.storage import runs
from core.system.memo import mtimes
from ui import runs_view

ACCURACY_MEASURES = ["test", "validation", "best validation", "training"]
LOSS_MEASURES = ["test", "validation", "training"]
# Test in black: it is the number that counts; the others are how the run got there.
MEASURE_COLOURS = {"test": "#111111", "validation": "#4c78a8", "best validation": "#9ecae9", "training": "#e45756"}
ROW_PX = 26  # height of one measure's row: both charts use ACCURACY_MEASURES' rows, so runs line up side by side


@dataclass(frozen=True)
class Entry:
    """One row of Compare: a run, or the seeds of one setting (a group, shown as their mean and spread)."""

    id: str  # the run's id, or the group's
    label: str
    runs: tuple[runs.Run, ...]

    @property
    def is_group(self) -> bool:
        return len(self.runs) > 1

    @property
    def dataset(self):
        return self.runs[0].record.get("dataset")

    def values(self, key: str) -> list[float]:
        return [v for r in self.runs if isinstance(v := runs_view.headline(r).get(key), (int, float))]

    def mean(self, key: str) -> float | None:
        values = self.values(key)
        return float(np.mean(values)) if values else None

    def seeds(self) -> SeedSummary | None:
        return seed_summary(self.values("test_accuracy")) if self.is_group else None


def group_id(run: runs.Run) -> str | None:
    return (run.record.get("group") or {}).get("id")


def entries(chosen: list[runs.Run]) -> list[Entry]:
    """The chosen runs as rows: the seeds of a group together (two or more of them), the rest alone, in order."""
    members: dict[str, list[runs.Run]] = {}
    for r in chosen:
        if group_id(r):
            members.setdefault(group_id(r), []).append(r)
    out, done = [], set()
    for r in chosen:
        gid = group_id(r)
        if gid and len(members[gid]) > 1:
            if gid not in done:
                done.add(gid)
                seeds = sorted(members[gid], key=lambda m: m.config.get("seed", 0))
                name = unseeded_name(seeds[0].name)
                out.append(Entry(gid, f"{name} ({len(seeds)} seeds)", tuple(seeds)))
        else:
            out.append(Entry(r.id, r.name, (r,)))
    names = [e.label for e in out]
    return [Entry(e.id, e.label if names.count(e.label) == 1 else f"{e.label} ({e.id[-6:]})", e.runs) for e in out]


def comparable_pair(candidates: list[runs.Run]) -> list[str]:
    """What Compare opens on: the newest run with results and the newest other one of the same dataset
    (candidates come newest first); a lone run when no pair shares a dataset."""
    for i, first in enumerate(candidates):
        for second in candidates[i + 1:]:
            if second.record.get("dataset") == first.record.get("dataset"):
                return [first.id, second.id]
    return [c.id for c in candidates[:1]]


def linked_runs(address: str | None, candidates: list[runs.Run]) -> list[str]:
    """The runs a link ticks (?runs=ID,ID, what the address bar keeps: address_of), in its order: only those of its ids
    that are runs here with results; the rest (a deleted run, a typo, a run of another server) are left out."""
    here = {r.id for r in candidates}
    asked = (i.strip() for i in (address or "").split(","))
    return list(dict.fromkeys(i for i in asked if i in here))


def address_of(run_ids: list[str]) -> str:
    """The ticked runs as the address keeps them (linked_runs reads it back)."""
    return ",".join(run_ids)


def setting_of(run: runs.Run, name: str):
    """A config field of a run as it trained: a field its saved config lacks (a run saved before the field existed)
    had the field's default then, which is TrainConfig's; None for a name that is no field at all."""
    if name in run.config:
        return run.config[name]
    return FIELDS[name].default if name in FIELDS else None


def hyperparameter_table(chosen: list[Entry], everything: bool) -> pd.DataFrame:
    """Config fields (rows) by entry (columns), as people read them: only the fields whose values differ, unless
    `everything`. A group's seeds show as their range; a field a run's config lacks reads as its default."""
    def shown(entry: Entry, name: str) -> str:
        values = sorted({setting_of(r, name) for r in entry.runs}, key=str)
        if len(values) > 1 and name == "seed":
            return f"{min(values)}–{max(values)}"
        return fmt.setting(name, values[0])

    names = list(dict.fromkeys(k for e in chosen for r in e.runs for k in r.config))
    rows = {}
    for name in names:
        values = [shown(e, name) for e in chosen]
        if everything or any(v != values[0] for v in values[1:]):
            rows[runs_view.field_label(name)] = values
    return pd.DataFrame.from_dict(rows, orient="index", columns=[e.label for e in chosen])


def results_table(chosen: list[Entry]) -> pd.DataFrame:
    """A row per entry; a group's numbers are means over its seeds, its test accuracy with the spread."""
    mixed = len({e.dataset for e in chosen}) > 1
    rows = []
    for e in chosen:
        m = runs_view.headline(e.runs[0])
        loss = lambda key: f"{v:.3f}" if (v := e.mean(key)) is not None else fmt.DASH  # noqa: E731
        row = {"Run": e.label}
        if mixed:
            row["Dataset"] = runs_view.dataset_title(e.dataset)
        if e.is_group:
            s = e.seeds()
            test, interval = f"{fmt.pct(s.mean)} ± {fmt.pct(s.sd)}", fmt.interval(s.low, s.high)
            best = f"{fmt.pct(e.mean('best_val_accuracy'))} (mean)"
        else:
            test, interval = fmt.pct(m.get("test_accuracy")), fmt.accuracy_interval_text(m)
            best = f"{fmt.pct(m['best_val_accuracy'])} (epoch {m.get('best_epoch')})" if "best_val_accuracy" in m else fmt.DASH
        row.update({"Test accuracy": test, "95 % interval": interval, "Best val. acc.": best,
                    "Train acc.": fmt.pct(e.mean("train_accuracy")), "Val. acc.": fmt.pct(e.mean("val_accuracy")),
                    "Train loss": loss("train_loss"), "Val. loss": loss("val_loss"),
                    "Epochs": str(m.get("epochs_trained", fmt.DASH))})
        rows.append(row)
    return pd.DataFrame(rows).set_index("Run")


def accuracy_points(chosen: list[Entry]) -> pd.DataFrame:
    """One row per entry and measure, in %; low/high hold a 95 % interval where one is honest: Wald for one run's
    test and validation accuracy, the t-interval of the seeds' mean for a group's test accuracy."""
    rows = []
    for e in chosen:
        if e.is_group:
            s = e.seeds()
            test_ci, val_ci = (s.low, s.high), None
        else:
            m, r = runs_view.headline(e.runs[0]), e.runs[0]
            test_ci, val_ci = fmt.accuracy_interval(m), None
            val, n_val = m.get("val_accuracy"), (r.record.get("data") or {}).get("validation")
            if isinstance(val, (int, float)) and n_val:
                low, high = wald_interval(round((1 - val) * n_val), n_val)
                val_ci = (1 - high, 1 - low)
        for measure, value, ci in (("test", e.mean("test_accuracy"), test_ci), ("validation", e.mean("val_accuracy"), val_ci),
                                   ("best validation", e.mean("best_val_accuracy"), None),
                                   ("training", e.mean("train_accuracy"), None)):
            if value is not None:
                rows.append({"run": e.label, "measure": measure, "value": value * 100,
                             "low": ci[0] * 100 if ci else None, "high": ci[1] * 100 if ci else None})
    return pd.DataFrame(rows, columns=["run", "measure", "value", "low", "high"])


def loss_points(chosen: list[Entry]) -> pd.DataFrame:
    rows = []
    for e in chosen:
        for measure, key in zip(LOSS_MEASURES, ("test_loss", "val_loss", "train_loss")):
            if (value := e.mean(key)) is not None:
                rows.append({"run": e.label, "measure": measure, "value": value})
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


def curve_frame(chosen: list[Entry], metric: str) -> pd.DataFrame:
    """Per epoch and split: a run's value, or a group's mean with its lowest and highest seed (the band)."""
    frames = []
    for e in chosen:
        for split, column in (("training", metric), ("validation", f"val_{metric}")):
            per_seed = [runs_view.history(r).set_index("epoch")[column] for r in e.runs if column in runs_view.history(r)]
            if not per_seed:
                continue
            table = pd.concat(per_seed, axis=1)
            frames.append(pd.DataFrame({"run": e.label, "split": split, "epoch": table.index, "value": table.mean(axis=1),
                                        "low": table.min(axis=1), "high": table.max(axis=1)}))
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "split", "epoch", "value",
                                                                                      "low", "high"])
    if metric == "accuracy":
        data[["value", "low", "high"]] = data[["value", "low", "high"]] * 100
    return data


def curves_chart(chosen: list[Entry], colour: alt.Scale, metric: str, title: str) -> alt.Chart:
    """Per-epoch curves: colour is the entry, a solid line training and a dashed line validation; a group's
    seeds make a band from the lowest to the highest around their mean."""
    data = curve_frame(chosen, metric)
    x = alt.X("epoch:Q", title="epoch", axis=alt.Axis(format="d", tickMinStep=1))  # whole epochs, even for 2 of them
    y_title = "accuracy (%)" if metric == "accuracy" else "loss"
    color = alt.Color("run:N", scale=colour, title=None, legend=alt.Legend(orient="bottom", direction="vertical"))
    lines = alt.Chart(data).mark_line(strokeWidth=3).encode(
        x=x, y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)), color=color,
        strokeDash=alt.StrokeDash("split:N", title=None, legend=alt.Legend(orient="top"),
                                  scale=alt.Scale(domain=["training", "validation"], range=[[1, 0], [6, 4]])),
        tooltip=["run", "split", "epoch", alt.Tooltip("value:Q", format=".3f")],
    )
    bands = alt.Chart(data).transform_filter("datum.high > datum.low").mark_area(opacity=0.18).encode(
        x=x, y="low:Q", y2="high:Q", color=color, detail="split:N")
    return alt.layer(bands, lines).properties(title=title, height=340)


def _drawn_from(chosen: list[Entry]) -> tuple:
    """What the charts of `chosen` are drawn from: each entry's label, and its runs' files' times."""
    return tuple((e.id, e.label, tuple(mtimes(r.path / runs.RUN_FILE, r.path / runs.METRICS_FILE, r.path / runs.HISTORY_FILE)
                                       for r in e.runs)) for e in chosen)


@st.cache_data(max_entries=32, show_spinner=False)
def _chart_specs(_chosen: list[Entry], drawn_from: tuple) -> dict[str, dict]:
    """The page's four charts as Vega-Lite specs, built once per choice of runs: building and validating them
    with Altair took a third of a Compare rerun with 500 runs listed."""
    order = [e.label for e in _chosen]
    colour = alt.Scale(domain=order, scheme="tableau10" if len(_chosen) <= 10 else "tableau20")
    # The loss points leave out the run names: they list the runs in the same rows, beside the accuracy points.
    charts = {"accuracy points": points_chart(accuracy_points(_chosen), order, ACCURACY_MEASURES, "Accuracy", "accuracy (%)"),
              "loss points": points_chart(loss_points(_chosen), order, LOSS_MEASURES, "Loss", "loss", with_names=False),
              "accuracy curves": curves_chart(_chosen, colour, "accuracy", "Accuracy per epoch"),
              "loss curves": curves_chart(_chosen, colour, "loss", "Loss per epoch")}
    return {name: runs_view.vega_spec(runs_view.styled(chart)) for name, chart in charts.items()}


def results_charts(chosen: list[Entry]) -> None:
    specs = _chart_specs(chosen, _drawn_from(chosen))
    left, right = st.columns([1.7, 1], gap="medium")
    left.vega_lite_chart(specs["accuracy points"])
    right.vega_lite_chart(specs["loss points"])
    st.caption("Validation and training: the last epoch. Bars: 95 % intervals (Wald, as in the report) of the test "
               "and validation accuracy; for a group of seeds, the interval of the seeds' mean test accuracy. The training "
               "accuracy is averaged over the last epoch with dropout on, and the best validation epoch was picked after "
               "the fact, so neither has an honest interval. Losses include the L2 penalty.")


def curve_charts(chosen: list[Entry]) -> None:
    specs = _chart_specs(chosen, _drawn_from(chosen))
    left, right = st.columns(2, gap="large")
    left.vega_lite_chart(specs["accuracy curves"])
    right.vega_lite_chart(specs["loss curves"])
    if any(e.is_group for e in chosen):
        st.caption("A group of seeds: its mean, with a band from its lowest to its highest seed.")


def export_section(chosen_runs: list[runs.Run], chosen: list[Entry]) -> None:
    """The chosen runs' histories and results as CSV, and any chart of this page as a picture."""

    st.subheader("Export")
    order = [e.label for e in chosen]
    colour = alt.Scale(domain=order, scheme="tableau10" if len(chosen) <= 10 else "tableau20")
    charts = {
        "Accuracy per epoch": lambda: curves_chart(chosen, colour, "accuracy", "Accuracy per epoch"),
        "Loss per epoch": lambda: curves_chart(chosen, colour, "loss", "Loss per epoch"),
        "Accuracy, every measure": lambda: points_chart(accuracy_points(chosen), order, ACCURACY_MEASURES, "Accuracy",
                                                        "accuracy (%)"),
        "Loss, every measure": lambda: points_chart(loss_points(chosen), order, LOSS_MEASURES, "Loss", "loss"),
    }
    left, middle, right = st.columns([1, 1, 2], vertical_alignment="bottom")
    left.download_button("Histories (CSV)", lambda: export.to_csv_bytes(export.histories_long(chosen_runs)),
                         file_name="histories.csv", mime="text/csv", on_click="ignore", icon=":material/download:",
                         help="One row per run, epoch and measure: run, name, epoch, metric, value.")
    middle.download_button("Results (CSV)", lambda: export.to_csv_bytes(export.results_table(chosen_runs)),
                           file_name="results.csv", mime="text/csv", on_click="ignore", icon=":material/download:",
                           help="One row per run: every setting, the test accuracy with its interval, time, notes.")
    with right:
        which_col, kind_col, button_col = st.columns([2, 1, 1.2], vertical_alignment="bottom")
        which = which_col.selectbox("Chart", list(charts), key="compare.export_chart")
        kind = kind_col.segmented_control("As", ["png", "svg"], default="png", required=True, key="compare.export_format")
        button_col.download_button(f"{kind.upper()}", lambda: export.chart_bytes(runs_view.styled(charts[which]()), kind),
                                   file_name=f"{which.lower().replace(',', '').replace(' ', '-')}.{kind}",
                                   mime="image/png" if kind == "png" else "image/svg+xml", on_click="ignore",
                                   icon=":material/image:", width="stretch")
    st.caption("For TensorBoard (scalars and hyperparameters): `python -m core export-tensorboard RUN... --out DIR`, "
               "then `tensorboard --logdir DIR`.")
