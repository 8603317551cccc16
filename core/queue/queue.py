"""The training queue: jobs in an SQLite table (`runs/.queue.sqlite`) that pages submit and workers claim.

The queue is handed the class's policy (core.queue.policy) and asks it before it queues a job, stops one, clears
the waiting ones or hands one to a worker; it knows nothing else of the classroom. A job whose worker dies goes
back into the queue, first in line, and continues from its checkpoint, MAX_ATTEMPTS starts at most. No Keras here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from core.networks.config import ConfigError
from core.queue.jobs import ACTIVE, MAX_ATTEMPTS, Job, JobSpec
from core.queue.policy import OPEN, Policy
from core.storage import runs
from core.system.processes import pid_alive

QUEUE_FILE = ".queue.sqlite"
SHARE_WAIT_S = 1.0  # Queue.claim(share=True): how long a worker taking jobs may keep one waiting for it
IS_ACTIVE = f"status IN ({', '.join(repr(s) for s in ACTIVE)})"  # SQL for jobs.ACTIVE

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,              -- the browser session (or CLI) that submitted it
    run_id TEXT NOT NULL,             -- the run folder it fills (a resume job names an existing one)
    spec TEXT NOT NULL,               -- the job itself, as JSON (see make_job)
    status TEXT NOT NULL,             -- queued | running | completed | cancelled | failed
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,  -- how many times a worker has started it
    worker_host TEXT, worker_pid INTEGER,
    error TEXT,
    created REAL NOT NULL, started REAL, finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, id);
CREATE INDEX IF NOT EXISTS jobs_run ON jobs(run_id);
"""
# Queues made before resumable jobs had run_id UNIQUE and no attempts column: rebuilt once, rows kept.
_MIGRATE_V1 = """
ALTER TABLE jobs RENAME TO jobs_v1;
DROP INDEX IF EXISTS jobs_status;
""" + _SCHEMA + """
INSERT INTO jobs(id, owner, run_id, spec, status, cancel_requested, worker_host, worker_pid, error, created, started, finished)
    SELECT id, owner, run_id, spec, status, cancel_requested, worker_host, worker_pid, error, created, started, finished
    FROM jobs_v1;
DROP TABLE jobs_v1;
"""

_READY: set[Path] = set()  # queue files whose schema this process has created or migrated


