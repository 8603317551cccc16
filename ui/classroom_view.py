"""The class page's parts: the assignments (the instructor edits and deletes them here), the whole queue, live (the
instructor stops any run from it), and the instructor's controls (rules, pause, clear, PIN reset, import and export).
Every action goes through core.classroom and the queue, which refuse it for anyone but the instructor; the page only
shows the controls to them."""

from __future__ import annotations

import json
from dataclasses import asdict

import pandas as pd
import streamlit as st

from core import classroom
from core import formatting as fmt
from core.networks import presets
from core.networks.config import FIELDS, MAX_EPOCHS, field_range
from core.queue.jobs import Job
from core.storage import runs
from ui import train_settings
from ui.session import queue, readable_jobs, settings, upload_once

FLASH_KEY, EDITING_KEY = "class.flash", "class.editing"
QUEUE_REFRESH_S = 2
NUMBERS = [n for n, f in FIELDS.items() if f.metadata["kind"] == "number" and n != "seed"]
NEW = "new"  # the editor's key part for an assignment not saved yet


def flash() -> None:
    """What the last action did, once."""
    if done := st.session_state.pop(FLASH_KEY, None):
        st.success(done)


def _act(action, done: str) -> None:
    """Do it, then rerun so that the whole page (the assignments, the queue) shows what changed."""
    try:
        action()
    except (classroom.ClassroomError, runs.RunError) as e:
        st.error(fmt.text(e))
    else:
        st.session_state[FLASH_KEY] = done
        st.rerun()


def assignment_card(a: classroom.Assignment, teacher: classroom.Identity | None) -> None:
    """An assignment as students read it: its title (plain text), the instructor's text (Markdown: the instructor is
    trusted and may use bold, lists and links), what may be changed; Edit and Delete for the instructor."""
    with st.container(border=True):
        st.markdown(f"#### {fmt.text(a.title)}")
        details = [f"starts from **{fmt.text(presets.get(a.preset).title)}**"]
        if a.allowed:
            details.append("you may change " + ", ".join(
                f"{FIELDS[k].metadata['help'].lower()} ({fmt.setting(k, lo)}–{fmt.setting(k, hi)})"
                for k, (lo, hi) in a.allowed.items()))
        if a.epoch_budget:
            details.append(f"at most {a.epoch_budget} epochs")
        if a.deadline:
            details.append(f"due {a.deadline}")
        if a.text:
            st.markdown(a.text)
        st.caption("; ".join(details) + ".")
        if teacher is not None:
            edit, delete, export = st.columns(3)
            edit.button("Edit", key=f"class.edit_{a.id}", icon=":material/edit:",
                        on_click=st.session_state.__setitem__, args=(EDITING_KEY, a.id))
            with delete.popover("Delete", icon=":material/delete:"):
                st.markdown(f"Delete “{fmt.text(a.title)}”? Its runs stay; its board goes.")
                if st.button("Delete it", key=f"class.delete_{a.id}", type="primary"):
                    _act(lambda: classroom.delete_assignment(settings().runs_dir, teacher, a.id),
                         f"“{fmt.text(a.title)}” was deleted.")
            export.download_button("Export", json.dumps(asdict(a), indent=2), file_name=f"assignment {a.id}.json",
                                   mime="application/json", key=f"class.export_{a.id}", on_click="ignore",
                                   icon=":material/download:")


def _range_widget(name: str, current: list | None, key: str) -> list:
    """The range students may move one slider in: the whole of the field's range to start with, narrowed here."""
    low, high = field_range(name)
    label = f"{FIELDS[name].metadata['help']}: students may choose within"
    value = tuple(current) if current else (low, high)
    if (options := train_settings.grid(name)) is not None:
        options = sorted({*options, *value})
        return list(st.select_slider(label, options=options, value=value, key=key,
                                     format_func=lambda v: fmt.setting(name, v)))
    step = FIELDS[name].metadata["step"] or (1 if FIELDS[name].type in ("int", int) else 0.01)
    return list(st.slider(label, min_value=low, max_value=high, value=value, step=step, key=key))


