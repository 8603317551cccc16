"""The Train page's "Your run": the job waiting or training (polled), then its result, and the class's queue.

The page never trains: a worker process trains the job into a run folder, and these views read that folder.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core import classroom
from core import formatting as fmt
from core.analysis import estimate
from core.networks import presets
from core.networks.architectures import ARCHITECTURES
from core.networks.config import class_names
from core.queue import jobs, turns, worker
from core.storage import runs
from core.system.processes import pid_alive
from core.training.device import expected_device
from ui import identity, manage, navigation, runs_view
from ui.curves import curves
from ui.session import all_runs, queue, readable_jobs, settings, start_workers

# Seconds between redraws: every second for a job that trains or starts next, less often for one further back
# in the queue (twenty sessions waiting would keep the server busy: docs/load-test.md).
POLL_S, POLL_BACK_IN_QUEUE_S = 1.0, 3.0


def latest_job() -> jobs.Job | None:
    """This browser's latest job; for a group of seeds, the first of them still waiting or training."""
    mine = [j for j in readable_jobs(owner=identity.owner()) if not j.spec.lr_find]  # a finder test is not a run
    if not mine:
        return None
    group = (mine[-1].spec.group or {}).get("id")
    active = [j for j in mine if group and (j.spec.group or {}).get("id") == group and j.active]
    return active[0] if active else mine[-1]


def group_jobs(job: jobs.Job) -> list[jobs.Job]:
    group = (job.spec.group or {}).get("id")
    return [j for j in readable_jobs(owner=identity.owner()) if group and (j.spec.group or {}).get("id") == group]


def this_machine() -> str:
    """The device the workers train on: what one published, else what the machine has."""
    published = worker.worker_status(settings().runs_dir)
    return published[0]["environment"]["device"] if published else expected_device()


def estimate_for(config) -> estimate.Estimate | None:
    return estimate.estimate_run(config, all_runs(), this_machine())


def _reference(job: jobs.Job):
    return presets.PRESETS[job.spec.preset].report if job.spec.preset in presets.PRESETS else None


def _chance(config) -> float:
    return 1 / len(class_names(config))


def _left_of(job: jobs.Job) -> float:
    """Seconds until a job of the queue is done (its estimate, or what its progress says)."""
    prior = estimate_for(job.spec.config)
    if job.spec.lr_find:  # 200 batches
        return prior.epoch_s * 200 * job.spec.config.batch_size / estimate.training_images(job.spec.config) if prior else 0.0
    if job.status == "running":
        folder = runs.open_live(job.run_dir)
        history = folder.history()
        left = estimate.time_left(folder.progress(), history["seconds"].dropna().tolist(), job.spec.config.epochs, prior)
        if left is not None:
            return left
    return prior.total_s if prior else 0.0


def start_guess(job: jobs.Job) -> str:
    """When a queued job will probably start: at once while the workers have room (they take turns), else when the
    first of the runs they hold ends."""
    running = [j for j in readable_jobs(active_only=True) if j.status == "running"]
    slots = settings().workers or worker.default_slots()
    if len(running) < slots * turns.MAX_ACTIVE:
        return "within seconds: the worker trains it beside the others, taking turns"
    wait = min(estimate.shared_finish(_left_of(j), [_left_of(o) for o in running if o.worker_pid == j.worker_pid and o != j])
               for j in running)
    return f"in about {fmt.duration(wait)}, when the first run of a full worker ends"


def sharing(job: jobs.Job, own_left: float | None) -> tuple[int, float | None]:
    """(How many other runs take turns with this one on its worker, when it will end counting them.)"""
    others = [j for j in readable_jobs(active_only=True)
              if j.status == "running" and j.id != job.id and j.worker_pid == job.worker_pid]
    if own_left is None:
        return len(others), None
    return len(others), estimate.shared_finish(own_left, [_left_of(o) for o in others])


