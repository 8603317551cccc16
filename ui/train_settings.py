"""The Train page's settings: one widget per TrainConfig field, their session state, and the address bar.

Every widget is built from the field's metadata (range, kind, help). The settings live in the session under
"cfg.<field>" and in the address (?preset=...&learning_rate=...), so a reload keeps them and a teacher can
hand out a link that opens Train with those sliders set.
"""

from __future__ import annotations

import math

import streamlit as st

from core import formatting as fmt
from core.data.datasets import DATASET_INFO
from core.networks import presets
from core.networks.architectures import ARCHITECTURES, Architecture
from core.networks.config import DATASETS, FIELDS, ConfigError, TrainConfig, from_dict

# The settings, grouped as a person thinks about them (dataset and architecture are chosen above them).
GROUPS = {
    "Network": ("depth", "units", "dropout", "l2", "label_smoothing", "augment", "test_flip", "start_from", "transfer"),
    "Optimizer": ("optimizer", "learning_rate", "beta_1", "schedule", "batch_size", "reduce_lr"),
    "Data and length": ("epochs", "early_stopping", "limit", "class_subset", "per_class", "validation_split", "seed"),
}
CUSTOM = ""  # the preset selectbox's "your own settings"
TRANSFER_WORDS = {"fine_tune": "fine-tune it all", "frozen": "train the last layer only"}
PRESET_KEY = "train.preset"
# What Train opens on for each dataset: a trial that learns, shortened to finish in a few minutes here.
QUICK_START = {"fashion_mnist": ("fmnist-arch1-tr1", {"epochs": 10}), "cifar100": ("cifar-arch1-lr0.0001", {"epochs": 5})}
SHORT = {"depth": "depth", "units": "units", "dropout": "dropout", "l2": "L2", "label_smoothing": "smoothing",
         "augment": "augment", "test_flip": "mirrored test", "optimizer": "", "learning_rate": "lr", "beta_1": "β1",
         "schedule": "",
         "batch_size": "batch", "epochs": "epochs", "limit": "limit", "validation_split": "val", "seed": "seed",
         "early_stopping": "stop after", "reduce_lr": "halve lr after", "class_subset": "classes", "per_class": "per class",
         "start_from": "from", "transfer": ""}
LIMIT_STEPS = (1, 1.5, 2, 3, 4, 5, 6, 8)  # image counts a class asks for: 3,000 as well as 2,000 and 5,000

ss = st.session_state


def key(name: str) -> str:
    return f"cfg.{name}"


def _typed(name: str, value):
    """Numbers as their field's type: a float slider refuses an int value and the other way round."""
    if FIELDS[name].metadata["kind"] != "number" or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if FIELDS[name].type in ("int", int):
        return int(value) if float(value).is_integer() else value  # 2.5 stays, for the config to refuse
    return float(value)


def apply(values: dict) -> None:
    for name, value in values.items():
        ss[key(name)] = _typed(name, value)


def apply_preset(preset_id: str, changes: dict | None = None) -> None:
    ss[PRESET_KEY] = preset_id
    apply({**presets.get(preset_id).config.to_dict(), **(changes or {})})


def quick_start(dataset: str) -> None:
    preset_id, changes = QUICK_START[dataset]
    apply_preset(preset_id, changes)


def on_dataset() -> None:
    quick_start(ss[key("dataset")])


def on_preset() -> None:
    if ss[PRESET_KEY]:
        apply_preset(ss[PRESET_KEY])


def on_architecture() -> None:
    """Another network starts from its first trial run: settings that suit it, and figures to compare with."""
    arch = ss[key("architecture")]
    first = next((p.id for p in presets.PRESETS.values() if p.config.architecture == arch), None)
    if first:
        apply_preset(first)
    else:
        ss[PRESET_KEY] = CUSTOM


