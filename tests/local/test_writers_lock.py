"""Writers queue on the database's lock file (``skyrun.db.lock``) before SQLite's lock:
one BEGIN per transaction, no polling, a bounded wait, nothing inherited by a fork, and
no descriptor kept past its Database."""

from __future__ import annotations

import fcntl
import gc
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import skyrun.backends.local.database as database
from skyrun.backends.local.database import Database

INSERT = "INSERT INTO batches (reference_id, function_id, created) VALUES (?, 'f', 0)"

HOLD = """
import sys, time
from skyrun.backends.local.database import Database
db = Database(sys.argv[1])
with db.transaction() as tx:
    tx.execute("INSERT INTO batches (reference_id, function_id, created) VALUES ('held', 'f', 0)")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""

# Holds only the lock file, as another skyrun writer queued ahead would: not SQLite's lock.
HOLD_LOCK_FILE = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + ".lock", os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
fcntl.flock(fd, fcntl.LOCK_UN)
"""

# Takes the lock once, forks a long-lived child (as a multiprocessing pool with the fork
# start method does), then holds the lock inside a transaction until it is killed.
FORK_THEN_HOLD = """
import os, sys, time
from skyrun.backends.local.database import Database
db = Database(sys.argv[1])
with db.transaction() as tx:
    tx.execute("INSERT INTO batches (reference_id, function_id, created) VALUES ('first', 'f', 0)")
pid = os.fork()
if pid == 0:
    time.sleep(60)
    os._exit(0)
print(pid, flush=True)
with db.transaction() as tx:
    tx.execute("INSERT INTO batches (reference_id, function_id, created) VALUES ('held', 'f', 0)")
    print("held", flush=True)
    time.sleep(60)
"""

WRITE = """
import sys, time
from skyrun.backends.local.database import Database
db = Database(sys.argv[1])
started = time.monotonic()
with db.transaction() as tx:
    tx.execute("INSERT INTO batches (reference_id, function_id, created) VALUES ('after', 'f', 0)")
print(time.monotonic() - started, flush=True)
"""


def _begins(conn: sqlite3.Connection) -> list[str]:
    # Every BEGIN the connection runs, failed ones included (a poll of SQLite's lock).
    seen: list[str] = []
    conn.set_trace_callback(lambda s: seen.append(s) if s.startswith("BEGIN") else None)
    return seen


