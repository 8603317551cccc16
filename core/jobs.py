"""The training queue: serialisable jobs (config in, run folder out) in an SQLite table.

Browser sessions submit a JobSpec; worker processes (core.worker) claim one Job at a time each. A spec
is plain JSON (`JobSpec.to_dict`) that `core.worker.run_job` turns into a run folder, so the same jobs
could be handed to a cluster engine (e.g. `ray.remote(run_job)`) without changing the pages. No Keras here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core import runs
from core.config import ConfigError, TrainConfig, from_dict

QUEUE_FILE = ".queue.sqlite"
ACTIVE = ("queued", "running")
MAX_ATTEMPTS = 3  # a job whose worker dies is resumed by the next worker this many times in all, then failed
MAX_SEEDS = 10

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


@dataclass(frozen=True)
class JobSpec:
    """What a worker anywhere needs to fill one run folder; plain JSON both ways (to_dict, from_dict)."""

    config: TrainConfig
    name: str
    run_id: str
    runs_dir: str
    preset: str | None = None
    data_dir: str | None = None
    resume: bool = False  # continue the existing run `run_id` from its checkpoint
    epochs: int | None = None  # with resume: train until this many epochs in all
    group: dict | None = None  # one of several seeds of the same settings (see seed_group)
    owner: str | None = None  # recorded in the run (who may change it)
    assignment: str | None = None  # the assignment it answers (core.classroom), recorded in the run
    lr_find: bool = False  # a learning-rate range test (core.lr_finder) instead of a run: its result is a file

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.run_id

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> "JobSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in values.items() if k in known}, "config": from_dict(values["config"])})


@dataclass(frozen=True)
class Job:
    """A row of the queue. `spec` is None only for a job whose stored spec this version cannot read
    (`problem` says why); the queue fails such a job instead of running it."""

    id: int
    owner: str
    status: str
    run_id: str
    spec: JobSpec | None
    cancel_requested: bool = False
    attempts: int = 0
    worker_host: str | None = None
    worker_pid: int | None = None
    error: str | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    problem: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def name(self) -> str:
        return self.spec.name if self.spec else self.run_id

    @property
    def run_dir(self) -> Path | None:
        return self.spec.run_dir if self.spec else None


def make_job(config: TrainConfig, runs_dir, *, name: str, preset: str | None = None, data_dir=None) -> JobSpec:
    """A job that trains `config` into a new run folder."""
    return JobSpec(config, runs.clean_name(name), runs.new_run_id(), str(Path(runs_dir).resolve()), preset,
                   str(data_dir) if data_dir else None)


def seed_group(config: TrainConfig, seeds: int) -> list[tuple[TrainConfig, dict]]:
    """The same settings with `seeds` consecutive seeds (from the config's), each with the group record that ties
    the runs together for Compare: {"id", "seeds", "index"}."""
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"seeds = {seeds} is out of range: repeat a run with 1 to {MAX_SEEDS} seeds")
    group_id = "g-" + runs.new_run_id()
    return [(config.replace(seed=config.seed + i), {"id": group_id, "seeds": seeds, "index": i}) for i in range(seeds)]


def make_seed_jobs(config: TrainConfig, runs_dir, *, name: str, seeds: int, preset: str | None = None,
                   data_dir=None) -> list[JobSpec]:
    """One job per seed ("name · seed 3"); a single seed is a plain job."""
    if seeds == 1:
        return [make_job(config, runs_dir, name=name, preset=preset, data_dir=data_dir)]
    return [dataclasses.replace(make_job(c, runs_dir, name=seeded_name(name, c.seed), preset=preset, data_dir=data_dir),
                                group=group) for c, group in seed_group(config, seeds)]


def seeded_name(name: str, seed: int) -> str:
    suffix = f" · seed {seed}"
    return runs.clean_name(name[: runs.MAX_NAME_LENGTH - len(suffix)].rstrip() + suffix)


def lr_find_file(runs_dir, run_id: str) -> Path:
    """Where a learning-rate range test job writes its result (JSON)."""
    return Path(runs_dir) / ".lrfind" / f"{run_id}.json"


def make_lr_find_job(config: TrainConfig, runs_dir, *, data_dir=None) -> JobSpec:
    return JobSpec(config, "learning-rate finder", runs.new_run_id(), str(Path(runs_dir).resolve()),
                   data_dir=str(data_dir) if data_dir else None, lr_find=True)


def make_resume_job(run: runs.Run, *, epochs: int | None = None, data_dir=None) -> JobSpec:
    """A job that continues an existing run from its checkpoint (to `epochs` in all, default its own)."""
    config = from_dict({**run.config, "epochs": epochs or run.config["epochs"]})
    return JobSpec(config, run.name, run.id, str(run.path.parent.resolve()), run.record.get("preset"),
                   str(data_dir) if data_dir else None, resume=True, epochs=epochs, group=run.record.get("group"))


_READY: set[Path] = set()  # queue files whose schema this process has created or migrated


class Queue:
    def __init__(self, runs_dir=runs.DEFAULT_RUNS_DIR):
        self.runs_dir = Path(runs_dir)
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

    def submit(self, spec: JobSpec, owner: str, identity=None, assignment=None) -> int:
        """Queue a job for `owner`. A signed-in student's (`identity`) must fit the class's rules and the
        assignment's (core.classroom.check_job): ClassroomError says which one it breaks. A run is continued
        only by its owner or the instructor, within the rules of the assignment it was trained for, and by one
        job at a time (RunError)."""
        from core import classroom

        spec = dataclasses.replace(spec, owner=spec.owner or owner)
        with self._transaction() as db:
            if spec.resume and db.execute("SELECT 1 FROM jobs WHERE run_id = ? AND status IN ('queued', 'running')",
                                          (spec.run_id,)).fetchone():
                raise runs.RunError(f"“{spec.name}” is already in the queue: follow it on the Train page")
            if identity is not None:
                if spec.resume:
                    assignment = self._continued_assignment(spec, identity)
                waiting = db.execute("SELECT COUNT(*) FROM jobs WHERE owner = ? AND status IN ('queued', 'running')",
                                     (owner,)).fetchone()[0]
                classroom.check_job(self.runs_dir, identity, spec.config, waiting, assignment, short_test=spec.lr_find)
            cur = db.execute("INSERT INTO jobs(owner, run_id, spec, status, created) VALUES (?, ?, ?, 'queued', ?)",
                             (owner, spec.run_id, json.dumps(spec.to_dict()), time.time()))
            return int(cur.lastrowid)

    def _continued_assignment(self, spec: JobSpec, identity):
        """The assignment whose rules a continued run stays under; ClassroomError if `identity` may not continue it."""
        from core import classroom

        record = runs.read_run(Path(spec.runs_dir) / spec.run_id).record
        if not classroom.may_change(identity, record):
            raise classroom.ClassroomError(f"“{spec.name}” is {record.get('owner') or 'someone else'}'s: only they and "
                                           "the instructor can continue it")
        return next((a for a in classroom.assignments(self.runs_dir) if a.id == record.get("assignment")), None)

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
            where.append("status IN ('queued', 'running')")
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

    def cancel(self, job_id: int, identity=None) -> None:
        """A queued job is cancelled at once; a running one stops at its next batch and keeps its weights. With
        sign-in, only its owner and the instructor may (ClassroomError otherwise)."""
        from core import classroom

        if identity is not None:
            job = self.get(job_id)
            if job is not None and not classroom.may_change(identity, {"owner": job.owner}):
                raise classroom.ClassroomError(f"“{job.name}” is {job.owner}'s: only they and the instructor can stop it")
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status = 'cancelled', finished = ? WHERE id = ? AND status = 'queued'", (time.time(), job_id)
            )
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (job_id,))

    # --- the workers' side ------------------------------------------------------------------

    def claim(self) -> Job | None:
        """Take the oldest queued job for this process, atomically (failing any this version cannot read); none
        while the instructor has paused training."""
        from core import classroom

        if classroom.rules(self.runs_dir).paused:
            return None
        while True:
            with self._transaction() as db:
                row = db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
                if row is None:
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

    def clear(self, identity) -> int:
        """The instructor empties the queue: every waiting job cancelled (training ones go on). Returns how many."""
        from core import classroom

        classroom.require_instructor(identity, "clear the queue")
        with self._transaction() as db:
            return db.execute("UPDATE jobs SET status = 'cancelled', finished = ? WHERE status = 'queued'",
                              (time.time(),)).rowcount

    def finish(self, job_id: int, status: str, error: str | None = None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE jobs SET status = ?, error = ?, finished = ? WHERE id = ?", (status, error, time.time(), job_id))

    def requeue(self, job_id: int, reason: str) -> str:
        """A running job whose training died elsewhere (a cluster node, core.cluster), as reap does for local
        workers: back in the queue, first in line, or failed after MAX_ATTEMPTS starts. Returns the error recorded."""
        with self._transaction() as db:
            attempts = db.execute("SELECT attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            if attempts < MAX_ATTEMPTS:
                reason += f"; it continues from its last completed epoch (attempt {attempts + 1} of {MAX_ATTEMPTS})"
                db.execute("UPDATE jobs SET status = 'queued', error = ?, worker_pid = NULL, started = NULL WHERE id = ?",
                           (reason, job_id))
            else:
                reason += f", {MAX_ATTEMPTS} times; the run keeps its last checkpoint"
                db.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE id = ?",
                           (reason, time.time(), job_id))
        return reason

    def reap(self) -> list[int]:
        """Running jobs whose worker process (on this host) is gone: back in the queue, first in line, to be
        resumed from their checkpoint by the next worker; failed, run folder too, after MAX_ATTEMPTS starts.
        Returns the ids of the jobs it found dead."""
        host = socket.gethostname()
        dead = []
        with self._transaction() as db:
            for row in db.execute("SELECT * FROM jobs WHERE status = 'running' AND worker_host = ?", (host,)).fetchall():
                if runs.pid_alive(row["worker_pid"]):
                    continue
                reason = f"the training worker (process {row['worker_pid']}) stopped unexpectedly: killed, or out of memory"
                if row["attempts"] < MAX_ATTEMPTS:
                    reason += f"; it continues from its last completed epoch (attempt {row['attempts'] + 1} of {MAX_ATTEMPTS})"
                    db.execute("UPDATE jobs SET status = 'queued', error = ?, worker_pid = NULL, started = NULL WHERE id = ?",
                               (reason, row["id"]))
                else:
                    reason += f", {MAX_ATTEMPTS} times; the run keeps its last checkpoint"
                    db.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE id = ?",
                               (reason, time.time(), row["id"]))
                dead.append((row["id"], row["run_id"], reason))
        for _, run_id, reason in dead:
            run_dir = self.runs_dir / run_id
            try:
                if runs.read_run(run_dir).record.get("status") in ("running", "failed"):
                    runs.update_record(run_dir, status="failed", error=reason, finished=runs.now_iso())
            except runs.RunError:
                pass  # the worker died before it made the folder
        return [job_id for job_id, _, _ in dead]


def _as_job(row: sqlite3.Row) -> Job:
    values = dict(row)
    spec, problem = None, None
    try:
        spec = JobSpec.from_dict(json.loads(values.pop("spec")))
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        problem = f"this job's settings cannot be read by this version of the dashboard ({e}); train it again"
    values["cancel_requested"] = bool(values["cancel_requested"])
    return Job(**values, spec=spec, problem=problem)
