"""The SQLite database under ``$SKYRUN_HOME``: connections and schema migrations.

WAL lets the SDK read while workers write; writers queue on a lock file beside the
database (``skyrun.db.lock``) and then on SQLite's own lock, instead of failing. Every
process and thread opens its own connection (SQLite connections must not cross a fork).
"""

from __future__ import annotations

import fcntl
import os
import queue
import sqlite3
import threading
import time
import weakref
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


def _begin_immediate(conn: sqlite3.Connection, waited: float) -> None:
    # Other skyrun writers are waited for on the lock file (_LockFile), so the write
    # lock is free here unless another program holds it (a backup, a sqlite3 shell):
    # then SQLite's busy handler waits for it, up to the connection's 60 s less what
    # this writer has already waited on the lock file, so that no writer waits longer
    # than the busy timeout in all (give or take LONG_WAIT). A wait that long is rare (a
    # turn on the lock file takes well under a millisecond), and only then are the
    # pragmas paid.
    if waited < LONG_WAIT:
        conn.execute("BEGIN IMMEDIATE")
        return
    conn.execute(f"PRAGMA busy_timeout={max(0, int((WRITE_TIMEOUT - waited) * 1000))}")
    try:
        conn.execute("BEGIN IMMEDIATE")
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(WRITE_TIMEOUT * 1000)}")


#: How long a writer waits for other writers in all, on the lock file and then on
#: SQLite's lock (the connections' busy timeout), before its write fails.
WRITE_TIMEOUT = 60.0
#: A wait on the lock file after which BEGIN IMMEDIATE waits only for what is left of
#: WRITE_TIMEOUT (see _begin_immediate).
LONG_WAIT = 0.05

# Every live _LockFile of this process, and the descriptors of the waits given up (owned
# by a waiting thread until it unlocks and closes them): a forked child closes its copies
# (_close_in_child) so that they cannot keep the parent's lock held after it dies.
_lock_files: weakref.WeakSet[_LockFile] = weakref.WeakSet()
_given_up: set[int] = set()


class _LockFile:
    """One thread's descriptor of a database's writers' lock file: its own open file, so
    that ``flock`` excludes the process's other threads too.

    Writers queue here, in the kernel, before ``BEGIN IMMEDIATE``: a writer that waits
    sleeps until the one before it is done and wakes then, instead of polling SQLite's
    lock with growing sleeps (each poll a failed ``BEGIN``, about every other job with
    two workers: CPU of its own, and up to a sleep's length late), and ``BEGIN
    IMMEDIATE`` needs no change of the busy timeout around it. SQLite's lock still
    decides; a process that does not take this lock (an older skyrun, the sqlite3
    shell) is waited for by SQLite's busy handler.

    The wait is bounded by :data:`WRITE_TIMEOUT`, whatever holds the lock file (a
    process stopped inside a transaction, a descriptor inherited by a process this code
    did not see fork): ``flock`` itself has no timeout, and a signal to interrupt it
    would work only in the main thread and disturb the user's handlers. So a free lock
    is taken at once (``LOCK_NB``, one call), and a taken one is waited for by a thread
    of a small pool (:class:`_Waiter`) that blocks in ``flock`` while the writer waits
    on a Python lock with a timeout: both sleep in the kernel, and the writer wakes when
    the lock file is released, with no polling. Past the timeout the writer gives the
    descriptor up to the waiting thread (which unlocks and closes it once it gets the
    lock) and goes on to ``BEGIN IMMEDIATE`` under SQLite's busy handler, which stays
    the real arbiter, with what is left of the timeout.
    """

    def __init__(self, path: str):
        self.fd = -1  # set first, so that __del__ works when the open fails
        self.path = path
        self.depth = 0  # nested holds of this thread (an error path: SQLite refuses them)
        self.held = False  # whether this thread holds the flock (not after a give-up)
        self.waited = 0.0  # how long the last outermost hold waited for the lock file
        self.fd = self._open()
        _lock_files.add(self)

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except PermissionError:
            # A shared home this user may only read: flock needs no write access, and
            # SQLite decides whether the write itself is allowed.
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)

    def __enter__(self) -> _LockFile:
        if self.depth == 0:
            if self.fd < 0:  # closed in a forked child: this process's own descriptor
                self.fd = self._open()
            self.waited = 0.0
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.held = True
            except BlockingIOError:
                started = time.monotonic()
                self.held = _Waiter.lock(self.fd, WRITE_TIMEOUT)
                self.waited = time.monotonic() - started
                if not self.held:  # the descriptor is the waiting thread's now
                    self.fd = -1
                    self.waited = WRITE_TIMEOUT
        self.depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        if self.depth == 0:  # a transaction a fork cut short (see _close_in_child)
            return
        self.depth -= 1
        if self.depth == 0 and self.held:
            self.held = False
            if self.fd >= 0:  # not when a fork in the transaction closed it (the child)
                fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the descriptor (releasing the lock if this process holds it)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