def _lock_file_taken(db: Database) -> bool:
    # Asked through a descriptor of its own, as another process would.
    fd = os.open(f"{db.path}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _sqlite_lock_free(db: Database) -> bool:
    conn = sqlite3.connect(db.path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _count(db: Database, reference_id: str) -> int:
    return int(db.connection().execute("SELECT count(*) FROM batches WHERE reference_id = ?",
                                       (reference_id,)).fetchone()[0])


def test_a_writer_waits_for_another_process_without_polling(tmp_path):
    db = Database(tmp_path / "skyrun.db")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db.path), "0.6"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        begins = _begins(db.connection())
        started = time.monotonic()
        with db.transaction() as tx:
            # The holder committed before this transaction began: its row is there.
            assert tx.execute("SELECT count(*) FROM batches WHERE reference_id = 'held'"
                              ).fetchone()[0] == 1
            tx.execute(INSERT, ("after",))
        waited = time.monotonic() - started
    finally:
        holder.wait(30)
    assert waited > 0.3
    assert begins == ["BEGIN IMMEDIATE"]  # one, when the lock was free: no failed polls
    assert db.connection().execute("SELECT count(*) FROM batches").fetchone()[0] == 2


def test_a_writer_waits_for_the_lock_file_while_sqlites_lock_is_free(tmp_path):
    # The lock file alone makes a writer wait: without it, SQLite's free lock would let
    # the write through at once.
    db = Database(tmp_path / "skyrun.db")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK_FILE, str(db.path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    written = threading.Event()

    def write() -> None:
        with db.transaction() as tx:
            tx.execute(INSERT, ("waited",))
        written.set()

    writer = threading.Thread(target=write)
    try:
        assert holder.stdout.readline().strip() == "held"
        writer.start()
        assert not written.wait(0.5)
        assert _sqlite_lock_free(db)  # it waits on the lock file, not on SQLite
        assert _count(db, "waited") == 0
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert written.wait(10)
    finally:
        holder.stdin.close()
        holder.wait(30)
        writer.join(30)
    assert _count(db, "waited") == 1


def test_every_thread_holds_the_lock_file_for_the_whole_of_its_transaction(tmp_path):
    # A thread that queued behind another of the same process must hold the lock file
    # itself once it is in: one descriptor shared by the threads would be released by
    # the first one to finish, under the second one's transaction.
    db = Database(tmp_path / "skyrun.db")
    first_in, first_go, second_in, second_go = (threading.Event() for _ in range(4))
    errors: list[BaseException] = []

    def first() -> None:
        with db.transaction() as tx:
            tx.execute(INSERT, ("first",))
            first_in.set()
            first_go.wait(10)

    def second() -> None:
        try:
            first_in.wait(10)
            with db.transaction() as tx:
                tx.execute(INSERT, ("second",))
                second_in.set()
                second_go.wait(10)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    try:
        assert first_in.wait(10)
        assert _lock_file_taken(db)
        assert not second_in.wait(0.3)  # queued behind the first
        first_go.set()
        assert second_in.wait(10)
        assert _lock_file_taken(db)  # the second holds it now, inside its transaction
    finally:
        first_go.set()
        second_go.set()
        for t in threads:
            t.join(30)
    assert not errors
    assert not _lock_file_taken(db)


def test_threads_of_one_process_exclude_each_other(tmp_path):
    db = Database(tmp_path / "skyrun.db")
    db.connection().execute("CREATE TABLE counter (n INTEGER)")
    db.connection().execute("INSERT INTO counter VALUES (0)")
    begins: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            begins[name] = _begins(db.connection())
            for _ in range(100):
                with db.transaction() as tx:
                    n = tx.execute("SELECT n FROM counter").fetchone()[0]
                    tx.execute("UPDATE counter SET n = ?", (n + 1,))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert db.connection().execute("SELECT n FROM counter").fetchone()[0] == 300
    assert {name: len(seen) for name, seen in begins.items()} == {"t0": 100, "t1": 100,
                                                                  "t2": 100}


def test_a_forked_child_does_not_keep_a_killed_parents_lock(tmp_path):
    # The parent is killed inside a transaction while the child it forked lives on: the
    # child's copy of the lock descriptor must not hold every writer of the home.
    db = Database(tmp_path / "skyrun.db")
    holder = subprocess.Popen([sys.executable, "-c", FORK_THEN_HOLD, str(db.path)],
                              stdout=subprocess.PIPE, text=True)
    child = int(holder.stdout.readline())
    try:
        assert holder.stdout.readline().strip() == "held"
        holder.kill()
        holder.wait(30)
        writer = subprocess.run([sys.executable, "-c", WRITE, str(db.path)],
                                capture_output=True, text=True, timeout=20)
        assert writer.returncode == 0, writer.stderr
        assert float(writer.stdout) < 5
        os.kill(child, 0)  # the child was alive all along
    finally:
        holder.kill()
        try:
            os.kill(child, 9)
        except ProcessLookupError:
            pass
    assert _count(db, "after") == 1
    assert _count(db, "held") == 0  # rolled back with the killed parent


def test_a_lock_file_held_for_ever_delays_a_writer_only_up_to_the_timeout(tmp_path,
                                                                          monkeypatch):
    # Whatever holds the lock file (a process this code did not see fork, a stopped
    # one), a writer waits for it at most WRITE_TIMEOUT, then SQLite's lock decides.
    monkeypatch.setattr(database, "WRITE_TIMEOUT", 1.0)
    db = Database(tmp_path / "skyrun.db")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK_FILE, str(db.path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    took: list[float] = []

    def write() -> None:
        started = time.monotonic()
        for i in range(2):
            with db.transaction() as tx:
                tx.execute(INSERT, (f"w{i}",))
            took.append(time.monotonic() - started)

    writer = threading.Thread(target=write, daemon=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        writer.start()
        writer.join(10)
        assert not writer.is_alive()
        assert _lock_file_taken(db)  # still held: the writes went past it
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert 0.9 < took[0] < 3 and took[1] - took[0] < 3
    assert _count(db, "w0") == _count(db, "w1") == 1
    # Once the holder lets go, the lock file is free again and taken as usual.
    deadline = time.monotonic() + 5
    while _lock_file_taken(db) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _lock_file_taken(db)
    with db.transaction() as tx:
        assert _lock_file_taken(db)
        tx.execute(INSERT, ("w2",))


def test_queued_writers_wait_for_another_programs_writer_up_to_the_timeout_in_all(
        tmp_path, monkeypatch):
    # A program that takes SQLite's lock without the lock file (the sqlite3 shell): each
    # queued writer fails after WRITE_TIMEOUT from its start, not the k-th after k times.
    monkeypatch.setattr(database, "WRITE_TIMEOUT", 1.0)
    db = Database(tmp_path / "skyrun.db")
    foreign = sqlite3.connect(db.path, isolation_level=None)
    foreign.execute("BEGIN IMMEDIATE")
    results: list[tuple[str, float]] = []

    def write(i: int) -> None:
        started = time.monotonic()
        try:
            with db.transaction() as tx:
                tx.execute(INSERT, (f"w{i}",))
            results.append(("ok", time.monotonic() - started))
        except sqlite3.OperationalError as exc:
            results.append((str(exc), time.monotonic() - started))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    foreign.execute("ROLLBACK")
    assert [r[0] for r in results] == ["database is locked"] * 3
    assert all(0.9 < took < 1.8 for _, took in results), results


def test_descriptors_do_not_pile_up_across_homes(tmp_path):
    # A process that opens many homes in turn (a test suite, a service) keeps no lock
    # descriptor once a home's Database is gone.
    def open_fds() -> int:
        # Descriptors of these homes' files only: other threads of the test process (a
        # sandbox's loops, connection pools) open and close their own meanwhile.
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            count += target.startswith(str(tmp_path))
        return count

    def use(i: int) -> None:
        db = Database(tmp_path / f"h{i}" / "skyrun.db")
        with db.transaction() as tx:
            tx.execute(INSERT, ("x",))

    use(0)
    gc.collect()
    before = open_fds()
    for i in range(1, 200):
        use(i)
    gc.collect()
    assert open_fds() - before < 5


def test_a_failed_begin_releases_the_lock_file(tmp_path):
    # BEGIN IMMEDIATE fails (another program's writer, past the busy timeout): the lock
    # file is released, and the next transaction of the thread takes it again.
    db = Database(tmp_path / "skyrun.db")
    db.connection().execute("PRAGMA busy_timeout=100")
    foreign = sqlite3.connect(db.path, isolation_level=None)
    foreign.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        with db.transaction():
            pass
    assert not _lock_file_taken(db)
    foreign.execute("ROLLBACK")
    with db.transaction() as tx:
        assert _lock_file_taken(db)
        tx.execute(INSERT, ("next",))
    assert not _lock_file_taken(db)
    assert _count(db, "next") == 1


def test_a_refused_nested_transaction_leaves_the_outer_one_holding_the_lock(tmp_path):
    # SQLite refuses a transaction inside another; the refusal must not release the
    # lock file while the outer transaction still runs.
    db = Database(tmp_path / "skyrun.db")
    entered = threading.Event()
    with db.transaction() as tx:
        with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
            with db.transaction():
                pass
        tx.execute(INSERT, ("outer",))
        assert _lock_file_taken(db)

        def writer() -> None:
            with db.transaction() as inner:
                inner.execute(INSERT, ("thread",))
            entered.set()

        thread = threading.Thread(target=writer)
        thread.start()
        assert not entered.wait(0.2)  # it waits for the outer transaction
    thread.join(30)
    assert entered.is_set()
    assert not _lock_file_taken(db)
    rows = [r[0] for r in db.connection().execute("SELECT reference_id FROM batches "
                                                  "ORDER BY rowid")]
    assert rows == ["outer", "thread"]
