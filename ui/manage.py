"""Runs in and out, on the Compare page: rename, delete and export one's own runs; import an exported one.

Shipped runs are read-only (core.storage.runs refuses to change them; the buttons here are only the visible part).
What an action did is said once, after its rerun ("flash"); a rejected upload is cleared with its message.
"""

from __future__ import annotations

import functools

import streamlit as st

from core import classroom
from core import formatting as fmt
from core.networks.config import MAX_EPOCHS, ConfigError
from core.queue import jobs
from core.storage import archive, edits, runs
from core.training import checkpoint
from core.training.resume import epochs_can_change
from ui import identity, runs_view
from ui.session import settings, submit, upload_once

SELECT_KEY, FLASH_KEY, ERROR_KEY = "compare.manage_select", "compare.flash", "compare.import_error"
NEXT_KEY = "compare.manage_next"  # the run to choose on the next run (a widget's state is set before it is drawn)
CONFIRM_KEY = "compare.confirm_delete"
ss = st.session_state


def flash() -> None:
    """What the action before the last rerun did (success), or why an upload was refused."""
    if message := ss.pop(FLASH_KEY, None):
        st.success(message)
    if message := ss.pop(ERROR_KEY, None):
        st.error(message)


def _rename(run: runs.Run, new_name: str) -> None:
    try:
        edits.rename_run(run, new_name, identity.actor())
    except runs.RunError as e:
        st.error(f"Cannot rename: {fmt.text(e)}")
        return
    ss[FLASH_KEY] = f"Renamed to “{fmt.text(new_name.strip())}”."
    ss[NEXT_KEY] = run.id  # the same run stays chosen under its new name
    st.rerun()


def _delete_confirmation(run: runs.Run) -> None:
    with st.container(border=True):
        st.warning(
            f"Delete **{fmt.text(run.name)}** for good? Its folder `{run.path.name}` and everything in it will be removed."
        )
        yes, no = st.columns(2)
        if yes.button("Yes, delete it", type="primary", key="compare.delete_yes", width="stretch"):
            ss.pop(CONFIRM_KEY, None)
            try:
                edits.delete_run(run, identity.actor())
            except runs.RunError as e:
                st.error(f"Cannot delete: {fmt.text(e)}")
            else:
                ss[FLASH_KEY] = f"Deleted “{fmt.text(run.name)}”."
                st.rerun()
        if no.button("Cancel", key="compare.delete_no", width="stretch"):
            ss.pop(CONFIRM_KEY, None)
            st.rerun()


def _one_run(all_runs: list[runs.Run], selected_ids: list[str]) -> None:
    by_id = {r.id: r for r in all_runs}
    if ss.get(NEXT_KEY) in by_id:
        ss[SELECT_KEY] = ss.pop(NEXT_KEY)
    if ss.get(SELECT_KEY) not in by_id:
        ss[SELECT_KEY] = selected_ids[0] if selected_ids else all_runs[0].id
    run = by_id[st.selectbox("Run", list(by_id), format_func=runs_view.run_options(all_runs).__getitem__, key=SELECT_KEY)]
    locked = run.shipped or not classroom.may_change(identity.actor(), run.record)
    if run.shipped:
        st.info("This run is **shipped** with the dashboard, so it cannot be renamed or deleted. "
                "Export it and import the copy to get one of your own.", icon=":material/lock:")
    elif locked:
        st.info(f"This run is **{fmt.text(run.record.get('owner'))}**'s: only they and the instructor can change it.",
                icon=":material/lock:")
    name_col, rename_col, delete_col = st.columns([3, 1, 1], vertical_alignment="bottom")
    new_name = name_col.text_input("Name", value=run.name, key=f"compare.name_{run.id}", disabled=locked,
                                   max_chars=runs.MAX_NAME_LENGTH)
    if rename_col.button("Rename", key="compare.rename", disabled=locked or bool(run.problem), width="stretch"):
        _rename(run, new_name)
    if delete_col.button("Delete…", key="compare.delete", disabled=locked or run.status == "running", width="stretch"):
        ss[CONFIRM_KEY] = run.id
    if run.status == "running" and not run.shipped:
        where = ("the class page, which lists everyone's runs" if (who := identity.actor()) is not None and who.instructor
                 else "the Train page of the browser that started it")
        st.caption(f"A run that is still training cannot be deleted; stop it first, on {where}.")
    if ss.get(CONFIRM_KEY) == run.id:
        _delete_confirmation(run)
    if not locked:
        _notes(run)
        continue_run(run, key_prefix="compare")
    if runs_view.has_results(run):
        st.download_button("Export as zip", data=functools.partial(archive.export_run, run),
                           file_name=archive.export_filename(run),
                           mime="application/zip", key="compare.export", on_click="ignore", icon=":material/download:")


