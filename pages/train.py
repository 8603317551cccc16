"""Train: start from a trial run of the report or from your own settings, see the network, train it live.

Every setting is a widget built from TrainConfig's field metadata. The page never trains: Train puts a
job in the queue, a worker process trains it into a run folder, and a fragment polls that folder, so
the page stays responsive and a reload finds the job again (the client id is in the URL).
Keras is imported here only, lazily, to describe the network the sliders define.
"""

from __future__ import annotations

import gc
import math
import statistics
import threading
import time
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from core import presets, runs, worker
from core.architectures import ARCHITECTURES, build_model
from core.config import DATASETS, FIELDS, ConfigError, TrainConfig, from_dict
from core.datasets import DATASET_INFO, availability
from core.device import configured_backend
from core.jobs import ACTIVE, make_job
from pages.common import DATA_DIR, RUNS_DIR, all_runs, duration, pct, queue

# The settings, grouped as a person thinks about them (dataset and architecture are chosen above them).
GROUPS = {
    "Network": ("depth", "units", "dropout", "l2", "label_smoothing", "augment"),
    "Optimizer": ("optimizer", "learning_rate", "beta_1", "schedule", "batch_size"),
    "Data and length": ("epochs", "limit", "validation_split", "seed"),
}
CUSTOM = ""  # the preset selectbox's "your own settings"
# Seconds between redraws of the live view: every second for a job that trains or starts next, less often
# for one further back in the queue (twenty sessions waiting would keep the server busy: docs/load-test.md).
POLL_S, POLL_BACK_IN_QUEUE_S = 1.0, 3.0
TRAIN_COLOR, VAL_COLOR = "#2563eb", "#ea580c"
SHORT = {"depth": "depth", "units": "units", "dropout": "dropout", "l2": "L2", "label_smoothing": "smoothing",
         "augment": "augment", "optimizer": "", "learning_rate": "lr", "beta_1": "β1", "schedule": "",
         "batch_size": "batch", "epochs": "epochs", "limit": "limit", "validation_split": "val", "seed": "seed"}

ss = st.session_state


# --- settings: state, grids, widgets -----------------------------------------------------------------

def _key(name: str) -> str:
    return f"cfg.{name}"


def _typed(name: str, value):
    """Numbers as their field's type: a float slider refuses an int value and the other way round."""
    if FIELDS[name].metadata["kind"] != "number" or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if FIELDS[name].type in ("int", int):
        return int(value) if float(value).is_integer() else value  # 2.5 stays, for the config to refuse
    return float(value)


def _apply(values: dict) -> None:
    for name, value in values.items():
        ss[_key(name)] = _typed(name, value)


def _apply_preset(preset_id: str) -> None:
    ss["train.preset"] = preset_id
    _apply(presets.get(preset_id).config.to_dict())


def _on_dataset() -> None:
    _apply_preset(presets.for_dataset(ss[_key("dataset")])[0].id)


def _on_preset() -> None:
    if ss["train.preset"]:
        _apply_preset(ss["train.preset"])


def _on_architecture() -> None:
    """Another network starts from its first trial run: settings that suit it, and figures to compare with."""
    arch = ss[_key("architecture")]
    first = next((p.id for p in presets.PRESETS.values() if p.config.architecture == arch), None)
    if first:
        _apply_preset(first)
    else:
        ss["train.preset"] = CUSTOM


def _init_state() -> None:
    """Once per session: the settings of this browser's latest run (a reload keeps them), else the first
    trial run of the first dataset that is on this machine."""
    if "train.ready" in ss:
        return
    ss["train.ready"] = True
    if (job := _latest_job()) is not None:
        _apply(job["spec"]["config"])
        ss["train.preset"] = job["spec"].get("preset") or CUSTOM
        return
    found = availability(DATA_DIR)
    dataset = next((d for d in DATASETS if found.get(d)), DATASETS[0])
    _apply_preset(presets.for_dataset(dataset)[0].id)


