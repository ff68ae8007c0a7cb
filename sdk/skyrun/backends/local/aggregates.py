"""The SQLite half of ``Store.job_summary`` and ``Store.job_timeline``: the aggregates
of :mod:`skyrun.backends.summary` computed with ``GROUP BY`` in SQLite, so a Function of
100,000 jobs is summed without a single record reaching Python."""

from __future__ import annotations

import sqlite3

from skyrun.backends import summary as s

_ENDED = "('success','failure','timeout','canceled')"
_ACTIVE = "('running','cancel','canceling')"
#: The jobs that count as started (summary.is_started), for one Function.
_STARTED = (f"function_id = ? AND last_execution_date IS NOT NULL AND (status IN {_ACTIVE} "
            f"OR (status IN {_ENDED} AND last_completion_date IS NOT NULL))")
_FIRST_LINE = ("substr(trim(substr(coalesce(error_reason, ''), 1, "
               "instr(coalesce(error_reason, '') || char(10), char(10)) - 1), "
               f"' ' || char(9) || char(13)), 1, {s.ERROR_CHARS})")
# One JSON parse per value: the measured numbers of a finished job.
_MEASURED = (f"SELECT status, last_completion_date - last_execution_date AS rt, "
             "json_extract(statistics, '$.memory.peak_percentage') AS mp, "
             "json_extract(statistics, '$.cpu.total') AS ct, "
             "json_extract(statistics, '$.cpu.time') AS tm, "
             "json_extract(statistics, '$.memory.peak_bytes') AS pb "
             f"FROM jobs WHERE {_STARTED} AND status IN {_ENDED}")


def _percent_bin(column: str) -> str:
    # max(NULL, 0.0) is NULL: an unmeasured job falls in no bin, as in summary.percent_bin.
    return (f"min(CAST(max({column}, 0.0) / {s.PERCENT_BIN} AS INTEGER), "
            f"{s.PERCENT_BINS - 1})")


def job_summary(conn: sqlite3.Connection, function_id: str, now: float, buckets: int,
                bins: int) -> dict:
    """The summary of one Function's jobs (see :func:`skyrun.backends.summary.summarize`)."""
    first, last_end, last_start, active, longest, started = conn.execute(
        f"SELECT min(last_execution_date), "
        f"max(CASE WHEN status IN {_ENDED} THEN last_completion_date END), "
        f"max(last_execution_date), max(status IN {_ACTIVE}), "
        f"max(CASE WHEN status IN {_ENDED} THEN last_completion_date - last_execution_date "
        f"END), count(*) FROM jobs WHERE {_STARTED}", (function_id,)).fetchone()
    if not started:
        return s.empty(s.plan(s.Extent(None, None, None), buckets, bins))
    last = last_end if last_end is not None else last_start
    if active:
        last = max(last, now)
    p = s.plan(s.Extent(first, max(last, last_start), longest or 0.0), buckets, bins)
    out = s.empty(p)
    out["started"] = started
    top = p.buckets - 1
    for b, n in conn.execute(
            f"SELECT min(CAST((last_execution_date - ?) / ? AS INTEGER), {top}), count(*) "
            f"FROM jobs WHERE {_STARTED} GROUP BY 1", (p.t0, p.interval, function_id)):
        out["progress"]["starts"][b] = n
    for status, b, n in conn.execute(
            f"SELECT status, min(CAST((last_completion_date - ?) / ? AS INTEGER), {top}), "
            f"count(*) FROM jobs WHERE {_STARTED} AND status IN {_ENDED} GROUP BY 1, 2",
            (p.t0, p.interval, function_id)):
        out["progress"]["ends"][status][b] = n
    totals = out["totals"]
    for rb, mb, cb, n, runtime, cpu_ns, peak, measured in conn.execute(
            f"SELECT min(CAST(rt / ? AS INTEGER), {p.runtime_bins - 1}), "
            f"{_percent_bin('mp')}, {_percent_bin('ct')}, count(*), sum(rt), "
            f"sum(coalesce(tm, 0)), max(pb), sum(tm IS NOT NULL OR pb IS NOT NULL) "
            f"FROM ({_MEASURED}) GROUP BY 1, 2, 3", (p.runtime_width, function_id)):
        out["finished"] += n
        out["runtime"]["counts"][rb] += n
        if mb is not None:
            out["memory"]["counts"][mb] += n
        if cb is not None:
            out["cpu"]["counts"][cb] += n
        totals["runtime_seconds"] += runtime
        totals["cpu_seconds"] += cpu_ns / 1e9
        totals["measured"] += measured
        if peak is not None:
            totals["peak_bytes"] = max(totals["peak_bytes"] or 0, peak)
    totals["finished"] = out["finished"]
    out["errors"] = [{"reason": reason, "count": n} for reason, n in conn.execute(
        f"SELECT {_FIRST_LINE}, count(*) FROM jobs WHERE {_STARTED} AND status IN "
        f"('failure','timeout') GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {s.ERROR_GROUPS}",
        (function_id,))]
    return out


def job_timeline(conn: sqlite3.Connection, function_id: str,
                 limit: int) -> list[tuple[str, str, float, float | None]]:
    """``(id, status, start, end)`` of the Function's started jobs, by start (end None
    while active), at most ``limit``."""
    rows = conn.execute(
        f"SELECT id, status, last_execution_date, CASE WHEN status IN {_ENDED} THEN "
        f"last_completion_date END FROM jobs WHERE {_STARTED} "
        f"ORDER BY last_execution_date, id LIMIT ?", (function_id, limit))
    return [tuple(r) for r in rows]
