"""Starting the real dashboard for a browser: a free port, the health check, Chromium's launch flags, and
waiting for a page's script run to end.

Shared by the end-to-end test, the screenshot tool and the load test.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying hosts that a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Return once Streamlit at url says ok; RuntimeError if it exited, TimeoutError if it never answered."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout_s} s")


# Streamlit shows these while a script run is in progress.
SCRIPT_RUNNING = "!!document.querySelector('[data-testid=stStatusWidget], [data-testid=stSkeleton]')"


def quiet(page, quiet_s: float, timeout_s: float, poll_s: float = 0.1) -> bool:
    """Wait until the page shows no running script for quiet_s in a row; False if that never came in timeout_s."""
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if page.evaluate(SCRIPT_RUNNING):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > quiet_s:
            return True
        time.sleep(poll_s)
    return False
