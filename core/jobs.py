"""The training queue: plain, serialisable jobs (config in, run folder out) in an SQLite table.

Browser sessions submit; worker processes (core.worker) claim one job at a time each. A job is a
dict that `core.worker.run_job` turns into a run folder, so the same jobs could be handed to a
cluster engine (e.g. `ray.remote(run_job)`) without changing the pages. No Keras here.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from core import runs
from core.config import TrainConfig

QUEUE_FILE = ".queue.sqlite"
ACTIVE = ("queued", "running")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,              -- the browser session (or CLI) that submitted it
    run_id TEXT NOT NULL UNIQUE,      -- the run folder it will fill, known from the start
    spec TEXT NOT NULL,               -- the job itself, as JSON (see make_job)
    status TEXT NOT NULL,             -- queued | running | completed | cancelled | failed
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    worker_host TEXT, worker_pid INTEGER,
    error TEXT,
    created REAL NOT NULL, started REAL, finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, id);
"""


def make_job(config: TrainConfig, runs_dir, *, name: str, preset: str | None = None, data_dir=None) -> dict:
    """A job: everything a worker anywhere needs, as plain JSON-able values."""
    return {"config": config.to_dict(), "name": runs.clean_name(name), "preset": preset, "run_id": runs.new_run_id(),
            "runs_dir": str(Path(runs_dir).resolve()), "data_dir": str(data_dir) if data_dir else None}


class Queue:
    def __init__(self, runs_dir=runs.DEFAULT_RUNS_DIR):
        self.runs_dir = Path(runs_dir)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.runs_dir / QUEUE_FILE
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
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

    def submit(self, job: dict, owner: str) -> int:
        with self._transaction() as db:
            cur = db.execute("INSERT INTO jobs(owner, run_id, spec, status, created) VALUES (?, ?, ?, 'queued', ?)",
                             (owner, job["run_id"], json.dumps(job), time.time()))
            return int(cur.lastrowid)

    def get(self, job_id: int) -> dict | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _as_dict(row) if row else None

    def jobs(self, owner: str | None = None, active_only: bool = False) -> list[dict]:
        sql, args = "SELECT * FROM jobs", []
        where = []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if active_only:
            where.append("status IN ('queued', 'running')")
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._connect() as db:
            return [_as_dict(r) for r in db.execute(sql + " ORDER BY id", args)]

    def position(self, job_id: int) -> int:
        """0 while running, else how many jobs are ahead (running or queued earlier)."""
        with self._connect() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row["status"] != "queued":
                return 0
            return int(db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running' OR (status = 'queued' AND id < ?)",
                                  (job_id,)).fetchone()[0])

    def cancel(self, job_id: int) -> None:
        """A queued job is cancelled at once; a running one stops at its next batch and keeps its weights."""
        with self._transaction() as db:
            db.execute("UPDATE jobs SET status = 'cancelled', finished = ? WHERE id = ? AND status = 'queued'", (time.time(), job_id))
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (job_id,))

    # --- the workers' side ------------------------------------------------------------------

    def claim(self) -> dict | None:
        """Take the oldest queued job for this process, atomically."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = 'running', started = ?, worker_host = ?, worker_pid = ? WHERE id = ?",
                       (time.time(), socket.gethostname(), os.getpid(), row["id"]))
        return self.get(row["id"])

    def cancel_requested(self, job_id: int) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def finish(self, job_id: int, status: str, error: str | None = None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE jobs SET status = ?, error = ?, finished = ? WHERE id = ?", (status, error, time.time(), job_id))

    def reap(self) -> list[int]:
        """Mark running jobs whose worker process (on this host) is gone as failed, run folder too."""
        host = socket.gethostname()
        dead = []
        with self._transaction() as db:
            for row in db.execute("SELECT * FROM jobs WHERE status = 'running' AND worker_host = ?", (host,)).fetchall():
                if not runs.pid_alive(row["worker_pid"]):
                    reason = f"the training worker (process {row['worker_pid']}) stopped unexpectedly: killed, or out of memory"
                    db.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE id = ?", (reason, time.time(), row["id"]))
                    dead.append((row["id"], row["run_id"], reason))
        for _, run_id, reason in dead:
            run_dir = self.runs_dir / run_id
            try:
                if runs.read_run(run_dir).record.get("status") in ("running", "failed"):
                    runs.update_record(run_dir, status="failed", error=reason, finished=runs.now_iso())
            except runs.RunError:
                pass  # the worker died before it made the folder
        return [job_id for job_id, _, _ in dead]


def _as_dict(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["spec"] = json.loads(d["spec"])
    return d

