"""The SQLite database under ``$SKYRUN_HOME``: connections and schema migrations.

WAL lets the SDK read while workers write; writers queue on a lock file beside the
database (``skyrun.db.lock``) and then on SQLite's own lock, instead of failing. Every
process and thread opens its own connection (SQLite connections must not cross a fork).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from skyrun.backends.local import sql

# Each entry migrates the schema from version i to i + 1. Never edit an entry once
# released: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE functions (
        id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        owner TEXT,
        name TEXT,
        image TEXT,
        cpus REAL,
        memory INTEGER,
        maximum_concurrency INTEGER,
        timeout INTEGER,
        retry_count INTEGER,
        enabled INTEGER,
        auto_start INTEGER,
        environment TEXT,
        status TEXT,
        creation_date REAL,
        modified_date REAL,
        env_hash TEXT,
        python TEXT,
        requirements TEXT,
        entrypoint TEXT
    );
    CREATE INDEX functions_namespace ON functions (namespace, creation_date);

    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        function_id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        reference_id TEXT,
        status TEXT NOT NULL,
        args TEXT,
        kwargs TEXT,
        environment TEXT,
        tags TEXT,
        creation_date REAL,
        execution_count INTEGER,
        exit_code INTEGER,
        error_reason TEXT,
        last_execution_date REAL,
        last_completion_date REAL,
        runtime INTEGER,
        statistics TEXT,
        provisioning_time INTEGER,
        pull_time INTEGER,
        queued_date REAL,
        worker_id TEXT,
        lease_expires REAL,
        failures INTEGER NOT NULL DEFAULT 0,
        losses INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_queue ON jobs (function_id, status, queued_date);
    CREATE INDEX jobs_namespace ON jobs (namespace, status);
    CREATE INDEX jobs_created ON jobs (namespace, creation_date);

    CREATE TABLE batches (
        reference_id TEXT PRIMARY KEY,
        function_id TEXT NOT NULL,
        created REAL NOT NULL
    );

    CREATE TABLE blobs (
        id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        storage_type TEXT NOT NULL,
        storage_state TEXT,
        size_bytes INTEGER,
        created REAL,
        modified REAL,
        expires REAL,
        description TEXT,
        extra_properties TEXT,
        tags TEXT,
        owners TEXT,
        readers TEXT,
        writers TEXT,
        href TEXT,
        hash TEXT
    );
    CREATE INDEX blobs_name ON blobs (namespace, storage_type, name);
    CREATE INDEX blobs_expires ON blobs (expires) WHERE expires IS NOT NULL;

    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        function_id TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        started REAL NOT NULL
    );
    CREATE INDEX workers_function ON workers (function_id);
    """,
    # 1 -> 2: searches filter on status with a range on runtime (``status in [...] &
    # runtime > 60``); with runtime in the index they are answered from the index alone.
    # It replaces (namespace, status), whose lookups (the claim's namespace count) it
    # still serves, so job writes maintain no extra index.
    """
    DROP INDEX jobs_namespace;
    CREATE INDEX jobs_namespace_status ON jobs (namespace, status, runtime);
    """,
    # 2 -> 3: where a Function's jobs run on AWS (``compute_target``); stored here so that
    # it is searchable alike on both backends, and ignored by the local launcher.
    """
    ALTER TABLE functions ADD COLUMN compute_target TEXT;
    """,
    # 3 -> 4: the limits on running jobs are held by worker slots (skyrun.domain.slots),
    # one row per slot ever taken, instead of counting active jobs in every claim.
    """
    CREATE TABLE slots (
        key TEXT PRIMARY KEY,
        holder TEXT,
        expires REAL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 4 -> 5: the monitor's charts of a Function of 100,000 jobs. The four measured
    # numbers they bin get columns of their own (STAT_COLUMNS below), written with
    # ``statistics`` by the store, so that a chart parses no JSON; the jobs stored before are
    # filled in here. The timeline reads a covering index of the started jobs in start
    # order (partial: a pending job has no entry, so submission does not pay for it).
    """
    ALTER TABLE jobs ADD COLUMN stat_cpu_total REAL;
    ALTER TABLE jobs ADD COLUMN stat_cpu_time INTEGER;
    ALTER TABLE jobs ADD COLUMN stat_peak_bytes INTEGER;
    ALTER TABLE jobs ADD COLUMN stat_peak_percentage REAL;
    UPDATE jobs SET stat_cpu_total = json_extract(statistics, '$.cpu.total'),
        stat_cpu_time = json_extract(statistics, '$.cpu.time'),
        stat_peak_bytes = json_extract(statistics, '$.memory.peak_bytes'),
        stat_peak_percentage = json_extract(statistics, '$.memory.peak_percentage')
        WHERE statistics IS NOT NULL;
    CREATE INDEX jobs_timeline ON jobs
        (function_id, last_execution_date, id, status, last_completion_date)
        WHERE last_execution_date IS NOT NULL;
    """,
]

#: The columns of the jobs table that hold a job's measured numbers beside its
#: ``statistics`` (migration 4 -> 5), in the order of ``summary.statistics_values``.
STAT_COLUMNS = ("stat_cpu_total", "stat_cpu_time", "stat_peak_bytes", "stat_peak_percentage")
#: Columns of the jobs table that are not fields of a job record (the row number and the
#: measured numbers); decoding a row drops them.
JOB_DERIVED_COLUMNS = ("seq", *STAT_COLUMNS)


# How often a worker's checkpoint thread copies the WAL into the database file (see
# Database.defer_checkpoints).
CHECKPOINT_SECONDS = 0.5


def _begin_immediate(conn: sqlite3.Connection) -> None:
    # Other skyrun writers are waited for on the lock file (_writers_lock), so the
    # write lock is free here unless another program holds it (a backup, a sqlite3
    # shell): then SQLite's busy handler waits for it, up to the connection's 60 s.
    conn.execute("BEGIN IMMEDIATE")


class _LockFile:
    """One thread's descriptor of a database's writers' lock file: its own open file, so
    that ``flock`` excludes the process's other threads too."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.pid = os.getpid()
        self.depth = 0  # nested holds of this thread (an error path: SQLite refuses them)

    def __enter__(self) -> _LockFile:
        if self.depth == 0:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if self.depth == 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def __del__(self) -> None:
        if self.pid == os.getpid():  # a forked child's copy is the parent's to close
            os.close(self.fd)