def _repair_state() -> list[str]:
    """Settings can reach the session from elsewhere than the widgets (another page, an old session):
    a value the config refuses goes back to its default, and the reason is shown instead of a crash."""
    values = {name: ss.get(_key(name)) for name in FIELDS}
    try:
        config = from_dict(values)
    except ConfigError:
        config = None
    problems = []
    if config is None:
        dataset = values["dataset"] if values["dataset"] in DATASETS else DATASETS[0]
        base = presets.for_dataset(dataset)[0].config.to_dict()
        for name in FIELDS:  # each value alone on a sound base names exactly the fields at fault
            try:
                from_dict({**base, name: values[name]})
            except (ConfigError, TypeError) as e:
                problems.append(f"{e} — reset to {base[name]!r}")
                ss[_key(name)] = _typed(name, base[name])
    if ss.get("train.preset") and ss["train.preset"] not in [p.id for p in presets.for_dataset(ss[_key("dataset")])]:
        ss["train.preset"] = CUSTOM  # a trial run of the other dataset
    return problems


def _decades(low: float, high: float) -> list[float]:
    """1-2-5 steps per decade from low to high: even steps on a log scale that people can read."""
    out, exponent = [], math.floor(math.log10(low))
    while 10.0**exponent <= high:
        out += [v for m in (1, 2, 5) if low * (1 - 1e-9) <= (v := float(f"{m}e{exponent}")) <= high * (1 + 1e-9)]
        exponent += 1
    return out


def _grid(name: str) -> list | None:
    """Values for a select_slider, or None for a plain slider. Learning rate and L2 span decades
    (log scale, L2 0 = off); batch sizes are powers of two; the image limit spans decades too (0 = all)."""
    meta = FIELDS[name].metadata
    low, high = meta["low"], meta["high"]
    if name == "batch_size":
        values = [2**i for i in range(int(math.log2(low)), int(math.log2(high)) + 1)]
    elif name == "limit":
        values = [0] + [int(v) for v in _decades(100, high)]
    elif meta["log"]:
        values = ([0.0] if low == 0 else []) + _decades(low or high * 1e-5, high)
    else:
        return None
    # The report's values stay reachable even off the grid (L2 0.03, 2.5e-4), and so does the current one.
    extra = [getattr(p.config, name) for p in presets.PRESETS.values()] + [ss.get(_key(name))]
    values += [v for v in extra if isinstance(v, (int, float)) and low <= v <= high]
    return sorted({_typed(name, v) for v in values})


def _fmt(name: str, value) -> str:
    if name == "l2" and value == 0:
        return "off"
    if name == "limit":
        return "all" if value == 0 else f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _widget(name: str, used: bool, arch_title: str) -> None:
    meta = FIELDS[name].metadata
    label = meta["help"]
    args = dict(key=_key(name), disabled=not used, persist_state="session",
                help=None if used else f"Not used by {arch_title}.")
    if meta["kind"] == "flag":
        st.toggle(label, **args)
    elif meta["kind"] == "choice":
        st.segmented_control(label, meta["choices"], required=True, **args)
    elif name == "seed":  # an identifier, not a quantity: typed, not slid
        st.number_input(label, min_value=meta["low"], max_value=meta["high"], step=1, **args)
    elif (grid := _grid(name)) is not None:
        st.select_slider(label, options=grid, format_func=lambda v: _fmt(name, v), **args)
    else:
        step = meta["step"] or (1 if FIELDS[name].type in ("int", int) else 0.01)
        decimals = max(0, -math.floor(math.log10(step))) if isinstance(step, float) else 0
        st.slider(label, min_value=meta["low"], max_value=meta["high"], step=step,
                  format=f"%.{decimals}f" if decimals else None, **args)


def _current_values() -> dict:
    """The widgets' values; floats to 6 digits (a slider's 0.1 + 0.05 is not 0.15 in binary)."""
    values = {}
    for name in FIELDS:
        value = ss[_key(name)]
        values[name] = float(f"{value:.6g}") if isinstance(value, float) else value
    return values


