"""Who is using this browser: nobody in particular (no sign-in configured), a student, or the instructor.

The signed identity (core.classroom) is kept in this session and in a cookie, so a reload or a new tab is
still signed in; the server checks its signature every time it reads it.
"""

from __future__ import annotations

import streamlit as st
import streamlit.components.v1 as components

from core import classroom
from core import formatting as fmt
from ui.session import client_id, settings

COOKIE, TOKEN_KEY, PENDING_KEY = "classroom_id", "app.token", "app.cookie_pending"


def password() -> str | None:
    """The instructor's password: the environment's, else Streamlit's secrets (secrets.toml); None: no sign-in."""
    if settings().instructor_password:
        return settings().instructor_password
    try:
        return st.secrets.get("instructor_password")
    except FileNotFoundError:
        return None


def enabled() -> bool:
    return bool(password())


def _key() -> bytes:
    return classroom.secret(settings().runs_dir)


def current() -> classroom.Identity | None:
    """The signed-in identity, or None (signed out, or no sign-in configured)."""
    if not enabled():
        return None
    token = st.session_state[TOKEN_KEY] if TOKEN_KEY in st.session_state else st.context.cookies.get(COOKIE)
    if not token:
        return None
    return classroom.identity_from(token, _key(), lambda who: classroom.stamp(settings().runs_dir, who, password()))


def actor() -> classroom.Identity | None:
    """Who the core is told is acting: None without sign-in (one person, who owns everything); with sign-in, the
    signed-in identity, else core.classroom.VISITOR, who may look and change nothing."""
    if not enabled():
        return None
    return current() or classroom.VISITOR


def owner() -> str:
    """Whose jobs and runs these are: the signed-in name, else this browser's id."""
    who = current()
    return who.name if who else client_id()


def _remember(token: str, days: int) -> None:
    """Keep the token in this session now, and in the browser's cookie on the next run (sync_cookie)."""
    st.session_state[TOKEN_KEY] = token
    st.session_state[PENDING_KEY] = (token, days)


def sync_cookie() -> None:
    """Every run, from the entry: hand a new (or emptied) token to the browser, once. The cookie is what a new tab
    presents; a tiny same-origin frame sets it."""
    if (pending := st.session_state.pop(PENDING_KEY, None)) is not None:
        token, days = pending
        components.html(f"<script>parent.document.cookie = '{COOKIE}={token}; path=/; max-age={days * 86400}; "
                        "SameSite=Strict';</script>", height=0)


def sign_in_box() -> None:
    """Sign in (a student's name and PIN, or the instructor's password), or who is signed in and Sign out."""
    who = current()
    if who is not None:
        role = "the instructor" if who.instructor else "a student"
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.markdown(f"Signed in as **{fmt.text(who.name)}** ({role}).")
        if right.button("Sign out", key="app.sign_out"):
            _remember("", 0)
            st.rerun()
        return
    student, teacher = st.tabs(["Student", "Instructor"])
    with student.form("app.student_form", border=False):
        name = st.text_input("Your name", max_chars=40, key="app.name")
        pin = st.text_input("PIN (4 to 8 digits; the first time, choose one)", type="password", max_chars=8, key="app.pin")
        if st.form_submit_button("Sign in", type="primary"):
            _try(lambda: classroom.sign_in(settings().runs_dir, name, pin))
    with teacher.form("app.teacher_form", border=False):
        secret = st.text_input("Instructor password", type="password", key="app.password")
        if st.form_submit_button("Sign in as instructor"):
            _try(lambda: classroom.instructor_sign_in(secret, password()))


def _try(sign) -> None:
    try:
        identity = sign()
    except classroom.ClassroomError as e:
        st.error(f"Not signed in: {fmt.text(e)}.")
        return
    _remember(classroom.token_for(identity, _key(), stamp=classroom.stamp(settings().runs_dir, identity, password()) or ""),
              classroom.TOKEN_DAYS)
    st.rerun()


def required(what: str) -> classroom.Identity | None:
    """Stop the page with a sign-in box when the classroom needs one to `what` and nobody is signed in."""
    who = current()
    if enabled() and who is None:
        st.info(f"Sign in to {what}.", icon=":material/login:")
        sign_in_box()
        st.stop()
    return who
