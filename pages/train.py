"""Train: start from a trial run of the report or from your own settings, see the network, train it live.

Train puts a job in the class's queue; a worker process trains it into a run folder, and the live view polls
that folder. The settings live in the address, so a reload keeps them and a link hands them out.
"""

import dataclasses
import threading

import streamlit as st

from core import classroom
from core import formatting as fmt
from core.data.datasets import DATASET_INFO, availability
from core.networks import presets
from core.networks.architectures import ARCHITECTURES
from core.networks.config import DATASETS, ConfigError, from_dict
from core.queue import sweeps
from core.queue.jobs import MAX_SEEDS, make_seed_jobs
from core.storage import runs
from ui import identity, lr_finder_view, model_view, navigation, train_live, train_sweep
from ui import train_settings as form
from ui.session import all_runs, client_id, readable_jobs, settings, start_workers, submit

FLASH_KEY = "train.flash"
navigation.ensure_entry()
who = identity.required("train a network")
ss = st.session_state
config_env = settings()
job = train_live.latest_job()
link_problems = form.init_state(job.spec.config.to_dict() if job else None, job.spec.preset if job else None,
                                availability(config_env.data_dir))
problems = link_problems + form.repair_state()
if "train.warmed" not in ss:
    # A worker takes seconds to import TensorFlow: start it while the user picks settings, not after Train.
    ss["train.warmed"] = True
    threading.Thread(target=start_workers, daemon=True).start()

st.title("Train a network")
st.markdown("Start from one of the report's trial runs or set your own. The network below follows the sliders; "
            "**Train** puts it in the class's queue and shows its curves live.")
for problem in problems:
    st.error(f"These settings could not be used: {fmt.text(problem)}. The default is used instead.")

ss["train.seen"] = None if job is None else (job.id, job.status)
if said := ss.pop(FLASH_KEY, None):
    st.warning(said, icon=":material/playlist_remove:")
if job is not None and job.active:
    st.info(f"Your run “{fmt.text(job.name)}” is {'training' if job.status == 'running' else 'in the queue'}: "
            "[follow it at the bottom of the page](#your-run).")

# --- what to train ---------------------------------------------------------------------------------------
class_rules = classroom.rules(config_env.runs_dir)
assignment = form.assignment_picker(classroom.assignments(config_env.runs_dir), class_rules)
dataset = ss[form.key("dataset")]
student = who is not None and who.signed_in and not who.instructor
bounds = form.bounds_for(dataset, classroom.student_bounds(class_rules, assignment) if student else {})
if moved := form.keep_within(bounds):
    st.info(f"Within what {'your class allows' if student else 'this dataset holds'}: " + "; ".join(moved) + ".",
            icon=":material/rule:")
st.segmented_control("Dataset", DATASETS, format_func=lambda d: DATASET_INFO[d].title, key=form.key("dataset"),
                     required=True, on_change=form.on_dataset, persist_state="session", disabled=assignment is not None)
c_preset, c_arch = st.columns([1.2, 1])
c_preset.selectbox("Start from", [form.CUSTOM] + [p.id for p in presets.for_dataset(dataset)], key=form.PRESET_KEY,
                   format_func=lambda p: presets.PRESETS[p].title if p else "Your own settings",
                   on_change=form.on_preset, persist_state="session", disabled=assignment is not None)
c_arch.selectbox("Architecture", [a.name for a in ARCHITECTURES.values() if a.dataset == dataset],
                 format_func=lambda a: ARCHITECTURES[a].title, key=form.key("architecture"),
                 on_change=form.on_architecture, persist_state="session", disabled=assignment is not None)
arch = ARCHITECTURES[ss[form.key("architecture")]]
c_arch.caption(arch.summary)
preset_id = ss[form.PRESET_KEY]
if not availability(config_env.data_dir).get(dataset):
    st.warning(f"{DATASET_INFO[dataset].title} is not on this machine, so training it will fail unless the worker can "
               f"download it. To get it: {DATASET_INFO[dataset].how_to_get}.")

with st.container(border=True):
    if preset_id:
        preset = presets.get(preset_id)
        r = preset.report
        st.markdown(f"**{preset.title}** · the report's figures ({r.source})")
        figures = [("Training accuracy", fmt.pct(r.train_accuracy)), ("Validation accuracy", fmt.pct(r.val_accuracy)),
                   ("Training loss", f"{r.train_loss:.2f}" if r.train_loss is not None else fmt.DASH),
                   ("Validation loss", f"{r.val_loss:.2f}" if r.val_loss is not None else fmt.DASH)]
        for column, (label, value) in zip(st.columns(4), figures):
            column.metric(label, value)
        notes = [preset.note] if preset.note else []
        if r.test_error_ci95:
            low, high = r.test_error_ci95
            notes.append(f"Test accuracy 95 % CI in the report: {fmt.interval(1 - high, 1 - low)}.")
        if changed := preset.differences(form.current_values()):
            if assignment is None:
                how = "“Use the trial's settings” loads the settings the report trained with."
            elif assignment.starting_changes(class_rules):
                how = "The assignment shortens the trial to fit its epoch budget and the class's limits."
            else:
                how = ""
            notes.append("Your settings differ from this trial in: " + ", ".join(
                f"{k.replace('_', ' ')} {form.shown(k, a)} → {form.shown(k, b)}" for k, (a, b) in changed.items())
                + ". " + how)
        st.caption(" ".join(notes))
        if changed and assignment is None:
            st.button("Use the trial's settings", key="train.use_preset", icon=":material/restart_alt:",
                      on_click=form.apply_preset, args=(preset_id,))
    else:
        st.markdown("**Your own settings**")
        st.caption("Pick a trial run under “Start from” to load the report's settings and see its figures here.")