def _default_name(config: TrainConfig, preset_id: str) -> str:
    """The trial's title, or the network and the settings that matter, in at most 80 characters."""
    values = config.to_dict()
    if preset_id:
        preset = presets.get(preset_id)
        changed = [k for k, v in values.items() if preset.config.to_dict()[k] != v]
        if not changed:
            return preset.title[: runs.MAX_NAME_LENGTH]
        head, keys = preset.title.split(":")[0], changed
    else:
        head = ARCHITECTURES[config.architecture].title.split(":")[0]
        keys = [k for k in ("depth", "units", "dropout", "l2", "learning_rate", "epochs", "limit")
                if k in ARCHITECTURES[config.architecture].uses]
    parts = [head] + [f"{SHORT[k]} {_fmt(k, values[k])}".strip() for k in keys]
    name = parts[0]
    for part in parts[1:]:
        if len(name) + 3 + len(part) > runs.MAX_NAME_LENGTH:
            break
        name += " · " + part
    return name


# --- the network: built with Keras, described as a table and a diagram -------------------------------

_BUILD_LOCK = threading.Lock()  # Keras' layer naming is global state; sessions run in threads
NODE_PT, EDGE_PT = 18, 15  # diagram text, in the SVG's units (shown at 4/3 of this in pixels)
MERGED = {"BatchNormalization", "ReLU", "Activation", "Dropout"}  # drawn inside the layer they follow
COLORS = {"Dense": "#dbeafe", "Conv2D": "#ffedd5", "MaxPooling2D": "#dcfce7", "GlobalAveragePooling2D": "#dcfce7",
          "Add": "#ede9fe", "BatchNormalization": "#ccfbf1"}


@st.cache_resource(show_spinner=False)
def _keras():
    """Keras in the web server only describes models: keep it off the GPU, which belongs to the workers."""
    try:
        if configured_backend() == "tensorflow":
            import tensorflow as tf

            tf.config.set_visible_devices([], "GPU")
        elif configured_backend() == "jax":
            import jax

            jax.config.update("jax_platforms", "cpu")
    except RuntimeError:
        pass  # devices were set up already (another page loaded a model first); describing still works
    import keras

    # Streamlit runs keras.backend.clear_session(), a full gc.collect(), after every rerun of every session once
    # Keras is loaded; freezing Keras' and TensorFlow's ~0.5 M objects takes it from ~230 ms to ~10 ms (docs/load-test.md).
    gc.freeze()
    return keras


def _shape(tensor) -> str:
    return "×".join(str(d) for d in tuple(tensor.shape)[1:])


def _describe(layer) -> str:
    kind, c = type(layer).__name__, layer.get_config()
    activation = c.get("activation")
    shown = {"relu": "ReLU", "softmax": "softmax", None: "", "linear": ""}.get(activation, activation)
    act = f" · {shown}" if shown else ""
    if kind == "InputLayer":
        return f"Image {_shape(layer.output)}"
    if kind == "Rescaling":
        return "Pixels ÷ 255"
    if kind == "Dense":
        return f"Dense {c['units']}{act}"
    if kind == "Conv2D":
        k = "×".join(map(str, c["kernel_size"]))
        stride = "" if tuple(c["strides"]) == (1, 1) else f", stride {c['strides'][0]}"
        return f"Conv {k}, {c['filters']} filters{stride}{act}"
    if kind == "MaxPooling2D":
        return f"Max-pool {'×'.join(map(str, c['pool_size']))}"
    if kind == "Dropout":
        return f"Dropout {c['rate']:g}"
    return {"BatchNormalization": "BatchNorm", "ReLU": "ReLU", "Add": "Add (skip connection)", "Flatten": "Flatten",
            "GlobalAveragePooling2D": "Global average pool", "Normalization": "Standardize colours",
            "Sequential": "Augment: shift + flip (training only)"}.get(kind, kind)


def _graph(model) -> tuple[list, dict]:
    """Every layer with the layers feeding it, inputs included (a Sequential model lists none)."""
    order, sources = [], {}

    def visit(layer):
        if layer.name not in sources:
            srcs = []
            for node in layer._inbound_nodes:
                srcs += [t._keras_history.operation for t in node.input_tensors]
            srcs = list({s.name: s for s in srcs}.values())
            for s in srcs:
                visit(s)
            sources[layer.name] = srcs
            order.append(layer)

    for layer in model.layers:
        visit(layer)
    return order, sources


