"""Compare's answers to "is it real?": McNemar's test for two runs, Welch's for two groups of seeds, what two runs'
curves say side by side, and accuracy against images per class (scratch and transferred)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.analysis import conclusions, reading
from core.analysis.sweeps import sweep_results
from core.analysis.versus import versus
from core.metrics.stats import welch_test
from core.storage import runs
from ui import runs_view
from ui.compare_view import Entry


def curves_in_words(chosen: list[Entry]) -> None:
    """Two single runs' curves read side by side (core.analysis.reading): which overfits later, and in what they
    differ; each run's own reading below."""
    singles = [e for e in chosen if not e.is_group]
    if len(singles) != 2:
        return
    (a, b) = (e.runs[0] for e in singles)
    try:
        said = reading.compare_runs(singles[0].label, (runs_view.history(a), a.config), singles[1].label,
                                    (runs_view.history(b), b.config))
    except runs.RunError:
        return
    if said:
        st.markdown(f"**What the curves say** · {said}")


def _pick_two(candidates: list[Entry], key: str) -> tuple[Entry, Entry]:
    """The first two entries, or the two the student picks when there are more."""
    if len(candidates) == 2:
        return candidates[0], candidates[1]
    by_id = {e.id: e for e in candidates}
    left, right = st.columns(2)
    a = left.selectbox("First", list(by_id), format_func=lambda i: by_id[i].label, key=f"compare.{key}_a")
    b = right.selectbox("Second", [i for i in by_id if i != a], format_func=lambda i: by_id[i].label, key=f"compare.{key}_b")
    return by_id[a], by_id[b]


def mcnemar_section(chosen: list[Entry]) -> None:
    """McNemar's test on the paired test predictions of two single runs (picked when there are more)."""
    singles = [e for e in chosen if not e.is_group]
    if len(singles) < 2:
        return
    st.subheader("Is the difference in test accuracy real?")
    first, second = _pick_two(singles, "pair")
    name_a, name_b = fmt.text(first.label), fmt.text(second.label)
    try:
        result = versus(first.runs[0], second.runs[0])
    except runs.RunError as e:
        st.error(f"Cannot read the predictions: {fmt.text(e)}")
        return
    if result.paired is None:
        st.info(f"{name_a} and {name_b} cannot be compared this way: {result.unpaired_because}.")
        return
    (st.success if result.differs else st.info)(result.paired.sentence(name_a, name_b))
    st.caption("McNemar's test counts only the test images on which exactly one of the two runs is right: "
               "the fair way to compare two classifiers scored on the same test set.")


def seeds_section(chosen: list[Entry]) -> None:
    """Two groups of seeds: is the gap between their means larger than the seed-to-seed spread?"""
    groups = [e for e in chosen if e.is_group]
    if len(groups) < 2:
        return
    st.subheader("Beyond the luck of the seed?")
    first, second = _pick_two(groups, "groups")
    a, b = first.seeds(), second.seeds()
    result = welch_test(first.values("test_accuracy"), second.values("test_accuracy"))
    (st.success if result.significant() else st.info)(result.sentence(fmt.text(first.label), a, fmt.text(second.label), b))
    st.caption("Welch's t-test compares the two means against how much each group's seeds scatter. It assumes the seeds' "
               "results are independent and scatter roughly like a bell curve, and it does not need the two spreads to be "
               "equal. With few seeds it is cautious: more seeds make a small real gap easier to see.")


