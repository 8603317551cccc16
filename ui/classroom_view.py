"""The class page's parts: the assignments as students see them, the whole queue by name, and the instructor's
controls (rules, pause, clear, PIN reset, assignments). Every action goes through core.classroom / core.queue.jobs,
which refuse it for anyone but the instructor; the page only shows the controls to them."""

from __future__ import annotations

import json
from dataclasses import asdict

import pandas as pd
import streamlit as st

from core import classroom
from core import formatting as fmt
from core.networks import presets
from core.networks.config import FIELDS, MAX_EPOCHS
from core.storage import runs
from ui.session import queue, readable_jobs, settings, upload_once

FLASH_KEY = "class.flash"


def assignment_card(a: classroom.Assignment) -> None:
    with st.container(border=True):
        st.markdown(f"#### {fmt.text(a.title)}")
        details = [f"starts from **{fmt.text(presets.get(a.preset).title)}**"]
        if a.allowed:
            details.append("you may change " + ", ".join(f"{FIELDS[k].metadata['help'].lower()} ({lo}–{hi})"
                                                         for k, (lo, hi) in a.allowed.items()))
        if a.epoch_budget:
            details.append(f"at most {a.epoch_budget} epochs")
        if a.deadline:
            details.append(f"due {a.deadline}")
        st.markdown(fmt.text(a.text) if a.text else "")
        st.caption("; ".join(details) + ".")


def class_queue() -> None:
    """Everyone's jobs, by name and place in line."""
    active = sorted(readable_jobs(active_only=True), key=lambda j: (j.status != "running", j.id))
    if not active:
        st.caption("Nobody's runs are waiting or training.")
        return
    rows = [{"#": i, "Whose": j.owner, "Run": j.name, "State": "training" if j.status == "running" else "waiting",
             "Epochs": j.spec.config.epochs} for i, j in enumerate(active, start=1)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _act(action, done: str) -> None:
    """Do it, then rerun so that the whole page (the assignments above, the queue) shows what changed."""
    try:
        action()
    except (classroom.ClassroomError, runs.RunError) as e:
        st.error(fmt.text(e))
    else:
        st.session_state[FLASH_KEY] = done
        st.rerun()


def instructor_panel(teacher: classroom.Identity) -> None:
    if done := st.session_state.pop(FLASH_KEY, None):
        st.success(done)
    rules = classroom.rules(settings().runs_dir)
    st.subheader("Rules for the class")
    with st.form("class.rules"):
        a, b, c = st.columns(3)
        max_queued = a.number_input("Runs waiting or training per student", 1, 20, rules.max_queued)
        max_epochs = b.number_input("Most epochs a run may ask (0 = no limit)", 0, MAX_EPOCHS, rules.max_epochs or 0)
        max_images = c.number_input("Most training images (0 = no limit)", 0, 60000, rules.max_images or 0, step=1000)
        paused = st.toggle("Pause training for the class (the workers take no new run)", rules.paused)
        if st.form_submit_button("Save the rules", type="primary"):
            _act(lambda: classroom.set_rules(settings().runs_dir, teacher, max_queued=int(max_queued),
                                             max_epochs=int(max_epochs) or None, max_images=int(max_images) or None,
                                             paused=paused), "Saved.")
    left, right = st.columns(2)
    if left.button("Clear the queue (waiting runs only)", key="class.clear"):
        _act(lambda: queue().clear(teacher), "The waiting runs were cancelled.")
    with right.form("class.reset"):
        who = st.selectbox("Reset a student's PIN", classroom.students(settings().runs_dir), key="class.reset_name")
        if st.form_submit_button("Reset"):
            _act(lambda: classroom.reset_pin(settings().runs_dir, teacher, who or ""), f"{fmt.text(who)} chooses a new PIN "
                 "at the next sign-in.")
    assignment_editor(teacher)


def assignment_editor(teacher: classroom.Identity) -> None:
    st.subheader("Assignments")
    numbers = [n for n, f in FIELDS.items() if f.metadata["kind"] == "number" and n not in ("seed",)]
    with st.form("class.assignment"):
        title = st.text_input("Title", max_chars=80)
        text = st.text_area("What to do", max_chars=1000)
        a, b = st.columns(2)
        preset = a.selectbox("Starting preset", list(presets.PRESETS), format_func=lambda p: presets.PRESETS[p].title)
        allowed = b.multiselect("Sliders students may move (within their full range)", numbers,
                                format_func=lambda n: FIELDS[n].metadata["help"])
        c, d = st.columns(2)
        budget = c.number_input("Epoch budget per run (0 = none)", 0, MAX_EPOCHS, 10,
                                help="A preset of more epochs starts shortened to the budget, and so does one beyond the "
                                     "class's epoch and image limits, so that students can train it as it opens.")
        deadline = d.date_input("Deadline", value=None)
        if st.form_submit_button("Save the assignment", type="primary"):
            ranges = {n: [FIELDS[n].metadata["low"], FIELDS[n].metadata["high"]] for n in allowed}
            _act(lambda: classroom.save_assignment(settings().runs_dir, teacher, {
                "title": title, "text": text, "preset": preset, "allowed": ranges, "epoch_budget": int(budget) or None,
                "deadline": deadline.isoformat() if deadline else None}), "Saved: students see it on Home and Train.")
    for a in classroom.assignments(settings().runs_dir):
        st.download_button(f"Export “{a.title}”", json.dumps(asdict(a), indent=2), file_name=f"assignment {a.id}.json",
                           mime="application/json", key=f"class.export_{a.id}", on_click="ignore")
    upload = upload_once("Import an assignment (its JSON file)", "json", "class.import")
    if upload is not None:
        _act(lambda: classroom.import_assignment(settings().runs_dir, teacher, upload.getvalue()),
             "Imported: it is listed under Assignments.")