def _dot(model) -> tuple[str, int]:
    """Graphviz DOT, top to bottom, a box per layer (BatchNorm, ReLU and dropout inside the box they follow),
    each arrow labelled with the shape of what flows along it. Returns the DOT text and the number of boxes."""
    order, sources = _graph(model)
    consumers = {}
    for srcs in sources.values():
        for s in srcs:
            consumers[s.name] = consumers.get(s.name, 0) + 1
    head, lines, params, kinds = {}, {}, {}, {}
    for layer in order:
        srcs, kind = sources[layer.name], type(layer).__name__
        follows_one = len(srcs) == 1 and consumers.get(srcs[0].name) == 1 and type(srcs[0]).__name__ != "InputLayer"
        if kind in MERGED and follows_one:
            h = head[layer.name] = head[srcs[0].name]
            lines[h].append(_describe(layer))
            params[h] += layer.count_params()
        else:
            head[layer.name] = layer.name
            lines[layer.name], params[layer.name], kinds[layer.name] = [_describe(layer)], layer.count_params(), kind
    output = head[model.layers[-1].name]
    out = ['digraph {', 'rankdir=TB; bgcolor="transparent"; nodesep=0.25; ranksep=0.3;',
           f'node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize={NODE_PT}, color="#475569", '
           'margin="0.25,0.08"];',
           f'edge [fontname="sans-serif", fontsize={EDGE_PT}, color="#64748b", fontcolor="#334155", penwidth=1.5];']
    for name in lines:
        label = lines[name] + ([f"{params[name]:,} parameters"] if params[name] else [])
        color = "#fde68a" if name == output else COLORS.get(kinds[name], "#f1f5f9")
        text = r"\n".join(label)  # DOT centres each line
        out.append(f'"{name}" [label="{text}", fillcolor="{color}"];')
    for layer in order:
        if head[layer.name] == layer.name:
            for s in sources[layer.name]:
                out.append(f'"{head[s.name]}" -> "{layer.name}" [label="  {_shape(s.output)}"];')
    return "\n".join(out + ["}"]), len(lines)


@st.cache_data(show_spinner=False, max_entries=64)
def describe_model(architecture: str, structure: tuple) -> dict:
    """Layer table, parameter counts and diagram of the network; keyed on the settings that shape it."""
    import numpy as np

    keras = _keras()
    arch = ARCHITECTURES[architecture]
    config = TrainConfig(dataset=arch.dataset, architecture=architecture, **dict(structure))
    with _BUILD_LOCK:
        model = build_model(config)
        order, _ = _graph(model)
        table = [{"Layer": layer.name, "Type": type(layer).__name__, "Output shape": _shape(layer.output),
                  "Parameters": layer.count_params()} for layer in order]
        dot, boxes = _dot(model)
        result = {"table": table, "dot": dot, "boxes": boxes, "params": model.count_params(),
                  "trainable": int(sum(np.prod(w.shape) for w in model.trainable_weights))}
        keras.backend.clear_session()
    return result


# --- runs: live progress, curves, results ------------------------------------------------------------

def _latest_job() -> dict | None:
    mine = queue().jobs(owner=ss.client)
    return mine[-1] if mine else None


def _run_dir(job: dict) -> Path:
    return Path(job["spec"]["runs_dir"]) / job["run_id"]


def _reference(job: dict):
    preset_id = job["spec"].get("preset")
    return presets.PRESETS[preset_id].report if preset_id in presets.PRESETS else None


SPLITS = {"training": ("", TRAIN_COLOR), "validation": ("val_", VAL_COLOR)}
METRICS = {"accuracy": ("Accuracy", ".0%"), "loss": ("Loss", ".2f")}
CURVES_DATASET = "curves"


