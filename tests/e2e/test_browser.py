"""End to end, in headless chromium: the real app, a real worker process, a tiny real training.

Moves sliders, trains through the UI on 300 generated Fashion-MNIST images, watches the curves grow,
finds the run saved on disk, then opens it in Compare and Inspect. Needs /usr/bin/chromium.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.app_server import CHROMIUM, CHROMIUM_ARGS, free_port, quiet, wait_healthy

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 6
HELD_AT = 2  # the run waits after this many epochs (core.training.gate) until the page has shown its partial curves


def _serve(root: Path, fashion_dir: Path):
    """Start the dashboard as `make run` does, its workers reading the epoch gate root/epoch-gate; returns (url, runs
    folder, process, log)."""
    runs_dir = root / "runs"
    env = {**os.environ, "CLASSROOM_RUNS_DIR": str(runs_dir), "CLASSROOM_PRETRAINED_DIR": str(root / "pretrained"),
           "CLASSROOM_DATA_DIR": str(fashion_dir), "KERAS_HOME": str(root / "keras"), "CLASSROOM_WORKERS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3", "CLASSROOM_EPOCH_GATE": str(root / "epoch-gate")}
    port = free_port()
    log = open(root / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    wait_healthy(url, proc)
    return url, runs_dir, proc, log


def _worker_pids(runs_dir: Path) -> list[int]:
    return [json.loads(info.read_text())["pid"] for info in (runs_dir / ".workers").glob("slot-*.json")]


def _stop(proc, log, runs_dir) -> list[int]:
    """Stop the server as Ctrl-C does; returns the workers still alive 20 s later (ended here, to leak none)."""
    pids = _worker_pids(runs_dir)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    log.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def _alive(pid: int) -> bool:
    from core.system.processes import pid_alive

    return pid_alive(pid)


@pytest.fixture(scope="module")
def app(tmp_path_factory, fashion_dir):
    """The dashboard on a free port, with runs, shipped runs and data in temporary folders."""
    if not Path(CHROMIUM).exists():
        pytest.skip("/usr/bin/chromium is missing: install Debian's chromium package to run the browser test")
    url, runs_dir, proc, log = _serve(tmp_path_factory.mktemp("e2e"), fashion_dir)
    try:
        yield url, runs_dir
    finally:
        _stop(proc, log, runs_dir)


def _settled(page) -> None:
    """Wait until Streamlit has finished its script run (no running indicator for a moment)."""
    if not quiet(page, quiet_s=1.0, timeout_s=90):
        raise TimeoutError("the page kept running for 90 s")


def _set_slider(page, label: str, presses: int) -> str:
    """Home, then ArrowRight `presses` times, as a keyboard user would; returns the shown value."""
    slider = page.locator(f'input[type="range"][aria-label="{label}"]')  # exact: other labels mention epochs too
    slider.focus()
    page.keyboard.press("Home")
    for _ in range(presses):
        page.keyboard.press("ArrowRight")
    _settled(page)
    return slider.get_attribute("aria-valuetext")


def _metric(page, label: str) -> str:
    for text in page.get_by_test_id("stMetric").all_inner_texts():
        head, _, value = text.partition("\n")
        if head.strip() == label:
            return value.strip()
    return ""


def _shows(page, text: str, timeout_s: float = 60) -> None:
    """The text is on the page, as text or as a widget's value (what a screen reader would announce)."""
    deadline = time.monotonic() + timeout_s
    while text not in page.get_by_role("main").aria_snapshot():
        assert time.monotonic() < deadline, f"{text!r} not shown on {page.url}"
        time.sleep(0.5)