class _Waiter:
    """A thread that blocks in ``flock`` for a writer, so that the writer can wait with a
    timeout (see :class:`_LockFile`). Idle ones are kept for the next wait; one that
    never gets its lock stays blocked, and the next wait starts another."""

    _idle: list[_Waiter] = []

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="skyrun-lock-wait", daemon=True).start()

    @classmethod
    def lock(cls, fd: int, timeout: float) -> bool:
        """Whether ``fd`` got the exclusive lock within ``timeout`` seconds; if not, the
        descriptor now belongs to the waiter, which closes it."""
        try:
            waiter = cls._idle.pop()
        except IndexError:
            waiter = cls()
        request = _Request(fd)
        waiter._requests.put(request)
        request.done.acquire(timeout=timeout)
        with request.mutex:
            if request.error is not None:
                raise request.error
            if not request.acquired:
                request.given_up = True
                _given_up.add(fd)
            return request.acquired

    def _run(self) -> None:
        while True:
            request = self._requests.get()
            try:
                fcntl.flock(request.fd, fcntl.LOCK_EX)
            except OSError as exc:
                request.error = exc
            with request.mutex:
                if request.given_up:
                    _given_up.discard(request.fd)
                    os.close(request.fd)  # releases the lock just taken
                else:
                    request.acquired = request.error is None
            # Idle again before the writer wakes: its next wait finds this thread.
            self._idle.append(self)
            request.done.release()


class _Request:
    """One wait handed to a :class:`_Waiter`."""

    def __init__(self, fd: int):
        self.fd = fd
        self.done = threading.Lock()
        self.done.acquire()  # released by the waiter when flock returns
        self.mutex = threading.Lock()  # orders the writer's give-up and the lock's arrival
        self.acquired = False
        self.given_up = False
        self.error: OSError | None = None


def _close_in_child() -> None:
    # A forked child must not keep copies of the parent's lock descriptors: a copy of
    # one that is locked holds the lock for as long as the child lives, also after the
    # parent dies (SIGKILL inside a transaction), and would hold every writer of the
    # database. Closing the copy does not release the parent's lock (the lock belongs
    # to the open file, which the parent still has open). The waiting threads do not
    # exist in the child.
    for lock in list(_lock_files):
        lock.close()
        lock.held, lock.depth = False, 0  # the child's writes take the lock afresh
    for fd in _given_up:
        os.close(fd)
    _given_up.clear()
    _Waiter._idle = []


os.register_at_fork(after_in_child=_close_in_child)


class Database:
    """A path to the SQLite file, with one connection per thread and process."""

    #: The file's name under ``SKYRUN_HOME``.
    FILE_NAME = "skyrun.db"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The lock file beside the file the path names, whatever link leads there.
        self._lock_path = os.path.realpath(self.path) + ".lock"
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
            conn = sqlite3.connect(self.path, timeout=WRITE_TIMEOUT, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives any process crash; only an OS crash or power loss
            # can drop the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(WRITE_TIMEOUT * 1000)}")
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
        with self._writers_lock() as lock:
            _begin_immediate(conn, lock.waited)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _writers_lock(self) -> _LockFile:
        # This thread's lock file descriptor lives as long as this Database and the
        # thread, whichever ends first (a threading.local of the Database), not for the
        # life of the thread whatever the number of homes it opened.
        lock: _LockFile | None = getattr(self._local, "lock", None)
        if lock is None:
            lock = self._local.lock = _LockFile(self._lock_path)
        return lock

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
