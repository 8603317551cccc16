"""The network the sliders define, for the Train page: parameter counts, a layer table and a diagram.

The description itself is core.networks.describe (a pure function of a Keras model); this module builds the model in
the web server, which imports Keras once (seconds), keeps it off the GPU and caches each shape's description.
"""

from __future__ import annotations

import dataclasses
import gc
import threading

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.networks.architectures import ARCHITECTURES, build_model
from core.networks.config import TrainConfig
from core.networks.describe import EDGE_PT, NODE_PT, describe
from core.training.device import configured_backend

STRUCTURE = ("depth", "units", "dropout", "augment")  # the settings that change the layers
_BUILD_LOCK = threading.Lock()  # Keras' layer naming is global state; sessions run in threads


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


@st.cache_data(show_spinner=False, max_entries=64)
def describe_model(architecture: str, structure: tuple) -> dict:
    """core.networks.describe of the network, keyed on the settings that shape it."""

    keras = _keras()
    arch = ARCHITECTURES[architecture]
    config = TrainConfig(dataset=arch.dataset, architecture=architecture, **dict(structure))
    with _BUILD_LOCK:
        description = dataclasses.asdict(describe(build_model(config)))
        keras.backend.clear_session()
    return description


def show(config: TrainConfig) -> None:
    """Parameter counts and the layer table beside the diagram; a builder failure is a message, not a traceback."""
    arch = ARCHITECTURES[config.architecture]
    structure = tuple((k, getattr(config, k)) for k in STRUCTURE if k in arch.uses)
    try:
        with st.spinner("Building the network (the first time loads Keras: a few seconds)…"):
            model = describe_model(config.architecture, structure)
    except Exception as e:  # noqa: BLE001 - any builder failure is shown, never a traceback
        st.error(f"This network could not be built: {type(e).__name__}: {fmt.text(e)}")
        return
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
    with right:  # natural size keeps the text readable; the whole diagram shows, as tall as it is (no box to scroll)
        with st.container(border=False, horizontal_alignment="center"):
            st.graphviz_chart(model["dot"], width="content", height="content")