def _no_exception(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


@contextlib.contextmanager
def _browser_page(width: int, height: int, failure_png: Path):
    """A Chromium page of this size; on a failure, a screenshot is kept (in pytest's tmp folder)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)  # the first model description imports TensorFlow; so does the worker
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(90_000)
        try:
            yield page
        except Exception:
            page.screenshot(path=str(failure_png), full_page=True)
            raise
        finally:
            browser.close()


def test_train_watch_and_open_in_compare_and_inspect(app):
    url, runs_dir = app
    with _browser_page(1600, 1000, runs_dir.parent / "failure.png") as page:
        _scenario(page, url, runs_dir)


def _scenario(page, url, runs_dir) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/train?client=e2e-browser")
    page.get_by_text("Data and length").wait_for()
    _settled(page)
    _no_exception(page)

    # The network follows the sliders: 16 neurons -> 784*16+16 + 16*10+10 parameters.
    assert _set_slider(page, "Neurons per hidden layer", 0) == "16"
    expect(page.get_by_test_id("stMetric").filter(has_text="Parameters")).to_contain_text("12,730")
    assert _set_slider(page, "Epochs", EPOCHS - 1) == str(EPOCHS)
    assert _set_slider(page, "Batch size", 0) == "8"
    name = page.get_by_role("textbox", name="Run name")
    # Left empty, the name follows the settings.
    expect(name).to_have_attribute("placeholder", f"Fashion-MNIST Arch 1, trial 1 · units 16 · batch 8 · epochs {EPOCHS}")
    name.fill("e2e tiny run")
    name.press("Enter")
    _settled(page)

    gate = runs_dir.parent / "epoch-gate"
    gate.write_text(str(HELD_AT))
    page.get_by_test_id("stBaseButton-primary").filter(has_text="Train").click()
    # Live: the progress bar, then epochs arriving one by one while the curves grow.
    expect(page.get_by_text(re.compile(r"Training “e2e tiny run”|waiting in the queue"))).to_be_visible()
    seen, with_curves = set(), set()
    deadline = time.monotonic() + 300  # the worker imports TensorFlow first: slow on a busy machine
    while time.monotonic() < deadline:
        finished = _metric(page, "Epochs finished")
        if finished:
            epochs_done = int(finished.split(" of ")[0])
            seen.add(epochs_done)
            if page.get_by_test_id("stVegaLiteChart").count() == 2:  # accuracy and loss
                with_curves.add(epochs_done)
            if epochs_done == HELD_AT and epochs_done in with_curves:
                gate.unlink(missing_ok=True)  # seen part-way: let it finish
        if page.get_by_text("“e2e tiny run” finished").count():
            break
        time.sleep(0.2)
    partial = sorted(k for k in with_curves if 0 < k < EPOCHS)
    assert len(partial) >= 1, f"never saw curves of a partly trained network (epochs seen: {sorted(seen)})"

    # The result, with its confidence interval, and the run on disk.
    expect(page.get_by_text("“e2e tiny run” finished")).to_be_visible()
    assert re.fullmatch(r"\d+\.\d%", _metric(page, "Test accuracy"))
    expect(page.get_by_text("95 % confidence interval")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(2)
    _no_exception(page)
    saved = [json.loads(f.read_text()) for f in runs_dir.glob("*/run.json")]
    assert [(r["name"], r["status"], r["config"]["epochs"], r["config"]["units"]) for r in saved] == \
        [("e2e tiny run", "completed", EPOCHS, 16)]

    page.get_by_role("button", name=re.compile("Compare with")).click()
    page.wait_for_url(re.compile(r"/compare"))
    _settled(page)
    _shows(page, "e2e tiny run")
    _no_exception(page)

    page.goto(f"{url}/train?client=e2e-browser")  # a reload finds the finished run again
    expect(page.get_by_text("“e2e tiny run” finished")).to_be_visible()
    page.get_by_role("button", name=re.compile("Inspect this run")).click()
    page.wait_for_url(re.compile(r"/inspect"))
    _settled(page)
    _shows(page, "e2e tiny run")
    _no_exception(page)


def test_at_1280_pixels_nothing_is_cut_and_names_show_as_typed(app):
    """Issue 11: a laptop or projector at 1280 px; a run renamed to Markdown shows as typed."""
    from playwright.sync_api import expect

    url, runs_dir = app
    with _browser_page(1280, 900, runs_dir.parent / "failure-1280.png") as page:
        page.goto(f"{url}/train?client=e2e-narrow")
        page.get_by_text("Data and length").wait_for()
        _settled(page)
        for label in ("Fashion-MNIST", "CIFAR-100"):  # the dataset switch shows whole names, not "C"
            button = page.get_by_role("radio", name=label, exact=True)
            assert button.evaluate("b => b.scrollWidth <= b.clientWidth + 1"), label

        page.goto(f"{url}/inspect?client=e2e-narrow")
        _settled(page)
        matrix = page.get_by_test_id("stVegaLiteChart").first
        assert matrix.bounding_box()["x"] + matrix.bounding_box()["width"] <= 1280

        page.goto(f"{url}/compare?client=e2e-narrow")
        _settled(page)
        name = page.get_by_role("textbox", name="Name")
        name.fill("**bold** :red[red] $x^2$")
        name.press("Enter")
        page.get_by_role("button", name="Rename").click()
        _settled(page)
        expect(page.get_by_text("Renamed to “**bold** :red[red] $x^2$”.")).to_be_visible()
        _no_exception(page)


def test_a_fresh_servers_first_deep_link_gets_the_whole_app_and_stopping_it_ends_its_worker(tmp_path, fashion_dir):
    """Issue 13: on a fresh server, a first request for /compare runs through the entry (a browser id in the address,
    the page list on top), not Streamlit's old pages-folder mode. Issue 11: Ctrl-C of `make run` stops what it
    started: no 1 GB worker is left idling."""
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("/usr/bin/chromium is missing")
    url, runs_dir, proc, log = _serve(tmp_path, fashion_dir)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{url}/compare")
            expect(page.get_by_role("heading", name="Compare runs")).to_be_visible(timeout=90_000)
            assert "client=" in page.url
            expect(page.get_by_role("link", name="The report")).to_be_visible()  # the entry's titles, not file names
            page.goto(f"{url}/train?client=e2e-stop")  # opening Train starts a worker
            deadline = time.monotonic() + 300  # it imports TensorFlow first: slow on a busy machine
            while not _worker_pids(runs_dir) and time.monotonic() < deadline:
                time.sleep(0.5)
            browser.close()
        assert _worker_pids(runs_dir), "opening Train started no worker"
    finally:
        left = _stop(proc, log, runs_dir)
    assert left == [], f"workers still running after the dashboard stopped: {left}"