class Queue:
    def __init__(self, runs_dir=runs.DEFAULT_RUNS_DIR, policy: Policy = OPEN):
        self.runs_dir = Path(runs_dir)
        self.policy = policy
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.runs_dir / QUEUE_FILE
        if self.path in _READY and self.path.exists():
            return  # every page poll opens the queue: no write lock for a schema this process has made sure of
        with self._connect() as db:  # WAL stays with the file; switching to it takes a lock no busy timeout waits for
            db.execute("PRAGMA journal_mode=WAL")
        with self._transaction() as db:  # two processes opening an old queue at once migrate it once
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            script = _MIGRATE_V1 if columns and "attempts" not in columns else _SCHEMA
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
        _READY.add(self.path)

    @contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self):
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # --- the pages' side --------------------------------------------------------------------

    def submit(self, spec: JobSpec, owner: str, actor=None) -> int:
        """Queue a job for `owner`. With an acting person (`actor`: signed in, or a visitor), the policy must admit
        it (PolicyError says which rule it breaks); a resume job continues the run `spec.run_id`, whose record the
        policy sees. A run is continued by one job at a time (RunError)."""
        spec = dataclasses.replace(spec, owner=spec.owner or owner)
        with self._transaction() as db:
            if spec.resume and db.execute(f"SELECT 1 FROM jobs WHERE run_id = ? AND {IS_ACTIVE}", (spec.run_id,)).fetchone():
                raise runs.RunError(f"“{spec.name}” is already in the queue: follow it on the Train page")
            if actor is not None:
                continued = runs.read_run(spec.run_dir).record if spec.resume else None
                waiting = db.execute(f"SELECT COUNT(*) FROM jobs WHERE owner = ? AND {IS_ACTIVE}", (owner,)).fetchone()[0]
                self.policy.admit(actor, spec, waiting, continued)
            cur = db.execute("INSERT INTO jobs(owner, run_id, spec, status, created) VALUES (?, ?, ?, 'queued', ?)",
                             (owner, spec.run_id, json.dumps(spec.to_dict()), time.time()))
            return int(cur.lastrowid)

    def get(self, job_id: int) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _as_job(row) if row else None

    def jobs(self, owner: str | None = None, active_only: bool = False) -> list[Job]:
        sql, args = "SELECT * FROM jobs", []
        where = []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if active_only:
            where.append(IS_ACTIVE)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._connect() as db:
            return [_as_job(r) for r in db.execute(sql + " ORDER BY id", args)]

    def position(self, job_id: int) -> int:
        """0 while running, else how many jobs are ahead (running or queued earlier)."""
        with self._connect() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row["status"] != "queued":
                return 0
            return int(db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running' OR (status = 'queued' AND id < ?)",
                                  (job_id,)).fetchone()[0])

    def cancel(self, job_id: int, actor=None) -> None:
        """A queued job is cancelled at once; a running one stops at its next batch and keeps its weights. With an
        acting person, the policy must allow it (PolicyError otherwise)."""
        if actor is not None:
            job = self.get(job_id)
            if job is not None:
                self.policy.check_stop(actor, job.owner, job.name)
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status = 'cancelled', finished = ? WHERE id = ? AND status = 'queued'", (time.time(), job_id)
            )
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (job_id,))

    def clear(self, actor) -> int:
        """Every waiting job cancelled (training ones go on), if the policy lets `actor`. Returns how many."""
        self.policy.check_clear(actor)
        with self._transaction() as db:
            return db.execute("UPDATE jobs SET status = 'cancelled', finished = ? WHERE status = 'queued'",
                              (time.time(),)).rowcount

    # --- the workers' side ------------------------------------------------------------------

    def claim(self, share: bool = False) -> Job | None:
        """Take the oldest queued job for this process, atomically (failing any this version cannot read); none
        while the policy says training is paused.

        With `share` (a worker taking turns beside the other workers of this host), a worker holding more running
        jobs than another that is taking jobs too (it took one in the last SHARE_WAIT_S) leaves the job to it: a class
        pressing Train at once is split evenly, where the worker with the shorter turns used to take more (16 against
        14 of 30), and its students trained an eighth slower. A worker that took nothing for SHARE_WAIT_S (inside a
        long compiled call) holds up no one."""
        if self.policy.paused():
            return None
        while True:
            with self._transaction() as db:
                row = db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
                if row is None or (share and _another_worker_holds_fewer(db)):
                    return None
                job = _as_job(row)
                if job.spec is None:
                    db.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE id = ?",
                               (job.problem, time.time(), job.id))
                    continue
                db.execute("UPDATE jobs SET status = 'running', started = ?, worker_host = ?, worker_pid = ?, "
                           "attempts = attempts + 1 WHERE id = ?", (time.time(), socket.gethostname(), os.getpid(), job.id))
            return self.get(job.id)

    def cancel_requested(self, job_id: int) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def finish(self, job_id: int, status: str, error: str | None = None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE jobs SET status = ?, error = ?, finished = ? WHERE id = ?", (status, error, time.time(), job_id))

    def requeue(self, job_id: int, reason: str) -> str:
        """A running job whose training died elsewhere (a Ray node, core.queue.cluster), as reap does for local
        workers. Returns the error recorded."""
        with self._transaction() as db:
            return _requeue(db, job_id, reason)

    def reap(self) -> list[int]:
        """Running jobs whose worker process (on this host) is gone: back in the queue, first in line, to be
        resumed from their checkpoint by the next worker; failed, run folder too, after MAX_ATTEMPTS starts.
        Returns the ids of the jobs it found dead."""
        dead = []
        with self._transaction() as db:
            rows = db.execute("SELECT id, run_id, worker_pid FROM jobs WHERE status = 'running' AND worker_host = ?",
                              (socket.gethostname(),)).fetchall()
            for row in rows:
                if not pid_alive(row["worker_pid"]):
                    reason = (f"the training worker (process {row['worker_pid']}) stopped unexpectedly: killed, or out of "
                              "memory")
                    dead.append((row["id"], row["run_id"], _requeue(db, row["id"], reason)))
        for _, run_id, reason in dead:
            run_dir = self.runs_dir / run_id
            try:
                if runs.read_run(run_dir).record.get("status") in ("running", "failed"):
                    runs.update_record(run_dir, status="failed", error=reason, finished=runs.now_iso())
            except runs.RunError:
                pass  # the worker died before it made the folder
        return [job_id for job_id, _, _ in dead]


def _requeue(db, job_id: int, reason: str) -> str:
    """A running job whose training died: back in the queue, first in line, to continue from its checkpoint; failed
    after MAX_ATTEMPTS starts. Returns the error recorded."""
    attempts = db.execute("SELECT attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
    if attempts < MAX_ATTEMPTS:
        reason += f"; it continues from its last completed epoch (attempt {attempts + 1} of {MAX_ATTEMPTS})"
        db.execute("UPDATE jobs SET status = 'queued', error = ?, worker_pid = NULL, started = NULL WHERE id = ?",
                   (reason, job_id))
    else:
        reason += f", {MAX_ATTEMPTS} times; the run keeps its last checkpoint"
        db.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE id = ?", (reason, time.time(), job_id))
    return reason


def _another_worker_holds_fewer(db) -> bool:
    """Whether a worker of this host holds fewer running jobs than this process and took one in the last SHARE_WAIT_S."""
    rows = db.execute("SELECT worker_pid, COUNT(*) AS held, MAX(started) AS last FROM jobs WHERE status = 'running' "
                      "AND worker_host = ? GROUP BY worker_pid", (socket.gethostname(),)).fetchall()
    mine = next((row["held"] for row in rows if row["worker_pid"] == os.getpid()), 0)
    now = time.time()
    return any(row["worker_pid"] != os.getpid() and row["held"] < mine and now - row["last"] < SHARE_WAIT_S for row in rows)


def _as_job(row: sqlite3.Row) -> Job:
    values = dict(row)
    spec, problem = None, None
    try:
        spec = JobSpec.from_dict(json.loads(values.pop("spec")))
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        problem = f"this job's settings cannot be read by this version of the dashboard ({e}); train it again"
    values["cancel_requested"] = bool(values["cancel_requested"])
    return Job(**values, spec=spec, problem=problem)
