"""The dashboard's pages, listed once, and how a page hands runs over to another.

    navigation.run()                  # the entry: every page, the one in the address runs
    navigation.open_inspect(run_id)   # a button: switch to Inspect, showing that run
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core import formatting as fmt
from core.settings import SettingsError
from ui.session import client_id, settings


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    icon: str  # Material icons ship with Streamlit; emoji need a font that classroom machines may lack
    blurb: str  # Home's card for the page
    default: bool = False


HOME = PageInfo("pages/home.py", "Home", ":material/home:", "What this dashboard is and what this machine has.", True)
TRAIN = PageInfo("pages/train.py", "Train", ":material/model_training:",
                 "Pick a trial run of the report or set your own, see the network, train it live.")
COMPARE = PageInfo("pages/compare.py", "Compare", ":material/compare_arrows:",
                   "Put runs side by side: curves, test accuracy and whether the difference is real.")
INSPECT = PageInfo("pages/inspect.py", "Inspect", ":material/search:",
                   "One run in detail: confusion matrix, per-class scores, its worst mistakes.")
REPORT = PageInfo("pages/report.py", "The report", ":material/description:",
                  "The report's figures next to what the dashboard measures.")
CLASS = PageInfo("pages/classroom.py", "The class", ":material/group:",
                 "Sign in, the assignments, everyone's queue; the instructor's controls.")
BOARD = PageInfo("pages/board.py", "Class board", ":material/leaderboard:",
                 "For the projector: every student's best run for an assignment, ranked, with what it changed.")
PAGES = (HOME, TRAIN, COMPARE, INSPECT, REPORT, CLASS, BOARD)

INSPECT_KEY, COMPARE_KEY = "nav.inspect_run", "nav.compare_runs"
_declared = False  # this server process has declared the navigation (the entry runs it on every request)


def run() -> None:
    """The entry's whole job after the page config: give the browser an id, declare the pages, run the chosen one.
    The page list is across the top: a sidebar would take a quarter of a 1280-pixel projector."""
    from ui import identity

    try:
        settings()
    except SettingsError as e:  # a deployment mistake: said on every page, never a traceback
        st.error(f"The dashboard cannot start: {fmt.text(e)}. Correct it in the environment the server is started "
                 "from, then restart it (`make run`).", icon=":material/error:")
        st.stop()
    st.set_option("client.showErrorDetails",
                  error_details(st.get_option("server.address"), settings().instructor_password is not None))
    global _declared
    client_id()
    identity.sync_cookie()
    _declared = True
    st.navigation(_pages(), position="top").run()


LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")


def error_details(address: str | None, with_sign_in: bool) -> str:
    """Streamlit's `client.showErrorDetails` for this server: the whole traceback only for one person on their own
    machine (listening on localhost, no sign-in); a classroom server shows a short message and keeps the details,
    with its file paths, in its log."""
    return "full" if address in LOCAL_ADDRESSES and not with_sign_in else "none"


def _pages() -> list:
    return [st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in PAGES]


def ensure_entry() -> None:
    """Every page calls this first. A folder named pages/ beside the entry puts a fresh Streamlit server in its
    old pages-folder mode until a script declares st.navigation: the very first request, if it is a deep link
    such as /train, runs pages/train.py alone (no browser id, every file of pages/ in a sidebar). Declaring the
    navigation (public API) ends that mode for the whole server; the rerun then goes through the entry. The
    browser test opens a fresh server on a deep link and fails if Streamlit changes this."""
    global _declared
    if not _declared:
        _declared = True
        st.navigation(_pages(), position="hidden")
        st.rerun()


def links() -> None:
    """A card per page but Home, for the Home page."""
    others = [p for p in PAGES if not p.default]
    for start in range(0, len(others), 3):  # three a row: readable on a 1280-pixel projector
        for column, page in zip(st.columns(3, border=True), others[start:start + 3]):
            with column:
                st.page_link(page.path, label=f"**{page.title}**", icon=page.icon, width="stretch")
                st.write(page.blurb)


def open_inspect(run_id: str) -> None:
    """Switch to Inspect showing this run (call it inline, not in a button callback: the pages are not known there)."""
    st.session_state[INSPECT_KEY] = run_id
    st.switch_page(INSPECT.path)


def open_compare(run_ids: list[str]) -> None:
    st.session_state[COMPARE_KEY] = list(run_ids)
    st.switch_page(COMPARE.path)


def handed_run() -> str | None:
    """The run another page asked Inspect to show, once."""
    return st.session_state.pop(INSPECT_KEY, None)


def handed_runs() -> list[str] | None:
    """The runs another page asked Compare to show, once."""
    return st.session_state.pop(COMPARE_KEY, None)