def assignment_editor(teacher: classroom.Identity) -> None:
    """A new assignment, or the one being edited: title, text, starting preset, the sliders students may move and
    in what range, an epoch budget and a deadline."""
    found = {a.id: a for a in classroom.assignments(settings().runs_dir)}
    editing = found.get(st.session_state.get(EDITING_KEY))
    part = editing.id if editing else NEW
    with st.expander(f"Edit “{editing.title}”" if editing else "Add an assignment", expanded=editing is not None,
                     icon=":material/edit_note:"):
        title = st.text_input("Title", value=editing.title if editing else "", max_chars=80, key=f"class.title_{part}")
        text = st.text_area("What to do (Markdown: **bold**, lists, links)", value=editing.text if editing else "",
                            max_chars=1000, key=f"class.text_{part}")
        a, b = st.columns(2)
        ids = list(presets.PRESETS)
        preset = a.selectbox("Starting preset", ids, index=ids.index(editing.preset) if editing else 0,
                             format_func=lambda p: presets.PRESETS[p].title, key=f"class.preset_{part}")
        allowed = b.multiselect("Sliders students may move", NUMBERS, default=list(editing.allowed) if editing else [],
                                format_func=lambda n: FIELDS[n].metadata["help"], key=f"class.allowed_{part}")
        ranges = {n: _range_widget(n, editing.allowed.get(n) if editing else None, f"class.range_{part}_{n}")
                  for n in allowed}
        c, d = st.columns(2)
        budget = c.number_input("Epoch budget per run (0 = none)", 0, MAX_EPOCHS,
                                (editing.epoch_budget or 0) if editing else 10, key=f"class.budget_{part}",
                                help="A preset of more epochs starts shortened to the budget, and so does one beyond the "
                                     "class's limits, so that students can train it as it opens.")
        deadline = d.date_input("Deadline", value=pd.Timestamp(editing.deadline).date() if editing and editing.deadline
                                else None, key=f"class.deadline_{part}")
        values = {"title": title, "text": text, "preset": preset, "allowed": ranges, "epoch_budget": int(budget) or None,
                  "deadline": deadline.isoformat() if deadline else None, "id": editing.id if editing else None}
        save, cancel = st.columns(2)
        if save.button("Save the changes" if editing else "Save the assignment", type="primary", key=f"class.save_{part}"):
            st.session_state.pop(EDITING_KEY, None)
            _act(lambda: classroom.save_assignment(settings().runs_dir, teacher, values),
                 "Saved: students see it on Home and Train.")
        if editing and cancel.button("Cancel", key="class.cancel_edit"):
            st.session_state.pop(EDITING_KEY, None)
            st.rerun()


def _state(job: Job) -> str:
    if job.status == "queued":
        return "waiting"
    progress = runs.open_live(job.run_dir).progress()
    done = progress.get("epoch", 1) - 1 if progress else 0
    return "stopping" if job.cancel_requested else f"training, epoch {done + 1} of {job.spec.config.epochs}"


@st.fragment(run_every=QUEUE_REFRESH_S)
def class_queue(teacher: classroom.Identity | None) -> None:
    """Everyone's waiting and training runs, live; the instructor can stop any of them."""
    active = sorted(readable_jobs(active_only=True), key=lambda j: (j.status != "running", j.id))
    if classroom.rules(settings().runs_dir).paused:
        st.warning("Training is paused for the class: waiting runs start when the instructor resumes it.",
                   icon=":material/pause_circle:")
    if not active:
        st.caption("Nobody's runs are waiting or training.")
        return
    if teacher is None:
        rows = [{"#": i, "Whose": j.owner, "Run": j.name, "State": _state(j), "Epochs": j.spec.config.epochs}
                for i, j in enumerate(active, start=1)]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        return
    for job in active:
        name, whose, state, stop = st.columns([3, 2, 3, 1], vertical_alignment="center")
        name.markdown(f"**{fmt.text(job.name)}**")
        whose.markdown(fmt.text(job.owner))
        state.markdown(_state(job) + f" · {job.spec.config.epochs} epochs, batch {job.spec.config.batch_size}")
        if stop.button("Stop", key=f"class.stop_{job.id}", icon=":material/stop_circle:", disabled=job.cancel_requested):
            _act(lambda j=job: queue().cancel(j.id, teacher), f"“{fmt.text(job.name)}” stops at its next batch.")


def instructor_panel(teacher: classroom.Identity) -> None:
    """The class's rules, pause, clear, PIN reset and assignment import."""
    rules = classroom.rules(settings().runs_dir)
    st.subheader("Rules for the class")
    with st.form("class.rules"):
        a, b, c, d = st.columns(4)
        max_queued = a.number_input("Runs waiting or training per student", 1, 20, rules.max_queued, key="class.max_queued")
        max_epochs = b.number_input("Most epochs a run may ask (0 = no limit)", 0, MAX_EPOCHS, rules.max_epochs or 0,
                                    key="class.max_epochs")
        max_images = c.number_input("Most training images (0 = no limit)", 0, int(field_range("limit")[1]),
                                    rules.max_images or 0, step=1000, key="class.max_images")
        min_batch = d.number_input("Smallest batch size (0 = none)", 0, int(field_range("batch_size")[1]),
                                   rules.min_batch_size or 0, key="class.min_batch",
                                   help="Small batches take many more steps for an epoch.")
        paused = st.toggle("Pause training for the class (the workers take no new run)", rules.paused)
        names = st.toggle("Show students' names on the projected class board", rules.names_on_board)
        if st.form_submit_button("Save the rules", type="primary"):
            _act(lambda: classroom.set_rules(settings().runs_dir, teacher, max_queued=int(max_queued),
                                             max_epochs=int(max_epochs) or None, max_images=int(max_images) or None,
                                             min_batch_size=int(min_batch) or None, paused=paused,
                                             names_on_board=names), "Saved.")
    left, right = st.columns(2)
    if left.button("Clear the queue (waiting runs only)", key="class.clear"):
        _act(lambda: queue().clear(teacher), "The waiting runs were cancelled.")
    with right.form("class.reset"):
        who = st.selectbox("Reset a student's PIN", classroom.students(settings().runs_dir), key="class.reset_name")
        if st.form_submit_button("Reset"):
            _act(lambda: classroom.reset_pin(settings().runs_dir, teacher, who or ""), f"{fmt.text(who)} chooses a new PIN "
                 "at the next sign-in.")
    upload = upload_once("Import an assignment (its JSON file)", "json", "class.import")
    if upload is not None:
        _act(lambda: classroom.import_assignment(settings().runs_dir, teacher, upload.getvalue()),
             "Imported: it is listed under Assignments.")
