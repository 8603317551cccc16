"""Compare runs: what was changed, what came out (with 95 % intervals), the curves, and whether a gap is real.

Also where one's own runs are renamed, deleted, exported and imported. Shipped runs are read-only.
"""

import streamlit as st

from core import formatting as fmt
from ui import compare_view, manage, navigation, runs_view
from ui.session import all_runs

SELECT_KEY = "compare.select"
navigation.ensure_entry()
ss = st.session_state

st.title("Compare runs")
manage.flash()

runs = all_runs()
by_id = {r.id: r for r in runs}
comparable = [r for r in runs if runs_view.has_results(r)]
comparable_ids = [r.id for r in comparable]

# Another page's hand-over first, then the last choice here, else a pair of runs that can be compared.
handed = navigation.handed_runs()
if handed is not None:
    ss[SELECT_KEY] = [i for i in handed if i in comparable_ids]
elif SELECT_KEY in ss:
    ss[SELECT_KEY] = [i for i in ss[SELECT_KEY] if i in comparable_ids]
else:
    ss[SELECT_KEY] = compare_view.comparable_pair(comparable)

chosen_ids = st.multiselect("Runs to compare", comparable_ids, format_func=lambda i: runs_view.run_option(by_id[i]),
                            key=SELECT_KEY, persist_state="session", placeholder="Choose runs, shipped ones and yours")
unavailable = [r for r in runs if not runs_view.has_results(r)]
if unavailable:
    with st.expander(f"{len(unavailable)} run{'' if len(unavailable) == 1 else 's'} without results to compare"):
        for r in unavailable:
            why = r.problem or r.record.get("error") or ("still training" if r.status == "running" else "no results written")
            st.markdown(f"- **{fmt.text(r.name)}** ({runs_view.owner(r)}, {r.status}): {fmt.text(why)}")

chosen = [by_id[i] for i in chosen_ids]
if not chosen:
    st.info("Choose one or more runs above to compare them." if comparable_ids else
            "No finished runs yet: train one on the Train page, or import one below.")
else:
    labels = runs_view.short_labels(chosen)

    st.subheader("What differs")
    show_all = st.toggle("Show all hyperparameters", key="compare.all_params", disabled=len(chosen) == 1)
    table = compare_view.hyperparameter_table(chosen, labels, show_all or len(chosen) == 1)
    if table.empty:
        st.markdown("These runs share every hyperparameter.")
    else:
        st.table(table)

    st.subheader("Results")
    st.table(compare_view.results_table(chosen, labels))
    compare_view.results_charts(chosen, labels)

    if len(chosen) >= 2:
        compare_view.mcnemar_section(chosen, labels)

    st.subheader("Training curves")
    compare_view.curve_charts(chosen, labels)

st.divider()
if (selection := manage.section(runs, chosen_ids)) is not None:
    navigation.open_compare(selection)