def settings_from_link(params: dict) -> tuple[dict, str | None, list[str]]:
    """Settings asked for in the address: (field values, preset id, problems). A value the config refuses is
    left out (its default stays) and named in the problems."""
    problems, values = [], {}
    preset_id = params.get("preset") or None
    if preset_id and preset_id not in presets.PRESETS:
        problems.append(f"the link names an unknown preset {preset_id!r}")
        preset_id = None
    base = presets.get(preset_id).config.to_dict() if preset_id else None
    asked = {k: v for k, v in params.items() if k in FIELDS}
    if base is None and asked:
        dataset = asked.get("dataset") if asked.get("dataset") in DATASETS else DATASETS[0]
        base = presets.get(QUICK_START[dataset][0]).config.to_dict()
    for name, text in asked.items():
        try:
            values[name] = getattr(from_dict({**base, **values, name: text}), name)
        except (ConfigError, TypeError) as e:
            problems.append(f"the link's {name}: {e}")
    return values, preset_id, problems


def link_params(config: TrainConfig, preset_id: str, assignment_id: str | None = None) -> dict[str, str]:
    """The address for these settings: the assignment worked on, the preset, and the fields that differ from it (or
    all, without one)."""
    values = config.to_dict()
    changed = presets.get(preset_id).differences(config) if preset_id else values
    shown = {k: (v[1] if preset_id else v) for k, v in changed.items()}
    return {**({"assignment": assignment_id} if assignment_id else {}), **({"preset": preset_id} if preset_id else {}),
            **{k: fmt.value(v) if not isinstance(v, bool) else str(v).lower() for k, v in shown.items()}}


def init_state(latest_config: dict | None, latest_preset: str | None, available: dict) -> list[str]:
    """Once per session: the settings in the address, else those of this browser's latest run, else a quick
    start on the first dataset that is on this machine. Returns problems with the address's settings."""
    if "train.ready" in ss:
        return []
    ss["train.ready"] = True
    values, preset_id, problems = settings_from_link(dict(st.query_params))
    if asked := st.query_params.get("assignment"):
        ss[ASSIGNMENT_KEY] = asked  # the assignment picker keeps it if it still exists
    if values or preset_id:
        if preset_id:
            apply_preset(preset_id)
        else:
            quick_start(values.get("dataset", DATASETS[0]))
            ss[PRESET_KEY] = CUSTOM
        apply(values)
        return problems
    if latest_config is not None:
        apply(latest_config)
        ss[PRESET_KEY] = latest_preset or CUSTOM
        return problems
    quick_start(next((d for d in DATASETS if available.get(d)), DATASETS[0]))
    return problems


def repair_state() -> list[str]:
    """Settings can reach the session from elsewhere than the widgets (another page, an old session):
    a value the config refuses goes back to its default, and the reason is shown instead of a crash."""
    values = {name: ss.get(key(name)) for name in FIELDS}
    problems = []
    try:
        from_dict(values)
    except ConfigError:
        dataset = values["dataset"] if values["dataset"] in DATASETS else DATASETS[0]
        base = presets.get(QUICK_START[dataset][0]).config.to_dict()
        for name in FIELDS:  # each value alone on a sound base names exactly the fields at fault
            try:
                from_dict({**base, name: values[name]})
            except (ConfigError, TypeError) as e:
                problems.append(f"{e} — reset to {base[name]!r}")
                ss[key(name)] = _typed(name, base[name])
    if ss.get(PRESET_KEY) and ss[PRESET_KEY] not in [p.id for p in presets.for_dataset(ss[key("dataset")])]:
        ss[PRESET_KEY] = CUSTOM  # a trial run of the other dataset
    return problems


def decades(low: float, high: float, steps=(1, 2, 5)) -> list[float]:
    """`steps` per decade from low to high (1-2-5 by default): even steps on a log scale that people can read."""
    out, exponent = [], math.floor(math.log10(low))
    while 10.0**exponent <= high:
        out += [v for m in steps if low * (1 - 1e-9) <= (v := float(f"{m * 10.0**exponent:.6g}")) <= high * (1 + 1e-9)]
        exponent += 1
    return out