@st.cache_data(show_spinner=False, max_entries=64)
def _curve_spec(metric: str, epochs: int, reference: tuple[tuple[str, float], ...]) -> dict:
    """The Vega-Lite spec of one curve chart, without its data: built and validated by Altair once per shape,
    not at every poll (Altair's copy and schema check were most of a live view's time: docs/load-test.md)."""
    title, fmt = METRICS[metric]
    color = alt.Color("split:N", title=None, scale=alt.Scale(domain=list(SPLITS), range=[c for _, c in SPLITS.values()]),
                      legend=alt.Legend(orient="top", labelFontSize=18, symbolSize=250, symbolStrokeWidth=4))
    big = dict(labelFontSize=18, titleFontSize=18)  # read from the back of a classroom
    x = alt.X("epoch:Q", title="Epoch", scale=alt.Scale(domain=[1, max(2, epochs)]),
              axis=alt.Axis(tickMinStep=1, format="d", **big))
    y = alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(format=fmt, **big))
    tooltip = [alt.Tooltip("epoch:Q", title="Epoch"), alt.Tooltip("split:N", title=""),
               alt.Tooltip("value:Q", title=title, format=fmt.replace("0", "1"))]
    base = alt.Chart().encode(x=x, y=y, color=color, tooltip=tooltip)
    layers = [base.mark_line(strokeWidth=3), base.mark_point(size=90, filled=True)]
    if reference:
        marks = pd.DataFrame([{"split": split, "value": value} for split, value in reference])
        layers.append(alt.Chart(marks).mark_rule(strokeDash=[8, 6], strokeWidth=2).encode(y="value:Q", color=color))
        title += "   (dashed: the report)"
    chart = alt.layer(*layers, data=alt.Data(name=CURVES_DATASET))  # the dataset comes with each redraw
    return chart.properties(title=alt.Title(title, fontSize=22, anchor="start"), height=340).to_dict()


def curves(history: pd.DataFrame, epochs: int, reference=None) -> None:
    """Accuracy and loss per epoch, training and validation, side by side; dashed: the report's figures."""
    if history.empty:
        st.caption("The curves appear when the first epoch ends.")
        return
    for column, metric in zip(st.columns(2), METRICS):
        data = pd.concat([pd.DataFrame({"epoch": history["epoch"].astype(int), "split": split,
                                        "value": history[prefix + metric]})
                          for split, (prefix, _) in SPLITS.items() if prefix + metric in history]).dropna()
        marks = tuple((split, float(value)) for split, value in
                      (("training", getattr(reference, f"train_{metric}", None)),
                       ("validation", getattr(reference, f"val_{metric}", None))) if value is not None)
        spec = _curve_spec(metric, epochs, marks)
        spec["datasets"] = {**spec.get("datasets", {}), CURVES_DATASET: data}
        column.vega_lite_chart(spec, width="stretch")


def _remaining(progress: dict, history: pd.DataFrame, epochs: int) -> float | None:
    """Seconds left, from the recent epochs' times (the first one also compiles, so it is left out)."""
    seconds = [s for s in history["seconds"].tolist() if pd.notna(s)]
    steps, step = progress.get("steps") or 1, progress.get("step", 0)
    in_epoch = step / steps if progress.get("epoch", 0) > len(seconds) else 0.0
    if seconds:
        per_epoch = statistics.median((seconds[1:] or seconds)[-5:])
    elif step > 0:
        per_epoch = progress.get("epoch_seconds", 0.0) / (step / steps)
    else:
        return None
    return max(0.0, (epochs - len(seconds) - in_epoch) * per_epoch)