def queue_table() -> None:
    active = readable_jobs(active_only=True)
    if len(active) <= 1:
        return
    rows = []
    for place, j in enumerate(sorted(active, key=lambda j: (j.status != "running", j.id)), start=1):
        if j.status == "running":
            p = runs.open_live(j.run_dir).progress()
            state = f"training · epoch {p['epoch']} of {p['epochs']}" if p else "starting"
        else:
            state = "waiting"
        # The state first: on a 1280-pixel projector the last columns are the ones cut.
        rows.append({"#": place, "State": state, "Run": j.name, "Whose": "yours" if j.owner == identity.owner() else
                     (j.owner if identity.enabled() else "another session"),
                     "Network": ARCHITECTURES[j.spec.config.architecture].short_title, "Epochs": j.spec.config.epochs})
    st.markdown(f"**The queue** · {len(active)} runs; the workers train them in this order")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"#": st.column_config.NumberColumn(width="small"),
                                "State": st.column_config.TextColumn(width="medium")})


def live(job: jobs.Job) -> None:
    name, epochs = fmt.text(job.name), job.spec.config.epochs
    q = queue()
    if job.status == "queued":
        ahead = q.position(job.id)
        st.subheader(f":material/hourglass_top: “{name}” is waiting in the queue")
        if classroom.rules(settings().runs_dir).paused:
            st.markdown(f"**The instructor has paused training for the class:** your run starts when it resumes "
                        f"({ahead} run{'s are' if ahead != 1 else ' is'} ahead of yours).")
        else:
            st.markdown(f"**{ahead}** run{'s are' if ahead != 1 else ' is'} ahead of yours. It will probably start "
                        f"{start_guess(job)}.")
        if not worker.worker_status(settings().runs_dir):
            start_workers()  # the worker went away: start another
    else:
        if job.worker_pid and not pid_alive(job.worker_pid):
            q.reap()  # its worker died: the queue resumes or fails it, and the next poll shows which
        folder = runs.open_live(job.run_dir)  # read while training: no completeness check wanted
        if copy_of := folder.record.get("copy_of"):
            st.caption(f"The same settings and seed as “{fmt.text(copy_of.get('name'))}”, which is training now: it is "
                       "trained once, and its run becomes yours too when it ends. Its curves, meanwhile:")
            folder = runs.open_live(job.run_dir.parent / str(copy_of.get("id")))
        progress, history = folder.progress(), folder.history()
        if job.cancel_requested:
            st.subheader(f":material/stop_circle: Stopping “{name}”: it keeps what it learned so far")
        else:
            st.subheader(f":material/model_training: Training “{name}”")
        if job.spec.group:
            st.caption(f"Seed {job.spec.group['index'] + 1} of {job.spec.group['seeds']}: the others follow in the queue.")
        if progress.get("start_epoch"):
            st.caption(f"Resumed at epoch {progress['start_epoch'] + 1}: the first {progress['start_epoch']} epochs "
                       "came from its checkpoint.")
        if not progress:
            st.progress(0.0, text="Starting: the worker loads Keras and the data…")
        else:
            epoch, step, steps = progress["epoch"], progress["step"], progress["steps"] or 1
            done = min(1.0, ((epoch - 1) + step / steps) / epochs)
            text = f"Epoch {epoch} of {epochs} · batch {step:,} of {steps:,}"
            if len(history) >= epochs:
                text = f"All {epochs} epochs done · testing on the held-out test images and saving"
            st.progress(done, text=text)
        own = estimate.time_left(progress, history["seconds"].dropna().tolist(), epochs, estimate_for(job.spec.config))
        others, left = sharing(job, own)
        c1, c2, c3 = st.columns(3)
        c1.metric("Epochs finished", f"{len(history)} of {epochs}")
        c2.metric("Elapsed", fmt.duration(time.time() - (job.started or time.time())))
        c3.metric("Left (estimate)", "estimating…" if left is None else f"about {fmt.duration(left)}",
                  help="From the recent epochs' times, plus the final test on the held-out images and saving; with "
                       "the other runs that take turns on the same worker counted.")
        if others:
            st.caption(f"Training with {others} other run{'s' if others > 1 else ''}, taking turns on the same worker: "
                       "every curve moves at once, each a little slower.")
        curves(history, epochs, _reference(job), _chance(job.spec.config), progress.get("batch_loss"))
    st.button("Cancel" if job.status == "queued" else "Stop training", key="train.cancel", icon=":material/stop_circle:",
              on_click=q.cancel, args=(job.id, identity.actor()), disabled=job.cancel_requested)
    queue_table()


