"""Faults of the embedded backend: a full disk, a killed submitter, a database held by
another process, and every skyrun process killed at once. Each runs in a home of its own,
so that what it breaks cannot reach the other tests."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from skyrun.auth import Auth
from skyrun.compute import ComputeClient, Function, Job, JobStatus
from tests.conftest import kill_processes_under, wait_until


def shout(x):
    """Print, then return a result."""
    print(f"job {x} speaking")
    return {"x": x, "pad": "." * 100}


def square_after(x, seconds=0.0):
    import time

    time.sleep(seconds)
    return x * x


@pytest.fixture
def home(tmp_path, monkeypatch, namespace):
    """A private SKYRUN_HOME and a default client on it, in the test's namespace."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("SKYRUN_HOME", str(path))
    auth = namespace.auth
    client = ComputeClient(backend="local", auth=Auth(org=auth.payload["org"],
                                                      user=os.environ["SKYRUN_USER"],
                                                      backend="local"))
    ComputeClient.set_default_client(client)
    yield path
    kill_processes_under(str(path))


def sdk_env() -> dict[str, str]:
    return dict(os.environ)


def integrity(home: Path) -> str:
    conn = sqlite3.connect(home / "skyrun.db")
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# -- a full disk --------------------------------------------------------------------------
@pytest.fixture
def small_disk(home):
    """``$SKYRUN_HOME/blobs`` on a 1 MB tmpfs (results and logs are written there; the
    database stays on the real disk)."""
    blobs = home / "blobs"
    blobs.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(blobs)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield blobs
    kill_processes_under(str(home))
    subprocess.run(["umount", "-l", str(blobs)], capture_output=True)


def fill(directory: Path) -> Path:
    """Fill the filesystem of ``directory`` until nothing more can be written."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f:
        chunk = b"\0" * 4096
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.long
def test_a_full_disk_fails_jobs_saying_so_and_they_run_again_once_freed(home, small_disk):
    fn = Function(shout, retry_count=0, maximum_concurrency=2)
    fn.save()
    filler = fill(small_disk)
    jobs = fn.map(range(4))
    fn.wait_for_completion(interval=0.1, timeout=120)
    for job in jobs:
        job.refresh()
        assert job.status == JobStatus.FAILURE, job.error_reason
        assert "the disk is full" in job.error_reason
    assert integrity(home) == "ok"
    filler.unlink()
    again = fn.rerun()
    assert sorted(j.id for j in again) == sorted(j.id for j in jobs)
    fn.wait_for_completion(interval=0.1, timeout=120)
    for job in jobs:
        job.refresh()
        assert job.status == JobStatus.SUCCESS, job.error_reason
        assert job.result()["x"] == job.args[0]
        assert f"job {job.args[0]} speaking" in job.log()
    assert integrity(home) == "ok"


# -- the submitter killed in the middle of map() --------------------------------------------
SUBMIT = """
import sys
from skyrun.compute import Function
fn = Function.get(sys.argv[1])
fn.map(range(int(sys.argv[2])), reference_id=sys.argv[3], batch_size=100)
print("done", flush=True)
"""


@pytest.mark.long
def test_map_killed_midway_then_sent_again_completes_without_duplicates(home):
    n, reference = 100_000, f"nightly-{uuid.uuid4().hex[:8]}"
    fn = Function(square_after, auto_start=False)  # the jobs stay pending
    fn.save()
    store = fn._client.backend.store

    def stored() -> int:
        return sum(store.count_by_status([fn.id]).get(fn.id, {}).values())

    proc = subprocess.Popen([sys.executable, "-c", SUBMIT, fn.id, str(n), reference],
                            env=sdk_env(), stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: stored() >= 2_000 or proc.poll() is not None, timeout=120,
                   interval=0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    partial = stored()
    assert 0 < partial < n, f"the submitter was not killed midway ({partial} stored)"
    result = fn.map(range(n), reference_id=reference, batch_size=100)
    assert len(result) == n and result.is_success
    assert [j.args for j in result[:3]] == [[0], [1], [2]]
    conn = sqlite3.connect(home / "skyrun.db")
    try:
        count, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT args) FROM jobs WHERE function_id = ?",
            (fn.id,)).fetchone()
    finally:
        conn.close()
    assert (count, distinct) == (n, n)
    assert stored() == n


# -- another process holds the database ------------------------------------------------------
HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA busy_timeout=60000")
conn.execute("BEGIN IMMEDIATE" if sys.argv[2] == "write" else "BEGIN")
conn.execute("SELECT COUNT(*) FROM jobs").fetchone()
if sys.argv[2] == "write":
    conn.execute("UPDATE functions SET modified_date = modified_date")
print("held", flush=True)
time.sleep(float(sys.argv[3]))
conn.execute("COMMIT")
"""


def hold(home: Path, kind: str, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(home / "skyrun.db"), kind,
                             str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.long
def test_a_long_transaction_elsewhere_makes_workers_and_sdk_wait_not_fail(home):
    fn = Function(square_after, maximum_concurrency=3)
    fn.save()
    fn.map([[i, 0.1] for i in range(30)])
    store = fn._client.backend.store
    wait_until(lambda: store.count_by_status([fn.id])[fn.id].get("success", 0) >= 3,
               timeout=60)
    reader = hold(home, "read", 3)
    more = fn.map([[i, 0.05] for i in range(30, 40)])  # writes beside a long reader
    reader.wait(30)
    writer = hold(home, "write", 4)
    started = time.monotonic()
    late = fn.map([[i, 0.05] for i in range(40, 50)])  # waits for the writer
    assert time.monotonic() - started > 2
    assert fn.jobs.count() == 50  # reads go on while it writes
    writer.wait(30)
    fn.wait_for_completion(interval=0.1, timeout=120)
    assert len(more) == len(late) == 10
    assert sorted(fn.results()) == sorted(i * i for i in range(50))
    logs = "".join(p.read_text(errors="replace") for p in (home / "workers").glob("*.log"))
    assert "locked" not in logs and "Traceback" not in logs


# -- every skyrun process killed at once ------------------------------------------------------
RUN = """
import sys
from skyrun.compute import Function
fn = Function.get(sys.argv[1])
fn.map([[i, 0.2] for i in range(300)])
fn.wait_for_completion(interval=0.1, timeout=600)
"""


@pytest.mark.long
def test_killing_every_process_during_300_jobs_loses_nothing(home, monkeypatch):
    monkeypatch.setenv("SKYRUN_LOCAL_CPUS", "2")
    fn = Function(square_after, cpus=0.25, memory=512, maximum_concurrency=300,
                  retry_count=0)
    fn.save()
    store = fn._client.backend.store
    submitter = subprocess.Popen([sys.executable, "-c", RUN, fn.id], env=sdk_env())

    def counts() -> dict:
        return store.count_by_status([fn.id]).get(fn.id, {})

    wait_until(lambda: counts().get("success", 0) >= 60, timeout=120, interval=0.05)
    submitter.send_signal(signal.SIGKILL)
    kill_processes_under(str(home))  # every worker and executor of this home
    submitter.wait(10)
    killed = counts()
    assert killed.get("running", 0) >= 1, killed  # attempts were cut off
    assert killed.get("success", 0) < 300
    fn.wait_for_completion(interval=0.2, timeout=300)
    records = list(fn.jobs)
    assert len(records) == 300
    assert all(j.status == JobStatus.SUCCESS for j in records)
    assert sorted(fn.results()) == sorted(i * i for i in range(300))
    assert fn.jobs.filter(Job.status == JobStatus.SUCCESS).count() == 300