def per_class_section(chosen_runs: list[runs.Run]) -> None:
    """Test accuracy against images per class, from scratch and transferred, when the ticked runs differ in images per
    class (the report's closing claims); at each size, whether transfer really differs from scratch (McNemar)."""
    points = conclusions.per_class_curve(chosen_runs)
    if not points:
        return
    st.subheader("Accuracy against images per class")
    frame = pd.DataFrame([{"images per class": p.per_class, "start": p.start, "accuracy": p.accuracy * 100,
                           "low": p.low * 100, "high": p.high * 100, "run": p.name} for p in points])
    x = alt.X("images per class:Q", scale=alt.Scale(type="log"), title="Training images per class (log scale)")
    colour = alt.Color("start:N", title=None, sort=list(conclusions.START_WORDS.values()), legend=alt.Legend(orient="top"))
    base = alt.Chart(frame).encode(x=x, color=colour)
    tooltip = ["run", "start", "images per class", alt.Tooltip("accuracy:Q", format=".1f")]
    chart = (base.mark_line(point=True).encode(y=alt.Y("accuracy:Q", title="Test accuracy (%)"), tooltip=tooltip)
             + base.mark_errorbar().encode(y=alt.Y("low:Q", title="Test accuracy (%)"), y2="high:Q"))
    st.altair_chart(runs_view.styled(chart.properties(height=360)))
    verdicts = conclusions.against_scratch(points, {r.id: r for r in chosen_runs})
    st.caption("Each point: a run's test accuracy with its 95 % interval."
               + (" Below, each transferred run against the run from scratch with as many images per class (McNemar's "
                  "test on the same test images)." if verdicts else ""))
    if verdicts:
        rows: dict[int, dict] = {}
        for p, verdict, p_words in verdicts:
            rows.setdefault(p.per_class, {"images per class": p.per_class})[p.start] = f"{verdict} ({p_words})"
        st.dataframe(pd.DataFrame(list(rows.values())).fillna("—"), hide_index=True)


def sweep_section(chosen_runs: list[runs.Run], every_run: list[runs.Run]) -> None:
    """A sweep that a ticked run belongs to as one figure, all its runs: test accuracy against the swept values (a
    heat map for two settings), with intervals, and which points are really worse than the best."""
    found = sweep_results(every_run, ticked=chosen_runs)
    if found is None:
        return
    fields, points = found
    label = {f: ("L2" if f == "l2" else f.replace("_", " ")) for f in fields}
    st.subheader("The sweep: test accuracy at each value")
    frame = pd.DataFrame([{**{label[f]: fmt.setting(f, p.values[f]) for f in fields}, "accuracy": p.accuracy * 100,
                           "low": p.low * 100, "high": p.high * 100, "interval": fmt.interval(p.low, p.high),
                           "run": p.run.name,
                           "versus the best": fmt.versus(p.versus_best, "the best", "really worse")} for p in points])
    orders = {f: list(dict.fromkeys(fmt.setting(f, p.values[f]) for p in points)) for f in fields}
    tooltip = ["run", alt.Tooltip("accuracy:Q", format=".1f"), alt.Tooltip("interval:N", title="95 % interval"),
               "versus the best"]
    x = alt.X(f"{label[fields[0]]}:O", sort=orders[fields[0]])
    if len(fields) == 1:
        base = alt.Chart(frame).encode(x=x)
        chart = (base.mark_line(point=True).encode(y=alt.Y("accuracy:Q", title="Test accuracy (%)",
                                                           scale=alt.Scale(zero=False)), tooltip=tooltip)
                 + base.mark_errorbar().encode(y=alt.Y("low:Q", title="Test accuracy (%)"), y2="high:Q"))
    else:
        y = alt.Y(f"{label[fields[1]]}:O", sort=orders[fields[1]])
        cells = alt.Chart(frame).encode(x=x, y=y)
        chart = (cells.mark_rect().encode(color=alt.Color("accuracy:Q", title="Test accuracy (%)",
                                                          scale=alt.Scale(scheme="viridis")), tooltip=tooltip)
                 + cells.mark_text(fontSize=16).encode(text=alt.Text("accuracy:Q", format=".1f"),
                                                       color=alt.value("white")))
    st.altair_chart(runs_view.styled(chart.properties(height=360)))
    worse = [p for p in points if p.versus_best is not None and p.versus_best.differs]
    same = [p for p in points if p.versus_best is not None and p.versus_best.differs is False]
    unticked = len({p.run.id for p in points} - {r.id for r in chosen_runs})
    intervals = "Bars: 95 % intervals." if len(fields) == 1 else "Each cell: a run's test accuracy (its 95 % interval on hover)."
    st.caption(f"{intervals} Against the best point (McNemar's test on the same test images): {len(worse)} "
               f"really worse, {len(same)} not shown to differ from it."
               + (f" All {len(points)} runs of the sweep are drawn, {unticked} of them not ticked." if unticked else ""))


