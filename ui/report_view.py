"""The report page's views: a card per trial (the report's figures beside its reproduction, the variants
apart) and the overview chart of every trial."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.analysis import conclusions, reproduction
from core.networks.presets import PRESETS, Preset
from core.storage import runs
from ui import navigation, runs_view

SOURCES = ["report", "reproduction"]


def _variants(preset: Preset, others: list[runs.Run]) -> None:
    """The other runs that started from this trial: what they changed and what they reached."""
    whose = runs_view.owner_labeller()
    rows = [{"Run": r.name, "Whose": whose(r), "Changed": reproduction.variant_change(preset, r),
             "Test accuracy": fmt.pct(runs_view.headline(r).get("test_accuracy"))} for r in others[:10]]
    plural = "s" if len(others) > 1 else ""
    with st.expander(f"{len(others)} variant{plural}: runs that started from this trial and changed it, or were imported"):
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _whose_run(run: runs.Run) -> str:
    """"a shipped run", "your run", or in a class with sign-in "Bob's run"."""
    whose = runs_view.owner(run)
    return {"shipped": "a shipped run", "yours": "your run"}.get(whose, f"{fmt.text(whose)}'s run")


def _run_figures(preset: Preset, run: runs.Run, has_report: bool, column: str, explain_gaps: bool) -> None:
    """A run's figures beside the report's (column `column`), its test accuracy, why it lands where it does, and
    a way into Inspect."""
    m = runs_view.headline(run)
    if has_report:
        st.table(runs_view.as_typed(pd.DataFrame(reproduction.comparison_rows(preset, m, ours=column)).set_index("")))
    else:
        st.markdown("The report has no figures for this one: it goes beyond the report.")
    st.markdown(reproduction.accuracy_line(preset, m))
    if explain_gaps and (gaps := reproduction.gap_phrases(preset, m)):
        st.warning(reproduction.why(preset, run, gaps), icon=":material/troubleshoot:")
    elif preset.note:
        st.caption(preset.note)
    if st.button("Inspect this run", key=f"report.inspect_{preset.id}", icon=":material/search:"):
        navigation.open_inspect(run.id)


def trial_card(preset: Preset, run: runs.Run | None, others: list[runs.Run], attempts: list[runs.Run]) -> None:
    """One trial: the report's figures beside the reproduction's, or how to train it; variants apart."""
    with st.container(border=True):
        st.markdown(f"#### {preset.title}")
        st.caption(f"Report: {preset.report.source} · preset `{preset.id}`")
        has_report = any(getattr(preset.report, key) is not None for _, key, _ in reproduction.MEASURES)
        if run is None and (part_way := reproduction.shortened(preset, others)) is not None:
            # Gaps to the report's full-length figures are expected part-way, so they get no explanation.
            epochs, asked = part_way.config["epochs"], preset.config.epochs
            st.info(f"Not reproduced yet: the shipped run “{fmt.text(part_way.name)}” trained {epochs} of the trial's "
                    f"{asked} epochs, so its figures below are after epoch {epochs}, not {asked}.",
                    icon=":material/hourglass_top:")
            if story := fmt.training_story(part_way.record):
                st.caption(f"{story}.")
            _run_figures(preset, part_way, has_report, f"After {epochs} epochs", explain_gaps=False)
            others = [r for r in others if r.id != part_way.id]
        elif run is None:
            if has_report:
                st.table(pd.DataFrame(reproduction.comparison_rows(preset, None)).set_index(""), width="content")
            st.info("Not reproduced yet: no finished run trained here or shipped has this trial's settings. "
                    f"`python -m core pretrain --only {preset.id}` trains it.", icon=":material/hourglass_empty:")
            if attempts:
                done = attempts[0].record.get("epochs_trained")
                st.caption(f"Latest attempt: {fmt.text(attempts[0].name)} ({attempts[0].status}"
                           f"{f', {done} epochs done' if done else ''}).")
        else:
            named = "" if run.name == preset.title else f" “{fmt.text(run.name)}”"
            story = fmt.training_story(run.record)
            st.caption(f"Reproduced by {_whose_run(run)}{named}, finished {str(run.record.get('finished') or '?')[:10]}"
                       f".{f' {story}.' if story else ''}")
            _run_figures(preset, run, has_report, "Reproduction", explain_gaps=True)
        if others:
            _variants(preset, others)


def overview_chart(found: dict[str, runs.Run], label: str, key: str, with_names: bool) -> alt.Chart:
    """Report vs reproduction, one line per trial: how far each reproduction lands from the report."""
    rows = []
    for preset in PRESETS.values():
        ours = runs_view.headline(found[preset.id]).get(key) if preset.id in found else None
        for source, value in (("report", getattr(preset.report, key)), ("reproduction", ours)):
            if isinstance(value, (int, float)):
                rows.append({"trial": preset.short_title, "source": source, "value": value * 100})
    order = [p.short_title for p in PRESETS.values()]
    base = alt.Chart(pd.DataFrame(rows, columns=["trial", "source", "value"])).encode(
        y=alt.Y("trial:N", sort=order, scale=alt.Scale(domain=order), title=None, axis=alt.Axis(labels=with_names)))
    link = base.mark_line(color="#bbb", strokeWidth=3).encode(x="value:Q", detail="trial:N")
    dots = base.mark_point(filled=True, size=220, opacity=1).encode(
        x=alt.X("value:Q", title=f"{label.lower()} (%)", scale=alt.Scale(domain=[0, 100])),  # both charts alike
        color=alt.Color("source:N", scale=alt.Scale(domain=SOURCES, range=["#9467bd", "#2ca02c"]), title=None,
                        legend=alt.Legend(orient="top")),
        shape=alt.Shape("source:N", scale=alt.Scale(domain=SOURCES, range=["diamond", "circle"]), title=None),
        tooltip=["trial", "source", alt.Tooltip("value:Q", format=".2f")],
    )
    return alt.layer(link, dots).properties(title=label, height=34 * len(order))


VERDICT = {"supported": ("Supported", "green"), "partly": ("Partly", "orange"), "not supported": ("Not supported", "red"),
           "not tested yet": ("Not tested yet", "gray")}


def conclusions_section(found: list[conclusions.Conclusion]) -> None:
    """Each of the report's conclusions beside what the runs here show, with a way to open the runs."""
    for start in range(0, len(found), 2):
        for column, c in zip(st.columns(2, gap="medium"), found[start:start + 2]):
            with column.container(border=True):
                label, colour = VERDICT[c.verdict]
                st.markdown(f"**{c.claim}** ({c.where}) :{colour}-badge[{label}]")
                st.markdown(c.finding or "The runs that would test it have not been trained here yet.")
                if c.run_ids and st.button("Open these runs in Compare", key=f"report.conclusion_{c.claim[:24]}",
                                           icon=":material/compare_arrows:"):
                    navigation.open_compare(c.run_ids)
