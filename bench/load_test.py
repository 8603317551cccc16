"""Load test: a whole classroom pressing Train at once, against the real app on loopback.

Not a test of the suite: a measurement, bounded in sessions and time, that stops everything it started.
It starts the dashboard (`streamlit run streamlit_app.py`) on a free port with its runs, shipped runs and a
tiny generated Fashion-MNIST (real IDX files) in a temporary folder, opens N browser sessions (one headless
chromium, N contexts, each its own client id), and has each press Train within a few seconds on the first
trial run of the report (50 epochs; on the tiny dataset a job trains for a second or two). While the jobs
run, every 0.5 s it times
  - GET /                 the page's HTML,
  - GET /_stcore/health   the server's health endpoint,
  - a rerun in one more browser session (a browser of its own): switching between Compare and Home in the
    page list and waiting for the page's title,
samples the resident memory of the server and the worker processes (VmRSS and VmHWM from /proc), and
watches the queue (core.queue.jobs.Queue) until every job is completed or the time is up. Prints a table and
one JSON line.

    .venv/bin/python bench/load_test.py                 # 20 sessions, at most 10 minutes
    .venv/bin/python bench/load_test.py --sessions 5 --timeout 300 --keep   # keep the temporary folder
    .venv/bin/python bench/load_test.py --students-idle   # the students' browsers use only idle CPU, as laptops would

Results and how to read them: docs/load-test.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core import classroom  # noqa: E402
from core.queue import worker  # noqa: E402
from core.queue.queue import Queue  # noqa: E402
from core.system import supervisor  # noqa: E402
from tools.app_server import CHROMIUM, CHROMIUM_ARGS, free_port, quiet, wait_healthy  # noqa: E402
from tools.fake_data import write_fashion  # noqa: E402
from ui import identity  # noqa: E402

PROBE_EVERY_S = 0.5
RERUN_TIMEOUT_S = 30
SETUP_TIMEOUT_S = 420  # 30 sessions opening Train at once, their browsers on the same 2 CPUs as the server


# --- processes and their memory -----------------------------------------------------------------------

def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in kB; {} once it is gone."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError):
        return {}
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (from /proc/<pid>/stat), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs of the machine have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def browser_pids() -> list[int]:
    """The chromium processes under this one (Playwright's driver starts them): the simulated students' laptops."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - mine
        mine |= frontier
    return [pid for pid in mine if "chrom" in cmdline(pid)]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def our_workers(runs_dir: Path) -> list[int]:
    """Live workers of this run's runs folder (their command line names it: never anyone else's process)."""
    pids = []
    for info in (runs_dir / supervisor.WORKERS_DIR).glob("slot-*.json"):
        try:
            pid = int(json.loads(info.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if str(runs_dir.resolve()) in cmdline(pid) and proc_status(pid):
            pids.append(pid)
    return pids


# --- measurements -------------------------------------------------------------------------------------

class HttpProbe(threading.Thread):
    """Times GET / and GET /_stcore/health every PROBE_EVERY_S, in a thread of its own."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.samples: dict[str, list[tuple[float, float]]] = {"GET /": [], "GET /_stcore/health": []}  # (when, seconds)
        self.errors = 0

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            for name, path in (("GET /", "/"), ("GET /_stcore/health", "/_stcore/health")):
                t0 = time.perf_counter()
                try:
                    with urllib.request.urlopen(self.url + path, timeout=30) as r:
                        r.read()
                    self.samples[name].append((time.monotonic(), time.perf_counter() - t0))
                except OSError:
                    self.errors += 1
            self.stop.wait(max(0.0, PROBE_EVERY_S - (time.monotonic() - started)))


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "median_s": round(statistics.median(values), 4),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4), "max_s": round(max(values), 4),
            "over_1s": sum(v > 1.0 for v in values)}  # the goal for a page: an answer within a second


def settled(page, timeout_s: float = 120) -> None:
    """Streamlit has finished its script run (no running indicator for half a second)."""
    if not quiet(page, quiet_s=0.5, timeout_s=timeout_s):
        raise TimeoutError(f"{page.url} kept running for {timeout_s} s")


CPU_CGROUP = Path("/sys/fs/cgroup/cpu")  # cgroup v1's cpu controller (cpu.idle needs Linux 5.15)


def students_chromium(folder: Path, idle: bool) -> tuple[str, Path | None]:
    """Chromium as is, or a wrapper that starts it (and so every process it forks) in a cpu cgroup of its own
    marked idle: it runs only on CPU time nothing else wants. Not `nice`: Chromium sets its own processes'
    priorities (its browser and GPU processes run at nice -8), and a process cannot leave its cgroup.
    Returns the executable and the cgroup to remove afterwards."""
    if not idle:
        return CHROMIUM, None
    group = CPU_CGROUP / folder.name
    try:
        group.mkdir()
        (group / "cpu.idle").write_text("1")
    except OSError as e:
        raise SystemExit(f"--students-idle needs a writable cgroup v1 cpu controller at {CPU_CGROUP} ({e.strerror}); "
                         "run as root, or leave out --students-idle")
    wrapper = folder / "chromium-idle"
    wrapper.write_text(f'#!/bin/sh\necho $$ > {group}/cgroup.procs\nexec {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), group


def rerun_probe(page, target: str) -> float:
    """Click a page in the page list and wait for its title: one full rerun of that page, as a student sees it."""
    title = {"Compare": "Compare runs", "Home": "How neural networks train"}[target]
    t0 = time.perf_counter()
    page.get_by_test_id("stTopNavLink").filter(has_text=target).click(timeout=RERUN_TIMEOUT_S * 1000)
    page.locator("h1", has_text=title).wait_for(state="visible", timeout=RERUN_TIMEOUT_S * 1000)
    return time.perf_counter() - t0


# --- the run --------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="browser sessions that each press Train (default 20)")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds in all (default 600)")
    parser.add_argument("--baseline", type=float, default=10, help="seconds measured before anyone presses Train (default 10)")
    parser.add_argument("--train-images", type=int, default=400, help="images in the generated training set (default 400)")
    parser.add_argument("--students-idle", action="store_true",
                        help="run the students' browsers on idle CPU only (a cpu cgroup), as if on their own laptops; "
                             "the probing session keeps its own browser at normal priority (default: all equal)")
    parser.add_argument("--sign-in", action="store_true",
                        help="a class with sign-in: every session is a signed-in student (issue 16's load test)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (runs, logs) for a look afterwards")
    parser.add_argument("--app-dir", type=Path, default=ROOT,
                        help="run the streamlit_app.py of this folder (a copy with a change, to compare); default: this project")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 50:
        parser.error("--sessions must be between 1 and 50")
    if not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} is missing (Debian's chromium package)")

    started_at = time.monotonic()
    deadline = started_at + args.timeout
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    root = Path(tempfile.mkdtemp(prefix="classroom-load-"))
    runs_dir, data_dir = root / "runs", root / "data"
    write_fashion(data_dir, args.train_images, 100)
    env = {**os.environ, "CLASSROOM_RUNS_DIR": str(runs_dir), "CLASSROOM_PRETRAINED_DIR": str(root / "pretrained"),
           "CLASSROOM_DATA_DIR": str(data_dir), "KERAS_HOME": str(root / "keras"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    (root / "pretrained").mkdir()
    if args.sign_in:  # the server reads the same key from the runs folder: students arrive with signed cookies
        env["CLASSROOM_INSTRUCTOR_PASSWORD"] = "load-test"
        key = classroom.secret(runs_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_log = open(root / "streamlit.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                               "--server.address", "127.0.0.1", "--server.headless", "true",
                               "--server.fileWatcherType", "none"],
                              cwd=args.app_dir, env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
    probe = HttpProbe(url)
    memory: dict[str, dict[int, int]] = {"server": {}, "workers": {}}  # pid -> peak kB (VmHWM, or max VmRSS seen)
    cpu: dict[str, dict[int, float]] = {"server": {}, "workers": {}, "browser": {}}  # pid -> CPU seconds, last sample
    state = {"live_workers_max": 0, "running_max": 0, "together_kb": 0, "rerun_timeouts": 0}  # together: server + workers
    reruns: list[tuple[float, float]] = []  # (when, seconds)
    result: dict = {}
    browser = watcher_browser = playwright = students_group = None

    def sample():
        now_kb = 0
        live = our_workers(runs_dir)
        for group, pids in (("server", [server.pid]), ("workers", live), ("browser", browser_pids())):
            for pid in pids:
                status, used = proc_status(pid), cpu_seconds(pid)
                if status and group != "browser":
                    memory[group][pid] = max(memory[group].get(pid, 0), status.get("VmHWM", 0), status.get("VmRSS", 0))
                    now_kb += status.get("VmRSS", 0)
                if used is not None:
                    cpu[group][pid] = used
        state["together_kb"] = max(state["together_kb"], now_kb)
        state["live_workers_max"] = max(state["live_workers_max"], len(live))

    def cpu_now() -> dict[str, float]:
        sample()
        return {group: sum(by_pid.values()) for group, by_pid in cpu.items()} | {"machine": machine_busy_seconds()}

    def probe_rerun(watcher, target):
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            reruns.append((time.monotonic(), rerun_probe(watcher, target)))
        except PlaywrightTimeout:  # the page did not show its title within RERUN_TIMEOUT_S
            reruns.append((time.monotonic(), RERUN_TIMEOUT_S))
            state["rerun_timeouts"] += 1
            watcher.goto(f"{url}/?client=load-watcher")  # start again from a fresh page load
            return "Compare"
        return "Home" if target == "Compare" else "Compare"

    try:
        wait_healthy(url, server, timeout_s=120)
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        students_executable, students_group = students_chromium(root, args.students_idle)
        browser = playwright.chromium.launch(executable_path=students_executable, args=CHROMIUM_ARGS)
        watcher_browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        print(f"server {url} (pid {server.pid}), folder {root}; opening {args.sessions} sessions", flush=True)

        # Every student opens the dashboard and goes to the Train page (the first one there also warms Keras in
        # the server and starts a worker).
        pages = []
        for i in range(args.sessions):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            if args.sign_in:
                student = classroom.sign_in(runs_dir, f"load-{i:02d}", "2468")  # the account a first sign-in makes
                token = classroom.token_for(student, key, stamp=classroom.stamp(runs_dir, student, "load-test"))
                context.add_cookies([{"name": identity.COOKIE, "value": token, "url": url}])
            page = context.new_page()
            page.set_default_timeout(SETUP_TIMEOUT_S * 1000)
            page.goto(f"{url}/?client=load-{i:02d}")
            pages.append(page)
        for page in pages:
            page.locator("h1", has_text="How neural networks train").wait_for()
            page.get_by_test_id("stTopNavLink").filter(has_text="Train").click()
        for page in pages:
            page.get_by_test_id("stBaseButton-primary").filter(has_text="Train").wait_for(state="visible")
            settled(page)
        opened_s = time.monotonic() - started_at

        # One more student, who only looks around while the others train: the rerun probe.
        watcher = watcher_browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        watcher.set_default_timeout(120_000)
        watcher.goto(f"{url}/?client=load-watcher")
        watcher.locator("h1", has_text="How neural networks train").wait_for()
        settled(watcher)

        # Baseline: every session open, nothing training.
        probe.start()
        target, baseline_end = "Compare", time.monotonic() + args.baseline
        while time.monotonic() < baseline_end:
            loop_started = time.monotonic()
            target = probe_rerun(watcher, target)
            sample()
            time.sleep(max(0.0, PROBE_EVERY_S - (time.monotonic() - loop_started)))

        # Everyone presses Train, within a few seconds: the click event goes to each page at once, without
        # Playwright's wait for a still page first (on a busy 2-CPU machine that wait alone took ~1 s a page).
        cpu_at_press = cpu_now()
        pressed_at = time.monotonic()
        for page in pages:
            page.get_by_test_id("stBaseButton-primary").filter(has_text="Train").dispatch_event("click")
        press_spread_s = time.monotonic() - pressed_at
        print(f"{args.sessions} sessions pressed Train in {press_spread_s:.1f} s", flush=True)

        queue = Queue(runs_dir)
        while time.monotonic() < deadline:
            loop_started = time.monotonic()
            target = probe_rerun(watcher, target)
            sample()
            listed = [j for j in queue.jobs() if j.owner.startswith("load-")]
            state["running_max"] = max(state["running_max"], sum(j.status == "running" for j in listed))
            done = [j for j in listed if j.status in ("completed", "failed", "cancelled")]
            if len(listed) == args.sessions and len(done) == args.sessions:
                break
            time.sleep(max(0.0, PROBE_EVERY_S - (time.monotonic() - loop_started)))
        all_done_at = time.monotonic()
        cpu_at_end = cpu_now()
        probe.stop.set()
        probe.join(timeout=35)
        sample()

        listed = [j for j in Queue(runs_dir).jobs() if j.owner.startswith("load-")]
        statuses = {s: sum(j.status == s for j in listed) for s in ("queued", "running", "completed", "failed", "cancelled")}
        waits = [j.started - j.created for j in listed if j.started]
        trains = [j.finished - j.started for j in listed if j.finished and j.started]
        mem_total_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                                if line.startswith("MemTotal")))

        def phase(samples, loaded: bool):
            return summary([v for when, v in samples if (when >= pressed_at) == loaded and when <= all_done_at])

        measures = {**probe.samples, "rerun (page link to title)": reruns}
        busy_s = all_done_at - pressed_at
        result = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sessions": args.sessions, "signed_in": args.sign_in, "train_images": args.train_images, "app_dir": str(args.app_dir),
            "students_idle": args.students_idle,
            "jobs_submitted": len(listed), "sessions_with_a_job": len({j.owner for j in listed}),
            **{f"jobs_{k}": v for k, v in statuses.items()},
            "sessions_opened_s": round(opened_s, 1), "train_pressed_within_s": round(press_spread_s, 2),
            "all_jobs_done_s": round(busy_s, 1), "timed_out": time.monotonic() >= deadline,
            "job_wait_s": summary(waits), "job_run_s": summary(trains),
            "latency_idle": {name: phase(samples, False) for name, samples in measures.items()},
            "latency_while_training": {name: phase(samples, True) for name, samples in measures.items()},
            "http_errors": probe.errors,
            "memory_peak_mb": {"server": round(max(memory["server"].values(), default=0) / 1024),
                               "worker_max": round(max(memory["workers"].values(), default=0) / 1024),
                               "server_plus_workers_sampled": round(state["together_kb"] / 1024),
                               "machine_total": round(mem_total_kb / 1024)},
            # CPU while training, in cores (2 = both CPUs busy): ours, and what other processes of the machine used
            "cpu_cores_while_training": {k: round((cpu_at_end[k] - cpu_at_press[k]) / busy_s, 2) for k in cpu_at_end}
            | {"other_processes": round((cpu_at_end["machine"] - cpu_at_press["machine"] - sum(
                cpu_at_end[k] - cpu_at_press[k] for k in cpu)) / busy_s, 2)},
            "rerun_timeouts": state["rerun_timeouts"],
            "workers_seen": len(memory["workers"]), "workers_alive_at_once_max": state["live_workers_max"],
            "jobs_running_at_once_max": state["running_max"], "worker_slots": worker.default_slots(),
            "cpus": os.cpu_count(), "load_average_at_start": load_at_start,
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        }
        print_table(result)
        print(json.dumps(result), flush=True)
        return 0 if statuses["completed"] == args.sessions else 1
    finally:
        probe.stop.set()
        for opened in (browser, watcher_browser):
            if opened is not None:
                opened.close()
        if playwright is not None:
            playwright.stop()
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        for pid in our_workers(runs_dir):  # started by the app (ensure_workers), in sessions of their own
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server_log.close()
        if students_group is not None:
            try:
                students_group.rmdir()  # empty once its browsers have ended
            except OSError as e:
                print(f"could not remove the cgroup {students_group} ({e.strerror}): rmdir it when its processes end",
                      file=sys.stderr)
        if args.keep or not result:
            print(f"kept {root} (streamlit.log, runs/, runs/.workers/*.log)", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(root, ignore_errors=True)


def print_table(r: dict) -> None:
    print()
    print(f"sessions {r['sessions']}: jobs submitted {r['jobs_submitted']} (from {r['sessions_with_a_job']} sessions), "
          f"completed {r['jobs_completed']}, failed {r['jobs_failed']}, still queued/running "
          f"{r['jobs_queued']}/{r['jobs_running']}")
    if r["students_idle"]:
        print("the students' browsers ran on idle CPU only, the probing session's at the normal priority")
    print(f"Train pressed within {r['train_pressed_within_s']} s; all jobs done {r['all_jobs_done_s']} s later"
          + (" (TIMED OUT)" if r["timed_out"] else ""))
    print(f"{'measure':<30}{'phase':<18}{'n':>5}{'median s':>10}{'p95 s':>9}{'max s':>9}{'over 1 s':>10}")
    rows = [(name, "idle", s) for name, s in r["latency_idle"].items()]
    rows += [(name, "while training", s) for name, s in r["latency_while_training"].items()]
    rows += [("job wait in queue", "", r["job_wait_s"]), ("job run (start to finish)", "", r["job_run_s"])]
    for name, when, s in rows:
        if s["n"]:
            over = s["over_1s"] if when else ""
            print(f"{name:<30}{when:<18}{s['n']:>5}{s['median_s']:>10.3f}{s['p95_s']:>9.3f}{s['max_s']:>9.3f}{over:>10}")
    m = r["memory_peak_mb"]
    print(f"peak memory: server {m['server']} MB, largest worker {m['worker_max']} MB, server + workers together "
          f"{m['server_plus_workers_sampled']} MB of {m['machine_total']} MB; workers alive at once "
          f"{r['workers_alive_at_once_max']}, jobs training at once {r['jobs_running_at_once_max']} (slots {r['worker_slots']})")
    c = r["cpu_cores_while_training"]
    print(f"CPU while training, in cores: server {c['server']}, workers {c['workers']}, browsers {c['browser']}, "
          f"other processes {c['other_processes']}, machine {c['machine']} of {r['cpus']}; load average "
          f"{r['load_average_at_start']} at start, {r['load_average_at_end']} at end")
    if r["rerun_timeouts"]:
        print(f"reruns that did not finish within {RERUN_TIMEOUT_S} s: {r['rerun_timeouts']} (counted at {RERUN_TIMEOUT_S} s)")


if __name__ == "__main__":
    raise SystemExit(main())
