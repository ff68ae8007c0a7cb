"""Schema migrations of the embedded backend's SQLite file, on a file of the previous
version holding real records."""

from __future__ import annotations

import json
import sqlite3

from skyrun.backends.local.database import MIGRATIONS, Database
from skyrun.backends.local.store import SQLiteStore
from skyrun.backends.records import JOB_COLUMNS


def _file_at(path, version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:version]:
        conn.executescript(migration)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def _job(job_id: str, status: str, statistics: dict | None) -> dict:
    record = dict.fromkeys(JOB_COLUMNS)
    record.update(id=job_id, function_id="f1", namespace="ns", reference_id="r1",
                  status=status, creation_date=1000.0, failures=0, losses=0,
                  args=[1], statistics=statistics)
    if status == "success":
        record.update(last_execution_date=1001.0, last_completion_date=1003.5, runtime=2)
    return record


STATS = {"cpu": {"time": 1_500_000_000, "total": 62.5, "timeseries": [[0, 1.0]]},
         "memory": {"peak_bytes": 123_456, "peak_percentage": 7.25, "timeseries": []},
         "network": {}}


def test_version_4_file_gains_statistics_columns_and_keeps_every_record(tmp_path):
    path = tmp_path / "skyrun.db"
    _file_at(path, 4)
    conn = sqlite3.connect(path, isolation_level=None)
    done, pending = _job("r1-0000", "success", STATS), _job("r1-0001", "pending", None)
    for record in (done, pending):
        row = {k: json.dumps(v) if isinstance(v, (dict, list)) else v
               for k, v in record.items()}
        conn.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES "
                     f"({', '.join('?' * len(row))})", list(row.values()))
    conn.close()

    db = Database(path)
    assert db.schema_version == len(MIGRATIONS) == 5
    store = SQLiteStore(db)
    # Records read back exactly as stored: the derived columns are not record fields.
    assert store.get_job("r1-0000") == done
    assert store.get_job("r1-0001") == pending
    columns = "stat_cpu_total, stat_cpu_time, stat_peak_bytes, stat_peak_percentage"
    read = db.connection().execute(f"SELECT {columns} FROM jobs WHERE id = ?", ("r1-0000",))
    assert tuple(read.fetchone()) == (62.5, 1_500_000_000, 123_456, 7.25)
    read = db.connection().execute(f"SELECT {columns} FROM jobs WHERE id = ?", ("r1-0001",))
    assert tuple(read.fetchone()) == (None, None, None, None)
    indexes = {r[0] for r in db.connection().execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'")}
    assert {"jobs_queue", "jobs_created", "jobs_namespace_status", "jobs_timeline"} <= indexes

    # A later write of the statistics moves the columns with them.
    changed = {**STATS, "memory": {**STATS["memory"], "peak_bytes": 9, "peak_percentage": 0.5}}
    store.update_job("r1-0001", {"status": "success", "statistics": changed,
                                 "last_execution_date": 1002.0,
                                 "last_completion_date": 1004.0})
    read = db.connection().execute(f"SELECT {columns} FROM jobs WHERE id = ?", ("r1-0001",))
    assert tuple(read.fetchone()) == (62.5, 1_500_000_000, 9, 0.5)
    assert "stat_peak_bytes" not in store.get_job("r1-0001")

    # Opening it again migrates nothing more.
    assert Database(path).schema_version == 5


def test_jobs_written_with_statistics_carry_their_measured_numbers(tmp_path):
    store = SQLiteStore(Database(tmp_path / "skyrun.db"))
    copied, new = _job("r2-0000", "success", STATS), _job("r2-0001", "pending", None)
    new["reference_id"] = copied["reference_id"] = "r2"
    store.insert_jobs("r2", [copied, new])
    columns = "stat_cpu_total, stat_cpu_time, stat_peak_bytes, stat_peak_percentage"
    rows = store.db.connection().execute(f"SELECT id, {columns} FROM jobs ORDER BY id")
    assert [tuple(r) for r in rows] == [("r2-0000", 62.5, 1_500_000_000, 123_456, 7.25),
                                        ("r2-0001", None, None, None, None)]
    # A rerun clears the statistics, and their numbers with them.
    store.update_job("r2-0000", {"status": "pending", "statistics": None})
    row = store.db.connection().execute(f"SELECT {columns} FROM jobs WHERE id = 'r2-0000'")
    assert tuple(row.fetchone()) == (None, None, None, None)

