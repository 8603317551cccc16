"""Train's "Try several values": one or two settings at a few values each, the whole grid submitted at once."""

from __future__ import annotations

import streamlit as st

from core import formatting as fmt
from core.networks.architectures import Architecture
from core.networks.config import FIELDS, ConfigError, TrainConfig
from core.queue import sweeps

SWEEP_KEY, FIELDS_KEY = "train.sweep", "train.sweep_fields"
EXAMPLES = {"dropout": "0, 0.2, 0.5", "l2": "0, 0.0001, 0.001", "learning_rate": "0.0001, 0.001, 0.01",
            "batch_size": "32, 128, 512", "units": "50, 200, 800", "depth": "1, 3, 9", "epochs": "5, 10, 20"}


def sweepable(arch: Architecture, allowed: dict | None) -> list[str]:
    """The settings a sweep may try: numbers the network uses (within an assignment, only its sliders)."""
    return [n for n, f in FIELDS.items() if f.metadata["kind"] == "number" and n in arch.uses and n != "seed"
            and (allowed is None or n in allowed)]


def picker(arch: Architecture, allowed: dict | None, config: TrainConfig | None) -> dict[str, list[str]] | None:
    """The sweep asked for ({setting: values as typed}), None when Try several values is off or it cannot be used."""
    if not st.toggle("Try several values", key=SWEEP_KEY, help=f"Train one run for each value, or each pair of values of "
                     f"two settings ({sweeps.MAX_RUNS} runs at most); Compare draws them as one figure."):
        return None
    chosen = st.multiselect("Settings to vary (one or two)", sweepable(arch, allowed), key=FIELDS_KEY,
                            max_selections=sweeps.MAX_FIELDS, format_func=lambda n: FIELDS[n].metadata["help"])
    asked = {}
    for column, name in zip(st.columns(max(1, len(chosen))), chosen):
        typed = column.text_input(f"{FIELDS[name].metadata['help']}: values, separated by commas",
                                  value=EXAMPLES.get(name, ""), key=f"train.sweep_values_{name}")
        asked[name] = [v.strip() for v in typed.split(",") if v.strip()]
    if not asked or config is None:
        return None
    try:
        grid = sweeps.grid(config, asked)
    except ConfigError as e:
        st.error(f"This sweep cannot be trained: {fmt.text(e)}.")
        return None
    st.caption(f"{len(grid)} runs, one for each " + (" and ".join(FIELDS[n].metadata["help"].lower() for n in asked))
               + "; every other setting as above.")
    return asked
