"""The report's own numbers (§5, Tables 2–9, and the abstract's interval) beside the runs that reproduce them."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import runs
from core.presets import PRESETS, Preset
from pages import common, views

GAP = 0.05  # accuracy gap (5 points) above which a reproduction "differs much" and we say why
SOURCES = ["report", "reproduction"]
MEASURES = (("Training accuracy", "train_accuracy", True), ("Validation accuracy", "val_accuracy", True),
            ("Training loss", "train_loss", False), ("Validation loss", "val_loss", False))


def reproductions(candidates: list[runs.Run]) -> dict[str, runs.Run]:
    """The newest completed run of each preset (candidates come newest first)."""
    found: dict[str, runs.Run] = {}
    for r in candidates:
        preset = r.record.get("preset")
        if preset in PRESETS and preset not in found and r.status == "completed" and views.has_results(r):
            found[preset] = r
    return found


def short_title(preset: Preset) -> str:
    """ "Fashion-MNIST Arch 1, trial 1" from "Fashion-MNIST Arch 1, trial 1: no regularization"."""
    return preset.title.split(":")[0].split(" with ")[0]


def report_number(value: float | None, accuracy: bool) -> str:
    """As precise as the report printed it (94.33%, 50%, 1.3532, 0.4)."""
    if value is None:
        return "—"
    text = f"{value * 100:.2f}" if accuracy else f"{value:.4f}"
    return text.rstrip("0").rstrip(".") + ("%" if accuracy else "")


def our_number(value, accuracy: bool) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value * 100:.2f}%" if accuracy else f"{value:.3f}"


def difference(ours, theirs, accuracy: bool) -> str:
    if not isinstance(ours, (int, float)) or theirs is None:
        return "—"
    return f"{(ours - theirs) * 100:+.1f} points" if accuracy else f"{ours - theirs:+.3f}"


def departures(preset: Preset, run: runs.Run) -> str:
    """How the run departs from its preset as the page shows it, in words ("trained 5 of 50 epochs").

    Compared afresh, not only read from the run's differs_from_preset: a preset retuned after the run was
    trained (a new L2 guess) makes the run depart from it even though it did not when it was trained."""
    reference = preset.config.to_dict()
    changed = {k: [reference[k], v] for k, v in run.config.items() if k in reference and reference[k] != v}
    if not run.config:  # a record without its config: trust what it says about itself
        changed = run.record.get("differs_from_preset") or {}
    parts = []
    for field, (theirs, ours) in changed.items():
        if field == "epochs":
            parts.append(f"trained {ours} of {theirs} epochs")
        elif field == "limit" and ours:
            parts.append(f"trained on the first {ours:,} training images only")
        else:
            name = "L2" if field == "l2" else field.replace("_", " ")
            parts.append(f"{name} {views.value_text(ours)} instead of {views.value_text(theirs)}")
    return "; ".join(parts)


def why(preset: Preset, run: runs.Run, gaps: list[str]) -> str:
    """Which accuracies are far from the report's, then the likeliest reason: the run's own departures from
    its preset, else the preset's note, and the L2 strength the report never gives."""
    if changed := departures(preset, run):
        reason = f"this run departs from the preset: {changed}."
    else:
        reasons = [preset.note.rstrip(".") + "."] if preset.note else []
        l2 = run.config.get("l2", preset.config.l2)
        if l2 > 0:
            reasons.append(f"The report never states its L2 strength, so this run's L2 = {l2:g} is a guess.")
        reason = " ".join(reasons) or ("The report gives one run and few settings beyond its tables; "
                                       "one run here can land elsewhere.")
    gap = "; ".join(gaps)
    return f"{gap[0].upper()}{gap[1:]}. Likely reason: {reason}"


def gap_phrases(preset: Preset, m: dict) -> list[str]:
    """ "validation accuracy is 6.2 points above the report's", for each accuracy off by more than GAP."""
    out = []
    for label, key, accuracy in MEASURES:
        theirs, ours = getattr(preset.report, key), m.get(key)
        if accuracy and theirs is not None and isinstance(ours, (int, float)) and abs(ours - theirs) > GAP:
            out.append(f"{label.lower()} is {abs(ours - theirs) * 100:.1f} points {'above' if ours > theirs else 'below'} the report's")
    return out


def comparison_table(preset: Preset, m: dict | None) -> pd.DataFrame:
    """Report, reproduction and difference for each measure; the report alone while there is no run."""
    rows = []
    for label, key, accuracy in MEASURES:
        theirs = getattr(preset.report, key)
        row = {"": label, "Report": report_number(theirs, accuracy)}
        if m is not None:
            row.update(Reproduction=our_number(m.get(key), accuracy), Difference=difference(m.get(key), theirs, accuracy))
        rows.append(row)
    return pd.DataFrame(rows).set_index("")


def test_line(preset: Preset, m: dict) -> str:
    """The test accuracy with its interval; beside the report's interval where the report gives one."""
    line = f"**Test accuracy {views.percent(m.get('test_accuracy'))}**, 95 % interval {views.interval_text(m)}."
    ci, reported = m.get("test_error_ci95"), preset.report.test_error_ci95
    if reported and ci:
        overlap = ci[0] <= reported[1] and reported[0] <= ci[1]
        line += (f" As the report puts it, the error's interval is ({ci[0]:.4f}, {ci[1]:.4f}) against the report's "
                 f"({reported[0]:.4f}, {reported[1]:.4f}): they {'overlap' if overlap else 'do not overlap'}.")
    return line