def _queue_table() -> None:
    active = queue().jobs(active_only=True)
    if len(active) <= 1:
        return
    rows = []
    for place, j in enumerate(sorted(active, key=lambda j: (j["status"] != "running", j["id"])), start=1):
        config = j["spec"]["config"]
        if j["status"] == "running":
            p = runs.Run(_run_dir(j), {}, False).progress()
            state = f"training · epoch {p['epoch']} of {p['epochs']}" if p else "starting"
        else:
            state = "waiting"
        rows.append({"#": place, "Run": j["spec"]["name"], "Whose": "yours" if j["owner"] == ss.client else "another session",
                     "Network": ARCHITECTURES[config["architecture"]].title.split(":")[0],
                     "Epochs": config["epochs"], "State": state})
    st.markdown(f"**The queue** · {len(active)} runs; the workers train them in this order")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _live(job: dict) -> None:
    name, config = job["spec"]["name"], job["spec"]["config"]
    epochs = config["epochs"]
    q = queue()
    if job["status"] == "queued":
        ahead = q.position(job["id"])
        st.subheader(f":material/hourglass_top: “{name}” is waiting in the queue")
        st.markdown(f"**{ahead}** run{'s are' if ahead != 1 else ' is'} ahead of yours. It starts as soon as a worker is free.")
        if not worker.worker_status(RUNS_DIR):
            worker.ensure_workers(RUNS_DIR)  # the worker went away (idle timeout or killed): start another
    else:
        if job["worker_pid"] and not runs.pid_alive(job["worker_pid"]):
            q.reap()  # its worker died: the queue marks it failed, and the next poll shows the result
        run_dir = _run_dir(job)
        folder = runs.Run(run_dir, {}, False)  # read while training: no completeness check wanted
        progress, history = folder.progress(), folder.history()
        elapsed = time.time() - job["started"]
        if job["cancel_requested"]:
            st.subheader(f":material/stop_circle: Stopping “{name}”: it keeps what it learned so far")
        else:
            st.subheader(f":material/model_training: Training “{name}”")
        if not progress:
            st.progress(0.0, text="Starting: the worker loads Keras and the data…")
        else:
            epoch, step, steps = progress["epoch"], progress["step"], progress["steps"] or 1
            done = min(1.0, ((epoch - 1) + step / steps) / epochs)
            text = f"Epoch {epoch} of {epochs} · batch {step:,} of {steps:,}"
            if len(history) >= epochs:
                text = f"All {epochs} epochs done · testing on the held-out test images and saving"
            st.progress(done, text=text)
        left = _remaining(progress, history, epochs) if progress else None
        c1, c2, c3 = st.columns(3)
        c1.metric("Epochs finished", f"{len(history)} of {epochs}")
        c2.metric("Elapsed", duration(elapsed))
        c3.metric("Left (estimate)", "estimating…" if left is None else f"about {duration(left)}",
                  help="From the time of the recent epochs; the final test takes a few seconds more.")
        curves(history, epochs, _reference(job))
    st.button("Cancel" if job["status"] == "queued" else "Stop training", key="train.cancel", icon=":material/stop_circle:",
              on_click=q.cancel, args=(job["id"],), disabled=bool(job["cancel_requested"]))
    _queue_table()


def _poll() -> None:
    """Redrawn every few seconds while the job is active; a change of status redraws the whole page once."""
    job = _latest_job()
    if job is None or (job["id"], job["status"]) != ss.get("train.seen"):
        st.rerun()
    _live(job)


def _result(job: dict) -> None:
    name = job["spec"]["name"]
    run_dir = _run_dir(job)
    if job["status"] == "cancelled" and not run_dir.is_dir():
        st.info(f"You cancelled “{name}” before it started.")
        return
    run = runs.read_run(run_dir)
    if run.status not in ("completed", "cancelled"):
        st.error(f"“{name}” failed: {run.record.get('error') or job['error'] or run.problem or 'no reason recorded'}. "
                 "Change the settings and train again; if it fails again, show this message to the instructor.")
        curves(run.history(), job["spec"]["config"]["epochs"])
        return
    m = run.metrics()
    history = run.history()
    epochs = job["spec"]["config"]["epochs"]
    if run.status == "cancelled":
        st.subheader(f":material/stop_circle: “{name}” was stopped after {len(history)} of {epochs} epochs")
        st.caption("It was tested as it was when stopped: these are the numbers of a network that learned less.")
    else:
        st.subheader(f":green[:material/check_circle:] “{name}” finished")
    low, high = m["test_error_ci95"]
    c1, c2, c3, c4 = st.columns([1.4, 1, 1, 1])
    c1.metric("Test accuracy", pct(m["test_accuracy"]), border=True,
              help="Measured once, at the end, on test images the network never saw in training.")
    c1.markdown(f"95 % confidence interval: **{pct(1 - high)} – {pct(1 - low)}**  \non {m['n_test']:,} test images")
    c2.metric("Validation accuracy", pct(m.get("val_accuracy")), help="Last epoch, on the held-out share of the training set.")
    c3.metric("Training accuracy", pct(m.get("train_accuracy")),
              help="Averaged over the last epoch while it trained (with dropout on), as Keras reports it.")
    c4.metric("Training time", duration(run.record.get("durations", {}).get("total_s")))
    reference = _reference(job)
    curves(history, epochs, reference)
    shipped = [r.id for r in all_runs() if r.shipped and r.status == "completed" and job["spec"].get("preset")
               and r.record.get("preset") == job["spec"]["preset"]]
    b1, b2, _ = st.columns([1, 1, 2])
    # st.switch_page cannot run in a button callback (the pages are not known there): switch inline.
    if b1.button("Inspect this run", icon=":material/search:", key="train.inspect", width="stretch", type="primary"):
        ss["inspect_run"] = run.id
        st.switch_page("pages/inspect.py")
    if b2.button("Compare with the report's run" if shipped else "Compare with other runs", icon=":material/compare_arrows:",
                 key="train.compare", width="stretch"):
        ss["compare_runs"] = [run.id] + shipped[:1]
        st.switch_page("pages/compare.py")


