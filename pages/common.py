"""What every page shares: the session's identity, the runs folders, cached run loading.

Nothing here imports Keras or TensorFlow: listing and showing runs must stay fast in the server.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import streamlit as st

from core import runs
from core.datasets import CIFAR100_COARSE, CIFAR100_FINE_TO_COARSE, DATASET_INFO

RUNS_DIR = Path(os.environ.get("CLASSROOM_RUNS_DIR", runs.DEFAULT_RUNS_DIR))
PRETRAINED_DIR = Path(os.environ.get("CLASSROOM_PRETRAINED_DIR", runs.PRETRAINED_DIR))


def init_session() -> None:
    """Give this browser a client id that survives reloads (kept in the URL as ?client=...)."""
    if "client" not in st.session_state:
        st.session_state.client = st.query_params.get("client") or secrets.token_hex(8)
    if st.query_params.get("client") != st.session_state.client:
        st.query_params["client"] = st.session_state.client


def all_runs() -> list[runs.Run]:
    return runs.list_runs(RUNS_DIR, PRETRAINED_DIR)


def run_label(run: runs.Run) -> str:
    return f"{run.name} · {'shipped' if run.shipped else 'yours'} · {run.id}"


def class_names(dataset: str) -> tuple[str, ...]:
    return DATASET_INFO[dataset].class_names


def coarse_names() -> tuple[str, ...]:
    return CIFAR100_COARSE


def fine_to_coarse() -> tuple[int, ...]:
    return CIFAR100_FINE_TO_COARSE


def pct(value) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "—"
