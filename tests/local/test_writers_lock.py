"""Writers queue on the database's lock file: one BEGIN per transaction, no polling."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from skyrun.backends.local.database import Database

HOLD = """
import sys, time
from skyrun.backends.local.database import Database
db = Database(sys.argv[1])
with db.transaction() as tx:
    tx.execute("INSERT INTO batches (reference_id, function_id, created) VALUES ('held', 'f', 0)")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _begins(conn: sqlite3.Connection) -> list[str]:
    # Every BEGIN the connection runs, failed ones included (a poll of SQLite's lock).
    seen: list[str] = []
    conn.set_trace_callback(lambda s: seen.append(s) if s.startswith("BEGIN") else None)
    return seen


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
            tx.execute("INSERT INTO batches (reference_id, function_id, created) "
                       "VALUES ('after', 'f', 0)")
        waited = time.monotonic() - started
    finally:
        holder.wait(30)
    assert waited > 0.3
    assert begins == ["BEGIN IMMEDIATE"]  # one, when the lock was free: no failed polls
    assert db.connection().execute("SELECT count(*) FROM batches").fetchone()[0] == 2


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


def test_a_refused_nested_transaction_leaves_the_outer_one_holding_the_lock(tmp_path):
    # SQLite refuses a transaction inside another; the refusal must not release the
    # lock file while the outer transaction still runs.
    db = Database(tmp_path / "skyrun.db")
    entered = threading.Event()
    with db.transaction() as tx:
        with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
            with db.transaction():
                pass
        tx.execute("INSERT INTO batches (reference_id, function_id, created) "
                   "VALUES ('outer', 'f', 0)")

        def writer() -> None:
            with db.transaction() as inner:
                inner.execute("INSERT INTO batches (reference_id, function_id, created) "
                              "VALUES ('thread', 'f', 0)")
            entered.set()

        thread = threading.Thread(target=writer)
        thread.start()
        assert not entered.wait(0.2)  # it waits for the outer transaction
    thread.join(30)
    assert entered.is_set()
    rows = [r[0] for r in db.connection().execute("SELECT reference_id FROM batches "
                                                  "ORDER BY rowid")]
    assert rows == ["outer", "thread"]