def grid(name: str) -> list | None:
    """Values for a select_slider, or None for a plain slider. Learning rate and L2 span decades (log scale,
    L2 0 = off); batch sizes are powers of two; the image limit spans decades too (0 = all)."""
    meta = FIELDS[name].metadata
    low, high = meta["low"], meta["high"]
    if name == "batch_size":
        values = [2**i for i in range(int(math.log2(low)), int(math.log2(high)) + 1)]
    elif name == "limit":
        values = [0] + [int(v) for v in decades(100, high, LIMIT_STEPS)]
    elif meta["log"]:
        values = ([0.0] if low == 0 else []) + decades(low or high * 1e-5, high)
    else:
        return None
    # The report's values stay reachable even off the grid (L2 0.03, 2.5e-4), and so does the current one.
    extra = [getattr(p.config, name) for p in presets.PRESETS.values()] + [ss.get(key(name))]
    values += [v for v in extra if isinstance(v, (int, float)) and low <= v <= high]
    return sorted({_typed(name, v) for v in values})


def shown(name: str, value) -> str:
    return fmt.setting(name, value)


def start_options(candidates: list, dataset: str, architecture: str) -> dict[str, str]:
    """The finished runs a new run of this network may start from ({run id: its name}), newest first."""
    return {r.id: r.name for r in candidates if r.status == "completed" and r.has_model
            and r.config.get("dataset") == dataset and r.config.get("architecture") == architecture}


def widget(name: str, used: bool, arch: Architecture, kept: bool = False, bounds: tuple | None = None,
           starts: dict[str, str] | None = None) -> None:
    """One setting's widget; `bounds` (low, high) narrows a number's range to what the class or assignment allows;
    `starts` are the networks a run may start from ({start_from value: label})."""
    meta = FIELDS[name].metadata
    label = meta["help"]
    why = f"Not used by {arch.title}." if not used else "The assignment keeps this setting." if kept else None
    if used and not kept and bounds:
        why = f"Your class allows {shown(name, bounds[0])} to {shown(name, bounds[1])}."
    args = dict(key=key(name), disabled=not used or kept, persist_state="session", help=why)
    if meta["kind"] == "flag":
        st.toggle(label, **args)
    elif meta["kind"] == "run":
        options = {"": "From scratch", **(starts or {})}
        options.setdefault(ss.get(key(name), ""), ss.get(key(name), ""))  # from a link or a preset: kept, shown as is
        st.selectbox(label, list(options), format_func=options.get, **args)
    elif name == "transfer":
        st.segmented_control(label, meta["choices"], required=True, format_func=TRANSFER_WORDS.get,
                             **{**args, "disabled": args["disabled"] or not ss.get(key("start_from"))})
    elif meta["kind"] == "choice":
        st.segmented_control(label, meta["choices"], required=True, **args)
    elif name == "seed":  # an identifier, not a quantity: typed, not slid
        st.number_input(label, min_value=meta["low"], max_value=meta["high"], step=1, **args)
    elif (values := grid(name)) is not None:
        low, high = bounds or (meta["low"], meta["high"])
        st.select_slider(label, options=[v for v in values if low <= v <= high] or [ss[key(name)]],
                         format_func=lambda v: shown(name, v), **args)
    else:
        low, high = bounds or (meta["low"], meta["high"])
        step = meta["step"] or (1 if FIELDS[name].type in ("int", int) else 0.01)
        digits = max(0, -math.floor(math.log10(step))) if isinstance(step, float) else 0
        st.slider(label, min_value=_typed(name, low), max_value=_typed(name, high), step=step,
                  format=f"%.{digits}f" if digits else None, **args)


