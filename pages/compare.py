"""Compare runs: tick them in the table of every run, then see what was changed, what came out (with 95 %
intervals), the curves, and whether a gap is real. Also where one's own runs are renamed, annotated, deleted,
exported and imported. Shipped runs are read-only.
"""

import streamlit as st

from core import formatting as fmt
from ui import compare_stats, compare_view, manage, navigation, runs_table, runs_view
from ui.session import all_runs

SELECT_KEY, ROUND_KEY, RUNS_PARAM = "compare.select", "compare.table_round", "runs"
navigation.ensure_entry()
ss = st.session_state

st.title("Compare runs")
manage.flash()

listed = all_runs()
comparable = [r for r in listed if runs_view.has_results(r)]
# Another page's hand-over first, then the last choice here, then a link or a reload (?runs=ID,ID), else a pair of
# runs that can be compared.
if (handed := navigation.handed_runs()) is not None:
    ss[SELECT_KEY], ss[ROUND_KEY] = list(handed), ss.get(ROUND_KEY, 0) + 1  # a fresh table shows the new ticks
elif SELECT_KEY not in ss:
    linked = compare_view.linked_runs(st.query_params.get(RUNS_PARAM), comparable)
    ss[SELECT_KEY] = linked or compare_view.comparable_pair(comparable)

search_col, dataset_col = st.columns([3, 1.2], vertical_alignment="bottom")
query = search_col.text_input("Search runs", key="compare.search", placeholder="Words in a run's name, tags or notes")
dataset = dataset_col.segmented_control("Dataset", ["Fashion-MNIST", "CIFAR-100"], key="compare.dataset")
table = runs_table.frame(listed, set(ss[SELECT_KEY]))
shown = runs_table.search(table, query, dataset)
edited = st.data_editor(
    shown, key=f"compare.table_{ss.get(ROUND_KEY, 0)}_{query}_{dataset}", hide_index=True, width="stretch",
    height=min(420, 38 * (len(shown) + 1) + 3), disabled=runs_table.SHOWN,
    column_config={runs_table.PICK: st.column_config.CheckboxColumn(runs_table.PICK, help="Tick runs to compare them"),
                   "Test acc. (%)": st.column_config.NumberColumn(format="%.1f"),
                   "Best val. (%)": st.column_config.NumberColumn(format="%.1f"),
                   "Learning rate": st.column_config.NumberColumn(format="%g"), "L2": st.column_config.NumberColumn(format="%g")})
visible = {r.id for r in runs_table.chosen_runs(shown, listed)}
hidden = [r for r in runs_table.chosen_runs(table, listed) if r.id not in visible]  # ticked, then filtered out
chosen = runs_table.chosen_runs(edited, listed) + hidden
ss[SELECT_KEY] = [r.id for r in chosen]
if chosen:
    st.query_params[RUNS_PARAM] = compare_view.address_of(ss[SELECT_KEY])  # a reload or a shared link ticks them again
else:
    st.query_params.pop(RUNS_PARAM, None)
st.caption(f"{len(table)} runs with results ({len(shown)} shown); click a column's name to sort. A group of seeds is one "
           "row; its accuracy is the seeds' mean.")

unavailable = [r for r in listed if not runs_view.has_results(r)]
if unavailable:
    with st.expander(f"{len(unavailable)} run{'' if len(unavailable) == 1 else 's'} without results to compare"):
        whose = runs_view.owner_labeller()
        for r in unavailable:
            why = r.problem or r.record.get("error") or ("still training" if r.status == "running" else "no results written")
            st.markdown(f"- **{fmt.text(r.name)}** ({whose(r)}, {r.status}): {fmt.text(why)}")

rows = compare_view.entries(chosen)
if not rows:
    st.info("Tick one or more runs above to compare them." if comparable else
            "No finished runs yet: train one on the Train page, or import one below.")
else:
    st.subheader("What differs")
    show_all = st.toggle("Show all hyperparameters", key="compare.all_params", disabled=len(rows) == 1)
    differs = compare_view.hyperparameter_table(rows, show_all or len(rows) == 1)
    if differs.empty:
        st.markdown("These runs share every hyperparameter.")
    else:
        st.table(runs_view.as_typed(differs))

    st.subheader("Results")
    st.table(runs_view.as_typed(compare_view.results_table(rows)))
    compare_view.results_charts(rows)
    compare_stats.per_class_section(chosen)
    compare_stats.sweep_section(chosen, listed)
    compare_stats.mcnemar_section(rows)
    compare_stats.seeds_section(rows)

    st.subheader("Training curves")
    compare_view.curve_charts(rows)
    compare_stats.curves_in_words(rows)
    compare_view.export_section(chosen, rows)

st.divider()
if (selection := manage.section(listed, [r.id for r in chosen])) is not None:
    navigation.open_compare(selection)