form.widgets(arch, assignment.allowed if assignment else None, bounds,
             form.start_options(all_runs(), dataset, arch.name))

try:
    config = from_dict(form.current_values())
except ConfigError as e:
    config = None
    st.error(f"These settings cannot be trained: {fmt.text(e)}")
else:
    st.query_params.from_dict({"client": client_id(),
                               **form.link_params(config, preset_id, assignment.id if assignment else None)})
    if assignment is not None:
        try:
            assignment.check(config, class_rules)
        except classroom.ClassroomError as e:
            st.warning(f"For this assignment: {fmt.text(e)}.", icon=":material/assignment:")

if config is not None:
    lr_finder_view.section(config)
    st.header("The network")
    model_view.show(config)

# --- your run --------------------------------------------------------------------------------------------
st.header("Your run", anchor="your-run")
if config is not None:
    guess = train_live.estimate_for(config)
    where = train_live.this_machine()
    if guess is None:
        st.caption(f"No run of this network has finished yet, so there is no time estimate for {where}.")
    else:
        say = st.warning if guess.long else st.caption
        say(f"**About {fmt.duration(guess.total_s)}** on this machine's {where}: {fmt.duration(guess.epoch_s)} an "
            f"epoch, plus start-up and the final test. Estimated {guess.basis}."
            + (" Until a run of this network finishes here, that is a rough guess." if guess.elsewhere else "")
            + (" That is long for a lesson: fewer epochs or an image limit make it shorter." if guess.long else ""))

active = job is not None and job.active
sweep = train_sweep.picker(arch, assignment.allowed if assignment else None, config)
c_name, c_seeds, c_button = st.columns([3, 1, 1], vertical_alignment="bottom")
# Left empty, the name is made from the settings and shown as the placeholder: it follows every slider
# without the page ever writing into a field the user may be typing in.
auto_name = form.default_name(config, preset_id) if config is not None else ""
typed = c_name.text_input("Run name", key="train.name", max_chars=runs.MAX_NAME_LENGTH, persist_state="session",
                          placeholder=auto_name, help="Leave it empty to use the name made from the settings.")
waiting = len(readable_jobs(owner=identity.owner(), active_only=True))
room = max(1, class_rules.max_queued - waiting) if student else MAX_SEEDS  # the class's queue limit per student
seeds = c_seeds.number_input("Repeat with seeds", min_value=1, max_value=min(MAX_SEEDS, room), value=1, key="train.seeds",
                             disabled=sweep is not None,
                             help=f"Train the same settings with 2 to {MAX_SEEDS} seeds (different initial weights, "
                                  "shuffling and dropout): Compare then shows how much a result moves by chance alone.")
name = typed.strip() or auto_name
name_ok = True
try:
    runs.clean_name(name)
except runs.RunError as e:
    name_ok = False
    st.error(f"This name cannot be used: {fmt.text(e)}.")
count = len(sweeps.grid(config, sweep)) if sweep else int(seeds)
pressed = c_button.button("Train" if count == 1 else f"Train {count} runs", type="primary", icon=":material/model_training:",
                          key="train.submit", width="stretch", disabled=config is None or not name_ok or active,
                          help="One run at a time per browser: wait for yours or stop it." if active else None)
if pressed:
    if sweep:
        specs = sweeps.make_sweep_jobs(config, config_env.runs_dir, name=name, sweep=sweep, preset=preset_id or None,
                                       data_dir=config_env.data_dir)
    else:
        specs = make_seed_jobs(config, config_env.runs_dir, name=name, seeds=int(seeds), preset=preset_id or None,
                               data_dir=config_env.data_dir)
    with st.spinner("Starting a training worker…"):
        submitted = submit([dataclasses.replace(spec, assignment=assignment.id if assignment else None) for spec in specs],
                           identity.owner(), who)
    done = len(submitted.ids)
    if submitted.refused and not done:
        st.error(f"Not in the queue: {fmt.text(submitted.refused)}.")
    else:
        if submitted.refused:  # said after the rerun, which follows the runs that were queued
            ss[FLASH_KEY] = f"{done} of {len(specs)} runs were queued; the others were not: {fmt.text(submitted.refused)}."
        st.rerun()

if job is None:
    st.caption("Nothing trained from this browser yet.")
elif active:
    train_live.follow(job)
else:
    train_live.result(job)
