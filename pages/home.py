"""Home: what the dashboard is, what this machine trains with, which data and runs it has, where to go.

No Keras here: the backend and device come from what a worker published, the datasets from a file search.
"""

import streamlit as st

from core import datasets, device, worker
from core.datasets import DATASET_INFO
from pages.common import DATA_DIR, PRETRAINED_DIR, RUNS_DIR, all_runs, queue

st.title("How neural networks train")
st.markdown(
    "#### Train the networks of the report on Fashion-MNIST and CIFAR-100 with sliders, and watch their loss "
    "and accuracy change epoch by epoch. Then compare runs, and look at the pictures each network gets wrong."
)

pages = [
    ("pages/train.py", "Train", ":material/model_training:",
     "Pick a trial run of the report or set your own, see the network, train it live."),
    ("pages/compare.py", "Compare", ":material/compare_arrows:",
     "Put runs side by side: curves, test accuracy and whether the difference is real."),
    ("pages/inspect.py", "Inspect", ":material/search:",
     "One run in detail: confusion matrix, per-class scores, its worst mistakes."),
    ("pages/report.py", "The report", ":material/description:",
     "The report's figures next to what the dashboard measures."),
]
for column, (path, label, icon, text) in zip(st.columns(len(pages), border=True), pages):
    with column:
        st.page_link(path, label=f"**{label}**", icon=icon, width="stretch")
        st.write(text)

left, middle, right = st.columns(3, border=True)

with left:
    st.subheader("Training runs on")
    published = worker.worker_status(RUNS_DIR)
    # Device names are long ("CPU (Intel(R) Xeon(R) ...)"): a heading wraps where a metric would cut them.
    if published:
        env = published[0]["environment"]
        st.markdown(f"#### {env['device']}")
        st.markdown(f"Keras {env['keras']} with the **{env['backend']}** backend · "
                    f"{len(published)} training worker{'s' if len(published) > 1 else ''} ready")
    else:
        st.markdown("#### Device: detecting…")
        st.markdown(f"Backend: **{device.configured_backend()}**. The device is known once the first run starts its "
                    "training worker (a separate process: the web page itself never trains).")

with middle:
    st.subheader("Datasets")
    for name, source in datasets.availability(DATA_DIR).items():
        info = DATASET_INFO[name]
        if source:
            st.markdown(f":green[:material/check_circle:] **{info.title}** · {len(info.class_names)} classes")
            st.caption(f"Found in {source}")
        else:
            st.markdown(f":red[:material/cancel:] **{info.title}** is not on this machine")
            st.caption(f"To get it: {info.how_to_get}.")

with right:
    st.subheader("Saved runs")
    saved = all_runs()
    shipped = sum(r.shipped for r in saved)
    st.metric("Runs", len(saved))
    st.markdown(f"**{len(saved) - shipped}** trained here · **{shipped}** shipped with the dashboard")
    active = queue().jobs(active_only=True)
    training = sum(j["status"] == "running" for j in active)
    if active:
        st.markdown(f"Now: **{training}** training, **{len(active) - training}** waiting in the queue")
    st.caption(f"Runs folder: {RUNS_DIR} · shipped runs: {PRETRAINED_DIR}")
