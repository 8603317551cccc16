"""Home: what the dashboard is, what this machine trains with, which data and runs it has, where to go.

No Keras here: the device comes from what a worker published, or from what the machine has.
"""

import streamlit as st

from core import classroom
from core import formatting as fmt
from core.data import datasets
from core.data.datasets import DATASET_INFO
from core.queue import worker
from core.training import device
from ui import classroom_view, identity, navigation
from ui.session import all_runs, readable_jobs, settings

navigation.ensure_entry()
config = settings()

st.title("How neural networks train")
st.markdown(
    "#### Train the networks of the report on Fashion-MNIST and CIFAR-100 with sliders, and watch their loss "
    "and accuracy change epoch by epoch. Then compare runs, and look at the pictures each network gets wrong."
)
if identity.enabled():  # a classroom: who this browser is
    if (who := identity.current()) is None:
        st.markdown(":material/no_accounts: Nobody is signed in on this browser.")
        st.page_link(navigation.CLASS.path, label="Sign in on the class page", icon=":material/login:")
    elif who.instructor:
        st.markdown(":material/person: Signed in as the instructor")
    else:
        st.markdown(f":material/person: Signed in as **{fmt.text(who.name)}**")
navigation.links()

if assignments := classroom.assignments(config.runs_dir):
    st.subheader("Assignments")
    for a in assignments[:3]:
        classroom_view.assignment_card(a, None)  # read-only here: the instructor edits on the class page

left, middle, right = st.columns(3, border=True)

with left:
    st.subheader("Training runs on")
    published = worker.worker_status(config.runs_dir)
    # Device names are long ("CPU (Intel(R) Xeon(R) ...)"): a heading wraps where a metric would cut them.
    if published:
        heading, line = worker.summary(published)
        st.markdown(f"#### {heading}")
        st.markdown(line)
    else:
        st.markdown(f"#### {device.expected_device()}")
        st.markdown(f"Keras with the **{device.configured_backend()}** backend. A training worker (a separate process: "
                    "the web page itself never trains) starts when someone opens Train.")

with middle:
    st.subheader("Datasets")
    for name, source in datasets.availability(config.data_dir).items():
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
    active = readable_jobs(active_only=True)
    training = sum(j.status == "running" for j in active)
    if active:
        st.markdown(f"Now: **{training}** training, **{len(active) - training}** waiting in the queue")
    st.caption(f"Runs folder: {config.runs_dir} · shipped runs: {config.pretrained_dir}")
