"""Inspect one run: its confusion matrix, which classes it gets wrong, and the very images it gets wrong.

Everything comes from the run folder (metrics.json, predictions.npz, misclassified.npz): no dataset needed.
"""

import numpy as np
import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.storage import runs
from ui import inspect_view, navigation, runs_view
from ui.session import all_runs

RUN_KEY = "inspect.select"
navigation.ensure_entry()
ss = st.session_state

st.title("Inspect a run")
listed = all_runs()
if not listed:
    st.info("No runs yet. Train one on the Train page, or import one on the Compare page.")
    st.stop()
by_id = {r.id: r for r in listed}

# Who chose the run: another page's hand-over, then a shared link (?run=ID), then the last choice here.
handed, asked = navigation.handed_run(), st.query_params.get("run")
if handed is not None and handed in by_id:
    ss[RUN_KEY] = handed
elif ss.get(RUN_KEY) not in by_id:
    ss[RUN_KEY] = asked if asked in by_id else inspect_view.newest_with_results(listed)
    if asked and asked not in by_id:
        st.warning(f"There is no run with id {fmt.code(asked)} here; showing the newest finished run instead.")
if handed is not None and handed not in by_id:
    st.warning(f"There is no run with id {fmt.code(handed)} any more; it may have been deleted.")

run_id = st.selectbox("Run", list(by_id), format_func=runs_view.run_options(list(by_id.values())).__getitem__, key=RUN_KEY,
                      persist_state="session")
st.query_params["run"] = run_id  # the address bar now holds a link to this very run
run = by_id[run_id]

if not runs_view.has_results(run):
    runs_view.status_notice(run)
    st.stop()

try:
    m = runs_view.metrics(run)
    pred = runs_view.predictions(run)
    wrong = runs_view.mistakes(run)
    confusion = np.asarray(m["confusion"], dtype=np.int64)
    per_class = pd.DataFrame(m["per_class"])
except (runs.RunError, KeyError, ValueError) as e:
    st.error(f"This run's results cannot be read: {fmt.text(e)}", icon=":material/broken_image:")
    st.stop()

names = runs_view.class_names(run)
if run.status == "cancelled":
    st.warning(f"This run was stopped after {m.get('epochs_trained', '?')} of {run.config.get('epochs', '?')} epochs: "
               "the results below are those of a partly trained network.", icon=":material/cancel:")

n_test = int(m.get("n_test", len(pred["y_true"])))
n_wrong = int(np.sum(pred["y_true"] != pred["y_pred"]))
cols = st.columns(4)
cols[0].metric("Test accuracy", fmt.pct(m.get("test_accuracy")), border=True)
cols[1].metric("95 % interval", fmt.accuracy_interval_text(m), border=True,
               help="Wald interval of the test accuracy, the kind the report quotes.")
cols[2].metric(f"Mistakes, of {n_test:,}", f"{n_wrong:,}", border=True,
               help=f"{len(wrong['index']):,} of them are stored with their images.")
cols[3].metric(f"Best validation (epoch {m.get('best_epoch', '?')})", fmt.pct(m.get("best_val_accuracy")), border=True)
if story := fmt.training_story(run.record):
    st.caption(f"{story}.")
runs_view.what_the_curves_say(run)

tabs = st.tabs(["Confusion matrix", "Per class", "Mistakes", "Look inside", "Map of the test set"])
with tabs[0]:
    inspect_view.matrix_tab(run, confusion, wrong, names)
with tabs[1]:
    inspect_view.classes_tab(per_class)
with tabs[2]:
    inspect_view.gallery_tab(run, pred, wrong, names, n_wrong)
with tabs[3]:
    inspect_view.inside_tab(run, listed, pred, names)
with tabs[4]:
    inspect_view.map_tab(run)