def trial_card(preset: Preset, run: runs.Run | None, others: list[runs.Run]) -> None:
    """One trial: the report's figures beside the reproduction's, or how to train it."""
    with st.container(border=True):
        st.markdown(f"#### {preset.title}")
        st.caption(f"Report: {preset.report.source} · preset `{preset.id}`")
        has_report = any(getattr(preset.report, key) is not None for _, key, _ in MEASURES)
        if run is None:
            if has_report:
                st.table(comparison_table(preset, None), width="content")
            st.info(f"Not trained yet — `python -m core pretrain --only {preset.id}`", icon=":material/hourglass_empty:")
            attempts = [r for r in others if r.record.get("preset") == preset.id and r.status in ("running", "failed", "cancelled")]
            if attempts:
                st.caption(f"Latest attempt: {attempts[0].name} ({attempts[0].status}).")
            return
        m = views.metrics(run)
        named = "" if run.name == preset.title else f" “{run.name}”"
        st.caption(f"Reproduced by {'a shipped run' if run.shipped else 'your run'}{named}, "
                   f"finished {str(run.record.get('finished') or '?')[:10]}")
        if changed := departures(preset, run):
            st.warning(f"This run differs from the preset: {changed}.", icon=":material/warning:")
        if has_report:
            st.table(comparison_table(preset, m))
        else:
            st.markdown("The report has no figures for this one: it goes beyond the report.")
        st.markdown(test_line(preset, m))
        if gaps := gap_phrases(preset, m):
            st.warning(why(preset, run, gaps), icon=":material/troubleshoot:")
        elif preset.note:
            st.caption(preset.note)
        if st.button("Inspect this run", key=f"report_inspect_{preset.id}", icon=":material/search:"):
            st.session_state["inspect_run"] = run.id
            st.switch_page("pages/inspect.py")


def overview_chart(found: dict[str, runs.Run], label: str, key: str, with_names: bool) -> alt.Chart:
    """Report vs reproduction, one line per trial: how far each reproduction lands from the report."""
    rows = []
    for preset in PRESETS.values():
        ours = views.metrics(found[preset.id]).get(key) if preset.id in found else None
        for source, value in (("report", getattr(preset.report, key)), ("reproduction", ours)):
            if isinstance(value, (int, float)):
                rows.append({"trial": short_title(preset), "source": source, "value": value * 100})
    order = [short_title(p) for p in PRESETS.values()]
    base = alt.Chart(pd.DataFrame(rows, columns=["trial", "source", "value"])).encode(
        y=alt.Y("trial:N", sort=order, scale=alt.Scale(domain=order), title=None, axis=alt.Axis(labels=with_names)))
    link = base.mark_line(color="#bbb", strokeWidth=3).encode(x="value:Q", detail="trial:N")
    dots = base.mark_point(filled=True, size=220, opacity=1).encode(
        x=alt.X("value:Q", title=f"{label.lower()} (%)", scale=alt.Scale(zero=False)),
        color=alt.Color("source:N", scale=alt.Scale(domain=SOURCES, range=["#9467bd", "#2ca02c"]), title=None,
                        legend=alt.Legend(orient="top")),
        shape=alt.Shape("source:N", scale=alt.Scale(domain=SOURCES, range=["diamond", "circle"]), title=None),
        tooltip=["trial", "source", alt.Tooltip("value:Q", format=".2f")],
    )
    return alt.layer(link, dots).properties(title=label, height=34 * len(order))


st.title("The report, reproduced")
best = next(p for p in PRESETS.values() if p.report.test_error_ci95)
low, high = best.report.test_error_ci95
st.markdown("The homework report *Classifying Fashion MNIST + CIFAR-100* (CSCE 479/879, 2022) trained each network once. "
            "Here are the numbers it printed (§5, Tables 2–9) beside runs of the same settings. The report's only "
            f"interval is for its best model ({short_title(best)}): a 95 % interval of **({low:.4f}, {high:.4f})** for "
            f"the test error, that is **{(1 - high) * 100:.1f}–{(1 - low) * 100:.1f}%** test accuracy.")
all_runs = common.all_runs()
found = reproductions(all_runs)
st.caption(f"{len(found)} of {len(PRESETS)} trials reproduced (the newest completed run of each preset, shipped or yours). "
           "Losses include the L2 penalty, whose strength the report never states, so compare them loosely.")
if found:
    # The second chart drops the trial names: both list the trials in the same order, row for row.
    names_col, other_col = st.columns([1.45, 1], gap="medium")
    names_col.altair_chart(views.styled(overview_chart(found, "Training accuracy", "train_accuracy", True)))
    other_col.altair_chart(views.styled(overview_chart(found, "Validation accuracy", "val_accuracy", False)))

for dataset in ("fashion_mnist", "cifar100"):
    st.header(views.dataset_title(dataset))
    presets = [p for p in PRESETS.values() if p.config.dataset == dataset]
    for start in range(0, len(presets), 2):
        for column, preset in zip(st.columns(2, gap="medium"), presets[start:start + 2]):
            with column:
                trial_card(preset, found.get(preset.id), all_runs)
