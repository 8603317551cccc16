"""Screenshots of the dashboard's pages for docs/screenshots/, taken in headless chromium.

    .venv/bin/python tools/screenshots.py                      # starts the app: home, train, compare, inspect, report
    .venv/bin/python tools/screenshots.py --url http://localhost:8501 --client abc123 train "inspect?run=ID"
    .venv/bin/python tools/screenshots.py --url http://localhost:8501 "inspect?run=ID#Look inside"   # a tab

Without --url it starts the app itself with this environment (CLASSROOM_RUNS_DIR, CLASSROOM_PRETRAINED_DIR,
CLASSROOM_DATA_DIR choose what the pages show) and stops it, and any training worker it caused, at the end.
--client is the browser's id (?client=): the Train page shows that browser's latest run. `#Tab name` after a
page opens that tab and waits for what it draws (inspect-look-inside.png). Every page is taken
1600 px wide at its full height: what a user scrolls through on a 1600x1000 screen. Uses the system's
chromium; never downloads a browser.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: tools/ is on the path, the project is not
    sys.path.insert(0, str(ROOT))

from tools.app_server import CHROMIUM, CHROMIUM_ARGS, free_port, quiet, wait_healthy  # noqa: E402

PAGES = {"home": "", "train": "train", "compare": "compare", "inspect": "inspect", "report": "report", "classroom": "classroom",
         "board": "board"}
DEFAULT_PAGES = ["home", "train", "compare", "inspect", "report"]
DRAWN_S = 180  # a tab whose views a helper process draws (Keras' import included on a busy machine)
WIDTH, HEIGHT = 1600, 1000


def settle(page, timeout_s: float = 120) -> None:
    """Wait until the script run is over (no running indicator, no placeholder) for a while, then for the charts."""
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_s * 1000)
    quiet(page, quiet_s=2.0, timeout_s=timeout_s, poll_s=0.2)  # a page that never settles is shot as it is
    page.wait_for_timeout(1500)  # vega draws its charts after the element mounts


def capture(page, path: Path) -> None:
    """The main column scrolls inside the window: grow the window to its height, then shoot."""
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": max(HEIGHT, min(int(height), 12000))})
    settle(page)  # elements that come into view load only then
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})


def open_tab(page, tab: str) -> None:
    """Click a tab, then wait until its "Drawing the views…" notes are gone: a helper process draws them."""
    page.get_by_role("tab", name=tab).click()
    page.wait_for_timeout(1000)
    page.get_by_text("Drawing the").first.wait_for(state="detached", timeout=DRAWN_S * 1000)
    settle(page)


def _worker_pids(runs_dir: Path) -> set[int]:
    pids = set()
    for info in (runs_dir / ".workers").glob("slot-*.json"):
        try:
            pids.add(int(json.loads(info.read_text())["pid"]))
        except (OSError, ValueError, KeyError):
            pass
    return pids


def start_app() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.fileWatcherType", "none"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://localhost:{port}"
    try:
        wait_healthy(url, proc)
    except (RuntimeError, TimeoutError) as e:
        proc.terminate()
        raise SystemExit(f"the app did not start on {url}: {e}") from None
    return proc, url


def shoot(url: str, out: Path, pages: list[str], client: str) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        for wanted in pages:
            wanted, _, tab = wanted.partition("#")
            name, _, query = wanted.partition("?")
            query = "&".join(q for q in (query, f"client={client}") if q)
            page.goto(f"{url.rstrip('/')}/{PAGES[name]}?{query}")
            settle(page)
            if tab:
                open_tab(page, tab)
            path = out / (f"{name}-{tab.lower().replace(' ', '-')}.png" if tab else f"{name}.png")
            capture(page, path)
            print(path)
        browser.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", default=DEFAULT_PAGES,
                        help=f"pages to take ({', '.join(PAGES)}; default {', '.join(DEFAULT_PAGES)}), each with an optional "
                             "?query and #tab")
    parser.add_argument("--url", help="a running dashboard; default: start one with this environment")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--client", default="screenshots", help="browser id whose runs the Train page shows")
    args = parser.parse_args(argv)
    unknown = [p for p in args.pages if p.partition("#")[0].partition("?")[0] not in PAGES]
    if unknown:
        parser.error(f"unknown page(s) {', '.join(unknown)}; choose from {', '.join(PAGES)}")
    if not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} is missing: install Debian's chromium package")
    if args.url:
        shoot(args.url, args.out, args.pages, args.client)
        return 0
    runs_dir = Path(os.environ.get("CLASSROOM_RUNS_DIR", ROOT / "runs"))
    before = _worker_pids(runs_dir)
    proc, url = start_app()
    try:
        shoot(url, args.out, args.pages, args.client)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        for pid in _worker_pids(runs_dir) - before:  # the Train page starts a worker ahead of need
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
