"""``Store.job_summary`` and ``Store.job_timeline`` on both backends: the SQLite
``GROUP BY`` queries and DynamoDB's projected queries give the hand-computed figures,
and both agree with the reference computation of ``skyrun.backends.summary``."""

from __future__ import annotations

import random

import pytest

from skyrun.backends import summary
from tests.stores import function_record, job_records

MB = 1 << 20


def stats(cpu_total, cpu_seconds, peak_bytes, peak_pct):
    return {"cpu": {"time": int(cpu_seconds * 1e9), "total": cpu_total, "timeseries": [[1, 2]]},
            "memory": {"peak_bytes": peak_bytes, "peak_percentage": peak_pct,
                       "total_bytes": 1, "total_percentage": 1, "timeseries": []},
            "network": {}}


def stored_jobs(store, changes: list[dict]) -> tuple[dict, list[dict]]:
    fn = function_record()
    store.create_function(fn)
    _, records = job_records(fn, len(changes))
    store.insert_jobs(records[0]["reference_id"], records)
    for record, change in zip(records, changes, strict=True):
        if change:
            assert store.update_job(record["id"], change) is not None
    return fn, records


def run(status, start, end=None, **extra):
    change = {"status": status, "last_execution_date": start, "execution_count": 1}
    if end is not None:
        change["last_completion_date"] = end
    change.update(extra)
    return change


HAND = [
    run("success", 1000.0, 1002.0, statistics=stats(50, 1, 100 * MB, 20)),
    run("success", 1001.0, 1005.0, statistics=stats(95, 3, 200_000_000, 95)),
    run("failure", 1003.0, 1004.0, error_reason="ValueError: bad\nTraceback (most recent)"),
    run("failure", 1004.0, 1010.0, error_reason="  ValueError: bad  ",
        statistics=stats(120, 2, 150, 105)),
    run("timeout", 1002.0, 1012.0, error_reason="timed out after 10 s"),
    run("running", 1011.0),
    {},  # pending, never started
    {"status": "canceled", "last_completion_date": 1003.0},  # canceled before it ran
]


def test_summary_matches_a_hand_computation(backend):
    fn, _ = stored_jobs(backend.store, HAND)
    got = backend.store.job_summary(fn["id"], now=1020.0)
    # First start 1000, active until now (1020): 41 half-second buckets (at most 60).
    assert (got["t0"], got["interval"]) == (1000.0, 0.5)
    assert got["started"] == 6 and got["finished"] == 5
    starts = got["progress"]["starts"]
    assert len(starts) == 41 and sum(starts) == 6
    assert [i for i, n in enumerate(starts) if n] == [0, 2, 4, 6, 8, 22]
    ends = got["progress"]["ends"]
    assert [i for i, n in enumerate(ends["success"]) if n] == [4, 10]
    assert [i for i, n in enumerate(ends["failure"]) if n] == [8, 20]
    assert [i for i, n in enumerate(ends["timeout"]) if n] == [24]
    assert sum(ends["canceled"]) == 0
    # Longest runtime 10 s in 20 bins: 0.5 s wide; runtimes 2, 4, 1, 6, 10 s.
    assert got["runtime"]["width"] == 0.5
    counts = got["runtime"]["counts"]
    assert len(counts) == 20 and sum(counts) == 5
    assert [i for i, n in enumerate(counts) if n] == [2, 4, 8, 12, 19]
    assert [i for i, n in enumerate(got["memory"]["counts"]) if n] == [2, 9, 10]
    assert [i for i, n in enumerate(got["cpu"]["counts"]) if n] == [5, 9, 10]
    assert got["errors"] == [{"reason": "ValueError: bad", "count": 2},
                             {"reason": "timed out after 10 s", "count": 1}]
    totals = got["totals"]
    assert totals["finished"] == 5 and totals["measured"] == 3
    assert totals["runtime_seconds"] == pytest.approx(23.0)
    assert totals["cpu_seconds"] == pytest.approx(6.0)
    assert totals["peak_bytes"] == 200_000_000

    timeline = backend.store.job_timeline(fn["id"], limit=100)
    assert [(status, start, end) for _, status, start, end in timeline] == [
        ("success", 1000.0, 1002.0), ("success", 1001.0, 1005.0), ("timeout", 1002.0, 1012.0),
        ("failure", 1003.0, 1004.0), ("failure", 1004.0, 1010.0), ("running", 1011.0, None)]
    assert len(backend.store.job_timeline(fn["id"], limit=2)) == 2


def test_summary_agrees_with_the_reference(backend):
    rng = random.Random(7)
    changes = []
    for i in range(80):
        status = rng.choice(["success", "success", "failure", "timeout", "canceled",
                             "running", "pending"])
        start = 5000.0 + rng.random() * 900
        if status == "pending":
            changes.append({})
            continue
        end = None if status == "running" else start + rng.random() * rng.choice([1, 50, 400])
        extra = {}
        if status in ("failure", "timeout"):
            extra["error_reason"] = rng.choice(["A", "B\nmore", "C: é ü"]) + str(i % 3)
        if status != "running" and rng.random() < 0.8:
            extra["statistics"] = stats(rng.random() * 130, rng.random() * 5,
                                        rng.randrange(1, 10**9), rng.random() * 120)
        changes.append(run(status, start, end, **extra))
    fn, _ = stored_jobs(backend.store, changes)
    now = 7000.0
    got = backend.store.job_summary(fn["id"], now=now, buckets=40, bins=15)
    rows = [(c["status"], c["last_execution_date"], c.get("last_completion_date"),
             c.get("error_reason"), *summary.statistics_values(c.get("statistics")))
            for c in changes if c]
    want = summary.summarize(rows, now, buckets=40, bins=15)
    for part in (got, want):
        part["totals"]["runtime_seconds"] = pytest.approx(part["totals"]["runtime_seconds"])
        part["totals"]["cpu_seconds"] = pytest.approx(part["totals"]["cpu_seconds"])
    assert got == want
    assert got["finished"] == sum(got["runtime"]["counts"]) > 25


def test_summary_of_a_function_without_started_jobs(backend):
    fn, _ = stored_jobs(backend.store, [{}, {}])
    got = backend.store.job_summary(fn["id"], now=1.0)
    assert got["started"] == 0 and got["finished"] == 0 and got["errors"] == []
    assert sum(got["progress"]["starts"]) == 0 and got["totals"]["peak_bytes"] is None
    assert backend.store.job_timeline(fn["id"], limit=10) == []
