"""What every page shares: the session's identity, the runs folders, cached run loading.

Nothing here imports Keras or TensorFlow: listing and showing runs must stay fast in the server.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import streamlit as st

from core import jobs, runs

RUNS_DIR = Path(os.environ.get("CLASSROOM_RUNS_DIR", runs.DEFAULT_RUNS_DIR))
PRETRAINED_DIR = Path(os.environ.get("CLASSROOM_PRETRAINED_DIR", runs.PRETRAINED_DIR))
# Where workers look for the datasets first (core.datasets.load's data_dir); unset: the usual places.
# Absolute, because the workers run from the project folder, whatever folder the server started in.
DATA_DIR = str(Path(os.environ["CLASSROOM_DATA_DIR"]).resolve()) if os.environ.get("CLASSROOM_DATA_DIR") else None


def _navigation_only() -> None:
    """Streamlit runs a folder named pages/ beside the entry as old-style pages until the entry first calls
    st.navigation: on a fresh server, a first request for /train ran pages/train.py alone (no client id,
    every file of pages/ in the sidebar). Say once, for the whole server, that the entry's navigation rules,
    and run this request again, through the entry."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_navigation_only()


def init_session() -> None:
    """Give this browser a client id that survives reloads (kept in the URL as ?client=...)."""
    if "client" not in st.session_state:
        st.session_state.client = st.query_params.get("client") or secrets.token_hex(8)
    if st.query_params.get("client") != st.session_state.client:
        st.query_params["client"] = st.session_state.client


def all_runs() -> list[runs.Run]:
    return runs.list_runs(RUNS_DIR, PRETRAINED_DIR)


def pct(value) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "—"


def queue() -> jobs.Queue:
    return jobs.Queue(RUNS_DIR)


def duration(seconds) -> str:
    """12 s, 3 min 05 s, 1 h 02 min: what a person reads at a glance."""
    if not isinstance(seconds, (int, float)) or seconds != seconds:
        return "—"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