# --- the page ----------------------------------------------------------------------------------------

_init_state()
problems = _repair_state()
if "train.warmed" not in ss:
    # A worker takes seconds to import TensorFlow: start it while the user picks settings, not after Train.
    ss["train.warmed"] = True
    threading.Thread(target=worker.ensure_workers, args=(RUNS_DIR,), daemon=True).start()

st.title("Train a network")
st.markdown("Start from one of the report's trial runs or set your own. The network below follows the sliders; "
            "**Train** puts it in the class's queue and shows its curves live.")
for problem in problems:
    st.error(f"These settings could not be used: {problem}.")

job = _latest_job()
ss["train.seen"] = None if job is None else (job["id"], job["status"])
if job is not None and job["status"] in ACTIVE:
    st.info(f"Your run “{job['spec']['name']}” is {'training' if job['status'] == 'running' else 'in the queue'}: "
            "[follow it at the bottom of the page](#your-run).")

dataset = ss[_key("dataset")]
c_data, c_preset, c_arch = st.columns([1.1, 2, 1.6])
with c_data:
    st.segmented_control("Dataset", DATASETS, format_func=lambda d: DATASET_INFO[d].title, key=_key("dataset"),
                         required=True, on_change=_on_dataset, persist_state="session")
with c_preset:
    st.selectbox("Start from", [CUSTOM] + [p.id for p in presets.for_dataset(dataset)], key="train.preset",
                 format_func=lambda p: presets.PRESETS[p].title if p else "Your own settings",
                 on_change=_on_preset, persist_state="session")
with c_arch:
    st.selectbox("Architecture", [a.name for a in ARCHITECTURES.values() if a.dataset == dataset],
                 format_func=lambda a: ARCHITECTURES[a].title, key=_key("architecture"),
                 on_change=_on_architecture, persist_state="session")
    arch = ARCHITECTURES[ss[_key("architecture")]]
    st.caption(arch.summary)
preset_id = ss["train.preset"]
if not availability(DATA_DIR).get(dataset):
    st.warning(f"{DATASET_INFO[dataset].title} is not on this machine, so training it will fail unless the worker can "
               f"download it. To get it: {DATASET_INFO[dataset].how_to_get}.")

with st.container(border=True):
    if preset_id:
        preset = presets.get(preset_id)
        r = preset.report
        st.markdown(f"**{preset.title}** · the report's figures ({r.source})")
        figures = [("Training accuracy", pct(r.train_accuracy)), ("Validation accuracy", pct(r.val_accuracy)),
                   ("Training loss", f"{r.train_loss:.2f}" if r.train_loss is not None else "—"),
                   ("Validation loss", f"{r.val_loss:.2f}" if r.val_loss is not None else "—")]
        for column, (label, value) in zip(st.columns(4), figures):
            column.metric(label, value)
        notes = [preset.note] if preset.note else []
        if r.test_error_ci95:
            low, high = r.test_error_ci95
            notes.append(f"Test accuracy 95 % CI in the report: {pct(1 - high)} – {pct(1 - low)}.")
        changed = {k: (v, ss[_key(k)]) for k, v in preset.config.to_dict().items() if _current_values()[k] != v}
        if changed:
            notes.append("Your settings differ from this trial in: "
                         + ", ".join(f"{k.replace('_', ' ')} {_fmt(k, a)} → {_fmt(k, b)}" for k, (a, b) in changed.items()) + ".")
        if notes:
            st.caption(" ".join(notes))
    else:
        st.markdown("**Your own settings**")
        st.caption("Pick a trial run under “Start from” to load the report's settings and see its figures here.")