def poll() -> None:
    """Redrawn every few seconds while the job is active; a change of status redraws the whole page once."""
    job = latest_job()
    if job is None or (job.id, job.status) != st.session_state.get("train.seen"):
        st.rerun()
    live(job)


def follow(job: jobs.Job) -> None:
    """The live view of an active job, polled as often as its place in the queue deserves."""
    starts_soon = job.status == "running" or queue().position(job.id) <= 1
    st.fragment(poll, run_every=POLL_S if starts_soon else POLL_BACK_IN_QUEUE_S)()


def result(job: jobs.Job) -> None:
    name = fmt.text(job.name)
    if job.status == "cancelled" and not job.run_dir.is_dir():
        st.info(f"You cancelled “{name}” before it started.")
        return
    run = runs.read_run(job.run_dir)
    if not run.has_results:
        reason = run.record.get("error") or job.error or run.problem or "no reason recorded"
        st.error(f"“{name}” failed: {fmt.text(reason)}. Change the settings and train again; if it fails again, show "
                 "this message to the instructor.")
        curves(run.history(), job.spec.config.epochs, finished=True)
        manage.continue_run(run, key_prefix="train")
        return
    m, history, epochs = run.metrics(), run.history(), run.config.get("epochs", job.spec.config.epochs)
    if copied := run.record.get("copied_from"):
        st.caption(f"A copy of “{fmt.text(copied.get('name'))}”: the same settings and seed, trained once for both.")
    if run.status == "cancelled":
        st.subheader(f":material/stop_circle: “{name}” was stopped after {len(history)} of {epochs} epochs")
        st.caption("It was tested as it was when stopped: these are the numbers of a network that learned less.")
    else:
        st.subheader(f":green[:material/check_circle:] “{name}” finished")
    chance = _chance(job.spec.config)
    c1, c2, c3, c4 = st.columns([1.4, 1, 1, 1])
    c1.metric("Test accuracy", fmt.pct(m["test_accuracy"]), border=True,
              help="Measured once, at the end, on test images the network never saw in training.")
    c1.markdown(f"95 % confidence interval: **{fmt.accuracy_interval_text(m)}**  \non {m['n_test']:,} test images")
    c2.metric(
        "Validation accuracy", fmt.pct(m.get("val_accuracy")), help="Last epoch, on the held-out share of the training set."
    )
    c3.metric("Training accuracy", fmt.pct(m.get("train_accuracy")),
              help="Averaged over the last epoch while it trained (with dropout on), as Keras reports it.")
    c4.metric("Total time", fmt.duration((run.record.get("durations") or {}).get("total_s")),
              help="From start to saved: loading the data, every epoch, the final test and saving.")
    curves(history, epochs, _reference(job), chance, finished=True)
    runs_view.what_the_curves_say(run)
    manage.continue_run(run, key_prefix="train")
    shipped = [r.id for r in all_runs() if r.shipped and r.status == "completed" and job.spec.preset
               and r.record.get("preset") == job.spec.preset]
    seeds = [j.run_id for j in group_jobs(job) if j.status in runs.RESULT_STATUSES]
    if len(seeds) > 1:
        st.caption(f"One of {len(seeds)} seeds of the same settings: Compare shows them as one row, with their spread.")
        others, label = [i for i in seeds if i != run.id], "Compare the seeds"
    else:
        others = shipped[:1]
        label = "Compare with the report's run" if shipped else "Compare with other runs"
    b1, b2, _ = st.columns([1, 1, 2])
    if b1.button("Inspect this run", icon=":material/search:", key="train.inspect", width="stretch", type="primary"):
        navigation.open_inspect(run.id)
    if b2.button(label, icon=":material/compare_arrows:", key="train.compare", width="stretch"):
        navigation.open_compare([run.id] + others)
