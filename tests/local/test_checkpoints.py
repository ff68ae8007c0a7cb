"""A worker's WAL checkpoints run in a thread of their own, not inside its commits."""

from __future__ import annotations

import os
import time

from skyrun.backends.local.database import Database
from tests.conftest import wait_until


def _write_pages(db: Database, rows: int) -> None:
    # About 1 KB a row, one commit per 50 rows: a few hundred WAL pages in all.
    for start in range(0, rows, 50):
        with db.transaction() as tx:
            tx.executemany("INSERT INTO batches (reference_id, function_id, created) "
                           "VALUES (?, ?, ?)",
                           [(f"r{i}-" + "x" * 1000, "f", time.time())
                            for i in range(start, start + 50)])


def test_deferred_checkpoints_reach_the_file_from_their_thread(tmp_path):
    db = Database(tmp_path / "skyrun.db")
    path = str(tmp_path / "skyrun.db")
    stop = db.defer_checkpoints(interval=0.05)
    try:
        conn = db.connection()
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        before = os.path.getsize(path)
        _write_pages(db, 2000)
        # The writer never checkpoints; the thread copies the WAL into the file.
        wait_until(lambda: os.path.getsize(path) > before + 1_000_000, timeout=10,
                   interval=0.02, message="the database file to receive the WAL's pages")
        count = conn.execute("SELECT count(*) FROM batches").fetchone()[0]
        assert count == 2000
    finally:
        stop()
    assert db.connection().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000


def test_without_the_thread_a_writer_that_defers_leaves_the_file_alone(tmp_path):
    # The control: with autocheckpoint off and no checkpoint thread (nothing runs in the
    # background), the pages stay in the WAL, so the growth above is the thread's work.
    db = Database(tmp_path / "skyrun.db")
    path = str(tmp_path / "skyrun.db")
    db.connection().execute("PRAGMA wal_autocheckpoint=0")
    before = os.path.getsize(path)
    _write_pages(db, 2000)
    assert os.path.getsize(path) == before
    assert os.path.getsize(path + "-wal") > 1_000_000