for column, (group, names) in zip(st.columns(len(GROUPS), border=True), GROUPS.items()):
    with column:
        st.subheader(group)
        for name in names:
            _widget(name, name in arch.uses, arch.title)

try:
    config = from_dict(_current_values())
except ConfigError as e:
    config = None
    st.error(f"These settings cannot be trained: {e}")

if config is not None:
    st.header("The network")
    structure = tuple((k, getattr(config, k)) for k in ("depth", "units", "dropout", "augment") if k in arch.uses)
    try:
        with st.spinner("Building the network (the first time loads Keras: a few seconds)…"):
            model = describe_model(config.architecture, structure)
    except Exception as e:  # any builder failure is shown, never a traceback
        model = None
        st.error(f"This network could not be built: {type(e).__name__}: {e}")
    if model is not None:
        left, right = st.columns([3, 2], gap="large")
        with left:
            m1, m2, m3 = st.columns(3)
            m1.metric("Parameters", f"{model['params']:,}")
            m2.metric("Trainable", f"{model['trainable']:,}", help="BatchNorm's running statistics are counted but not trained.")
            m3.metric("Size (float32)", f"{model['params'] * 4 / 1e6:.1f} MB")
            table = pd.DataFrame(model["table"])
            st.dataframe(table, hide_index=True, width="stretch", row_height=40, height=min(560, 42 + 40 * len(table)),
                         column_config={"Parameters": st.column_config.NumberColumn(format="localized")})
        # Streamlit styles diagram text at 0.6 rem; use the sizes the layout was computed with (DOT fontsize).
        st.html(f"<style>[data-testid=stGraphVizChart] .node text {{font-size: {NODE_PT}px}} "
                f"[data-testid=stGraphVizChart] .edge text {{font-size: {EDGE_PT}px}}</style>")
        with right:  # natural size keeps the text readable; a deep network scrolls inside its box
            tall = model["boxes"] > 6
            with st.container(height=660 if tall else "content", border=False, horizontal_alignment="center"):
                st.graphviz_chart(model["dot"], width="content")

st.header("Your run", anchor="your-run")
active = job is not None and job["status"] in ACTIVE
c_name, c_button = st.columns([3, 1], vertical_alignment="bottom")
# Left empty, the name is made from the settings and shown as the placeholder: it follows every slider
# without the page ever writing into a field the user may be typing in.
auto_name = _default_name(config, preset_id) if config is not None else ""
with c_name:
    typed = st.text_input("Run name", key="train.name", max_chars=runs.MAX_NAME_LENGTH, persist_state="session",
                          placeholder=auto_name, help="Leave it empty to use the name made from the settings.")
name = typed.strip() or auto_name
name_ok = True
try:
    runs.clean_name(name)
except runs.RunError as e:
    name_ok = False
    st.error(f"This name cannot be used: {e}.")
blocked = config is None or not name_ok or active
with c_button:
    pressed = st.button("Train", type="primary", icon=":material/model_training:", key="train.submit", width="stretch",
                        disabled=blocked, help="One run at a time per browser: wait for yours or stop it." if active else None)
if pressed:
    new = make_job(config, RUNS_DIR, name=name, preset=preset_id or None, data_dir=DATA_DIR)
    queue().submit(new, owner=ss.client)
    with st.spinner("Starting a training worker…"):
        worker.ensure_workers(RUNS_DIR)
    st.rerun()

if job is None:
    st.caption("Nothing trained from this browser yet.")
elif active:
    starts_soon = job["status"] == "running" or queue().position(job["id"]) <= 1
    st.fragment(_poll, run_every=POLL_S if starts_soon else POLL_BACK_IN_QUEUE_S)()
else:
    _result(job)