def _notes(run: runs.Run) -> None:
    """Notes and tags on one's own run: shown in Compare's table and found by its search."""
    with st.form(f"compare.notes_{run.id}", border=False):
        notes_col, tags_col, save_col = st.columns([3, 2, 1], vertical_alignment="bottom")
        notes = notes_col.text_input("Notes", value=run.record.get("notes") or "", max_chars=edits.MAX_NOTES_LENGTH)
        tags = tags_col.text_input("Tags (comma-separated)", value=", ".join(run.record.get("tags") or []))
        if save_col.form_submit_button("Save notes", width="stretch"):
            try:
                edits.annotate_run(run, notes=notes, tags=tags, actor=identity.actor())
            except runs.RunError as e:
                st.error(f"Cannot save: {fmt.text(e)}")
            else:
                ss[FLASH_KEY], ss[NEXT_KEY] = "Notes saved.", run.id
                st.rerun()


def continue_run(run: runs.Run, key_prefix: str) -> None:
    """Resume a stopped or failed run from its checkpoint; train a finished constant-rate run for more epochs.
    The job goes in the queue under this browser, so the Train page follows it live."""
    try:
        saved = checkpoint.describe(run.path)
    except checkpoint.CheckpointError as e:
        st.caption(f"This run's checkpoint cannot be used: {fmt.text(e)}")
        return
    if saved is None or run.status == "running":
        return
    epochs = run.config.get("epochs", 0)

    refused_key = f"{key_prefix}.continue_refused"
    if message := ss.pop(refused_key, None):
        st.error(message)

    def continue_to(total: int | None) -> None:
        try:
            spec = jobs.make_resume_job(run, epochs=total, data_dir=settings().data_dir)
        except ConfigError as e:
            ss[refused_key] = f"Not queued: {fmt.text(e)}."
            return
        if refused := submit([spec], identity.owner(), identity.actor()).refused:
            ss[refused_key] = f"Not queued: {fmt.text(refused)}."
            return
        if key_prefix == "compare":  # the Train page shows the job itself
            ss[FLASH_KEY] = f"“{fmt.text(run.name)}” is in the queue again: follow it on the Train page."

    if run.status in ("cancelled", "failed"):
        st.button(f"Resume from epoch {saved['epoch'] + 1} of {epochs}", icon=":material/play_arrow:",
                  key=f"{key_prefix}.resume", on_click=continue_to, args=(None,),
                  help="Continues from the checkpoint of its last whole epoch, with the same settings and random state.")
    elif run.status == "completed" and epochs_can_change(run.config) and epochs < (
            cap := classroom.epochs_cap(settings().runs_dir, identity.actor(), run.record) or MAX_EPOCHS):
        more_col, button_col = st.columns([1, 2], vertical_alignment="bottom")
        more = int(more_col.number_input("More epochs", min_value=1, max_value=cap - epochs, value=min(10, cap - epochs),
                                         key=f"{key_prefix}.more_epochs",
                                         help=None if cap == MAX_EPOCHS else f"Your class allows this run {cap} epochs."))
        button_col.button(f"Train {more} more epochs", icon=":material/add_circle:", key=f"{key_prefix}.more",
                          on_click=continue_to, args=(epochs + more,),
                          help="The same run goes on from where it ended (its learning rate is constant).")


def _import(selected_ids: list[str]) -> list[str] | None:
    """The uploader; returns the selection with the imported run added, or None when nothing was imported."""
    uploaded = upload_once("Import a run (a zip exported from this page)", "zip", "compare.import_zip")
    if uploaded is None:
        return None
    try:
        new = archive.import_run(uploaded.getvalue(), settings().runs_dir, owner=identity.owner(), actor=identity.actor())
    except runs.RunError as e:
        ss[ERROR_KEY] = f"Could not import {fmt.text(uploaded.name)}: {fmt.text(e)}"
        st.rerun()
    ss[FLASH_KEY] = f"Imported “{fmt.text(new.name)}” as a run of yours; it is now selected above and here."
    ss[NEXT_KEY] = new.id
    return [*selected_ids, new.id]


def section(all_runs: list[runs.Run], selected_ids: list[str]) -> list[str] | None:
    """Manage runs; returns a new selection for Compare after an import (the page reruns with it)."""
    st.subheader("Manage runs")
    if all_runs:
        _one_run(all_runs, selected_ids)
    return _import(selected_ids)