_locks = threading.local()


def _writers_lock(db_path: str) -> _LockFile:
    """This thread's hold on the writers' lock of the database at ``db_path``.

    Writers queue here, in the kernel, before ``BEGIN IMMEDIATE``: a writer that waits
    sleeps until the one before it is done and wakes then, instead of polling SQLite's
    lock with growing sleeps (each poll a failed ``BEGIN``, about every other job with
    two workers: CPU of its own, and up to a sleep's length late), and ``BEGIN
    IMMEDIATE`` needs no change of the busy timeout around it (two statements a
    transaction). SQLite's lock still decides; a process that does not take this lock
    (an older skyrun, the sqlite3 shell) is waited for by SQLite's busy handler, up to
    60 s. A writer stopped inside a transaction (SIGSTOP) holds the others until it
    goes on or dies, where SQLite's lock alone made them fail after 60 s.
    """
    held = getattr(_locks, "files", None)
    if held is None:
        held = _locks.files = {}
    lock = held.get(db_path)
    if lock is None or lock.pid != os.getpid():
        lock = held[db_path] = _LockFile(f"{db_path}.lock")
    return lock


class Database:
    """A path to the SQLite file, with one connection per thread and process."""

    #: The file's name under ``SKYRUN_HOME``.
    FILE_NAME = "skyrun.db"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One lock per file, whatever path names it (see _writers_lock).
        self._lock_path = os.path.realpath(self.path)
        self._local = threading.local()
        self._migrate()

    @classmethod
    def in_home(cls, home: Path) -> Database:
        """The database of the embedded backend at ``home``."""
        return cls(Path(home) / cls.FILE_NAME)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, reopened after a fork)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives any process crash; only an OS crash or power loss
            # can drop the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.create_function(sql.LOWER, 1, sql.lower, deterministic=True)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (``BEGIN IMMEDIATE``) so it cannot deadlock
        on a lock upgrade."""
        conn = self.connection()
        with _writers_lock(self._lock_path):
            _begin_immediate(conn)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def defer_checkpoints(self, interval: float = CHECKPOINT_SECONDS) -> Callable[[], None]:
        """Move this thread's WAL checkpoints to a thread of their own, until the returned
        function is called; for a process that commits at a high rate (a worker).

        By default the commit that takes the WAL past 1,000 pages runs the checkpoint
        itself: it copies pages into the database file and syncs it (with
        ``synchronous=NORMAL``, a checkpoint is where the file is synced), while holding
        the write lock that the next job's claim waits for. Here this thread's
        connection never checkpoints, and a thread with its own connection runs a
        ``PASSIVE`` checkpoint every ``interval`` seconds (it takes no lock a writer
        needs). The SDK's connections keep the default, and a last checkpoint runs when
        the returned function is called.
        """
        self.connection().execute("PRAGMA wal_autocheckpoint=0")
        stopped = threading.Event()

        def run() -> None:
            conn = self.connection()
            while True:
                last = stopped.wait(interval)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # the next round tries again; the SDK's commits checkpoint too
                if last:
                    return

        thread = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
        thread.start()

        def stop() -> None:
            stopped.set()
            thread.join(30)
            self.connection().execute("PRAGMA wal_autocheckpoint=1000")

        return stop

    def _migrate(self) -> None:
        conn = self.connection()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= len(MIGRATIONS):
            return
        with self.transaction() as tx:
            # Re-read inside the lock: another process may have migrated meanwhile.
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[i].split(";"):
                    if statement.strip():
                        tx.execute(statement)
            tx.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    @property
    def schema_version(self) -> int:
        """The schema version of the file."""
        return int(self.connection().execute("PRAGMA user_version").fetchone()[0])
