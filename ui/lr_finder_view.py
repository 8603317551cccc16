"""Train's learning-rate finder: a short range test (Smith 2015) run as a queued job, plotted as loss against
learning rate with the suggestion marked; one click sets the slider to it."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.networks.config import TrainConfig
from core.queue import jobs
from ui import identity, runs_view
from ui import train_settings as form
from ui.session import queue, readable_jobs, settings, submit

JOB_KEY = "train.lr_find_job"
ss = st.session_state


def _use(value: float) -> None:
    ss[form.key("learning_rate")] = float(f"{value:.2g}")


def _chart(result: dict) -> alt.Chart:
    frame = pd.DataFrame({"learning rate": result["learning_rates"], "loss": result["losses"],
                          "smoothed": result["smoothed"]})
    x = alt.X("learning rate:Q", scale=alt.Scale(type="log"), axis=alt.Axis(format=".0e"))
    raw = alt.Chart(frame).mark_line(color="#cbd5e1").encode(x=x, y=alt.Y("loss:Q", scale=alt.Scale(zero=False)))
    tooltip = [alt.Tooltip("learning rate:Q", format=".1e"), alt.Tooltip("smoothed:Q", format=".3f")]
    smooth = alt.Chart(frame).mark_line(strokeWidth=3, color="#2563eb").encode(x=x, y="smoothed:Q", tooltip=tooltip)
    layers = [raw, smooth]
    if result.get("suggestion"):
        mark = pd.DataFrame({"learning rate": [result["suggestion"]], "label": [f"suggested {result['suggestion']:.1e}"]})
        rule = alt.Chart(mark).encode(x="learning rate:Q")
        layers += [rule.mark_rule(color="#16a34a", strokeWidth=3),
                   rule.mark_text(align="left", dx=6, dy=-110, color="#16a34a", fontSize=15).encode(text="label:N")]
    return alt.layer(*layers).properties(height=320, title="Loss while the learning rate rises")


def section(config: TrainConfig) -> None:
    job = next((j for j in readable_jobs(owner=identity.owner()) if j.run_id == ss.get(JOB_KEY)), None)
    with st.expander("Find a learning rate", expanded=job is not None):
        st.markdown("A short test: the network trains for 200 batches while the learning rate rises from 0.000001 to 1, "
                    "and the loss is recorded. Where the loss falls fastest is a good rate; where it shoots up (or stays "
                    "flat at its start) the rate is too high to learn, as in the report's CIFAR-100 trial at 0.01.")
        if st.button("Find a learning rate for these settings", key="train.lr_find", icon=":material/troubleshoot:"):
            spec = jobs.make_lr_find_job(config, settings().runs_dir, data_dir=settings().data_dir)
            submitted = submit([spec], identity.owner(), identity.actor())
            if submitted.refused:
                st.error(f"Not queued: {fmt.text(submitted.refused)}.")
            else:
                ss[JOB_KEY] = spec.run_id
                st.rerun()
        if job is None:
            return
        if job.active:
            def wait() -> None:
                fresh = queue().get(job.id)
                if fresh is None or not fresh.active:
                    st.rerun()
                st.info("Testing learning rates…" if fresh.status == "running" else
                        f"In the queue: {queue().position(job.id)} ahead.", icon=":material/hourglass_top:")

            st.fragment(wait, run_every=2.0)()
            return
        path = jobs.lr_find_file(settings().runs_dir, job.run_id)
        if not path.is_file():
            st.error(f"The learning-rate test did not finish: {fmt.text(job.error or job.status)}.")
            return
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            st.error(f"The learning-rate test's result cannot be read ({fmt.text(e)}): run the test again.")
            return
        st.altair_chart(runs_view.styled(_chart(result)), width="stretch")
        if result.get("suggestion"):
            st.button(f"Use {result['suggestion']:.2g}", key="train.lr_use", on_click=_use, args=(result["suggestion"],),
                      type="primary", help="Sets the learning-rate slider; the other settings stay as they are.")
        else:
            st.warning("The loss never fell: no learning rate in this range makes this network learn in 200 batches.")
