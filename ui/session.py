"""What every page needs: the deployment's settings, this browser's id, the runs and the queue.

Nothing here imports Keras: listing and showing runs must stay fast in the web server. Session-state keys
are prefixed by the page or module that owns them ("app.", "nav.", "train."/"cfg.", "compare.", "inspect.", "report.",
"class.", "board.").
"""

from __future__ import annotations

import functools
import secrets

import streamlit as st

from core.classroom import ClassPolicy
from core.queue import jobs, worker
from core.queue.queue import QUEUE_FILE, Queue
from core.settings import Settings
from core.storage import listing, runs

CLIENT_KEY = "app.client"


@functools.cache
def settings() -> Settings:
    """The deployment's settings, read from the environment once per server process."""
    return Settings.from_env()


def client_id() -> str:
    """This browser's id, kept in the address (?client=...) so that a reload finds its jobs again."""
    ss = st.session_state
    if CLIENT_KEY not in ss:
        ss[CLIENT_KEY] = st.query_params.get("client") or secrets.token_hex(8)
    if st.query_params.get("client") != ss[CLIENT_KEY]:
        st.query_params["client"] = ss[CLIENT_KEY]
    return ss[CLIENT_KEY]


def all_runs() -> list[runs.Run]:
    """Shipped runs and this classroom's, newest first."""
    return listing.list_runs(settings().runs_dir, settings().pretrained_dir)


def queue() -> Queue:
    """The training queue, under the class's rules."""
    return Queue(settings().runs_dir, ClassPolicy(settings().runs_dir))


def start_workers() -> list[int]:
    """Make sure someone trains the queue: local workers, or the dispatcher to a Ray cluster."""
    return worker.ensure_workers(settings().runs_dir, settings().workers, settings().ray_address)


def submit(specs: list[jobs.JobSpec], owner: str, actor) -> worker.Submitted:
    """Queue jobs (each admitted by the class's rules) and make sure a worker will train them."""
    return worker.submit(queue(), specs, owner, actor, slots=settings().workers, ray_address=settings().ray_address)


def readable_jobs(**filters) -> list[jobs.Job]:
    """The queue's jobs that this version can show (a job with unreadable settings is failed by the workers).
    Looking never makes a queue: a page view writes nothing."""
    if not (settings().runs_dir / QUEUE_FILE).exists():
        return []
    return [j for j in queue().jobs(**filters) if j.spec is not None]


def upload_once(label: str, kind: str, key: str):
    """A file uploader whose upload is handled once: the next script run gets a fresh, empty uploader (its key
    changes), so a later click on the page does not hand the same file in again. The upload, or None."""
    round_key = f"{key}_round"
    uploaded = st.file_uploader(label, type=kind, key=f"{key}_{st.session_state.setdefault(round_key, 0)}")
    if uploaded is not None:
        st.session_state[round_key] += 1
    return uploaded