def bounds_for(dataset: str, student: dict[str, tuple]) -> dict[str, tuple]:
    """The sliders' ranges: the dataset's size caps the image limit for everyone (0, all images, stays), and a
    student's class and assignment narrow the rest (core.classroom.student_bounds)."""
    size = DATASET_INFO[dataset].train_images
    low, high = student.get("limit", (0, size))
    return {**student, "limit": (low, min(high, size))}


def keep_within(bounds: dict[str, tuple]) -> list[str]:
    """Settings outside what the class or the assignment allows are moved to the nearest allowed value before the
    widgets are drawn (a slider cannot hold a value beyond its ends); returns what was moved, in words."""
    moved = []
    for name, (low, high) in bounds.items():
        value = ss.get(key(name))
        beyond = name == "limit" and value == 0 and low > 0  # "all images" is more than a class's limit
        if isinstance(value, (int, float)) and (beyond or not low <= value <= high):
            new = _typed(name, high if beyond else min(max(value, low), high))
            ss[key(name)] = new
            moved.append(f"{FIELDS[name].metadata['help'].lower()} {shown(name, value)} → {shown(name, new)}")
    return moved


def widgets(arch: Architecture, allowed: dict | None = None, bounds: dict[str, tuple] | None = None,
            starts: dict[str, str] | None = None) -> None:
    """The settings in three bordered columns; with an assignment, only its sliders move (the seed always does), each
    within `bounds` where the class or the assignment narrows it; `starts`: the networks a run may start from."""
    bounds = bounds or {}
    for column, (group, names) in zip(st.columns(len(GROUPS), border=True), GROUPS.items()):
        with column:
            st.subheader(group)
            for name in names:
                widget(name, name in arch.uses, arch, kept=allowed is not None and name not in allowed and name != "seed",
                       bounds=bounds.get(name), starts=starts)


ASSIGNMENT_KEY = "train.assignment"


def assignment_picker(found: list, class_rules) -> object | None:
    """Work on an assignment (it loads its starting preset, shortened to fit its budget and the class's limits), or
    freely; returns the assignment or None."""
    if not found:
        return None
    by_id = {a.id: a for a in found}

    def start() -> None:
        if (a := by_id.get(ss.get(ASSIGNMENT_KEY))) is not None:
            apply_preset(a.preset, a.starting_changes(class_rules))

    if ss.get(ASSIGNMENT_KEY) not in (None, *by_id):
        ss[ASSIGNMENT_KEY] = None
    chosen = st.selectbox("Assignment", [None, *by_id], key=ASSIGNMENT_KEY, on_change=start,
                          format_func=lambda i: "None: train freely" if i is None else by_id[i].title)
    if chosen is None:
        return None
    a = by_id[chosen]
    if a.text:
        st.markdown(a.text)  # the instructor's Markdown, as on the class page
    if a.deadline:
        st.caption(f"Due {a.deadline}.")
    return a


def current_values() -> dict:
    """The widgets' values; floats to 6 digits (a slider's 0.1 + 0.05 is not 0.15 in binary)."""
    return {name: float(f"{v:.6g}") if isinstance(v := ss[key(name)], float) else v for name in FIELDS}


def default_name(config: TrainConfig, preset_id: str) -> str:
    """The trial's title, or the network and the settings that matter, in at most 80 characters."""
    values = config.to_dict()
    if preset_id:
        preset = presets.get(preset_id)
        keys = list(preset.differences(config))
        if not keys:
            return preset.title[:80]
        head = preset.short_title
    else:
        arch = ARCHITECTURES[config.architecture]
        head = arch.short_title
        keys = [k for k in ("depth", "units", "dropout", "l2", "learning_rate", "epochs", "limit") if k in arch.uses]
    name = head
    for part in [f"{SHORT[k]} {shown(k, values[k])}".strip() for k in keys]:
        if len(name) + 3 + len(part) > 80:
            break
        name += " · " + part
    return name
