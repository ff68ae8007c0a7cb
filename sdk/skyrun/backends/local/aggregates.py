"""The SQLite half of ``Store.job_summary`` and ``Store.job_timeline``: the aggregates
of :mod:`skyrun.backends.summary` computed with ``GROUP BY`` in SQLite, so a Function of
100,000 jobs is summed without a single record reaching Python."""

from __future__ import annotations

import sqlite3
from typing import Any

from skyrun.backends import summary as s
from skyrun.backends.local import sql
from skyrun.domain.statuses import ACTIVE_STATUSES, ENDED_STATUSES

_ENDED = sql.in_list(ENDED_STATUSES)
_ACTIVE = sql.in_list(ACTIVE_STATUSES)
#: The jobs that count as started (summary.is_started), for one Function.
_STARTED = (f"function_id = ? AND last_execution_date IS NOT NULL AND (status IN {_ACTIVE} "
            f"OR (status IN {_ENDED} AND last_completion_date IS NOT NULL))")
_FIRST_LINE = ("substr(trim(substr(coalesce(error_reason, ''), 1, "
               "instr(coalesce(error_reason, '') || char(10), char(10)) - 1), "
               f"' ' || char(9) || char(13)), 1, {s.ERROR_CHARS})")
#: One pass over the Function's started jobs into a small temporary table: the instants,
#: the first line of a failure, and the four measured numbers as columns. The four
#: json_extract calls of a row parse its statistics once (SQLite keeps the last parsed
#: documents); reading them back out of one small JSON array per row instead cost the
#: summary more than the whole pass.
_ROWS = "temp.skyrun_summary_rows"
_FILL = (f"CREATE TEMP TABLE {_ROWS} AS SELECT status AS st, last_execution_date AS s, "
         f"CASE WHEN status IN {_ENDED} THEN last_completion_date END AS e, "
         f"CASE WHEN status IN ('failure','timeout') THEN {_FIRST_LINE} END AS fl, "
         "json_extract(statistics, '$.cpu.total') AS ct, "
         "json_extract(statistics, '$.cpu.time') AS tm, "
         "json_extract(statistics, '$.memory.peak_bytes') AS pb, "
         f"json_extract(statistics, '$.memory.peak_percentage') AS mp FROM jobs WHERE {_STARTED}")


def _percent_bin(column: str) -> str:
    # max(NULL, 0.0) is NULL: an unmeasured job falls in no bin, as in summary.percent_bin.
    return (f"min(CAST(max({column}, 0.0) / {s.PERCENT_BIN} AS INTEGER), "
            f"{s.PERCENT_BINS - 1})")


def job_summary(conn: sqlite3.Connection, function_id: str, now: float, buckets: int,
                bins: int) -> dict[str, Any]:
    """The summary of one Function's jobs (see :func:`skyrun.backends.summary.summarize`).

    The jobs table is read once, into a temporary table of this connection (each thread
    has its own) that the GROUP BY queries then read; it is dropped at the end."""
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"DROP TABLE IF EXISTS {_ROWS}")
    conn.execute(_FILL, (function_id,))
    try:
        return _summary(conn, now, buckets, bins)
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {_ROWS}")


def _summary(conn: sqlite3.Connection, now: float, buckets: int, bins: int) -> dict[str, Any]:
    first, last_end, last_start, active, longest, started = conn.execute(
        f"SELECT min(s), max(e), max(s), max(e IS NULL), max(e - s), count(*) "
        f"FROM {_ROWS}").fetchone()
    if not started:
        return s.empty(s.plan(s.Extent(None, None, None), buckets, bins))
    last = last_end if last_end is not None else last_start
    if active:
        last = max(last, now)
    p = s.plan(s.Extent(first, max(last, last_start), longest or 0.0), buckets, bins)
    out = s.empty(p)
    out["started"] = started
    top = p.buckets - 1
    for b, n in conn.execute(f"SELECT min(CAST((s - ?) / ? AS INTEGER), {top}), count(*) "
                             f"FROM {_ROWS} GROUP BY 1", (p.t0, p.interval)):
        out["progress"]["starts"][b] = n
    for status, b, n in conn.execute(
            f"SELECT st, min(CAST((e - ?) / ? AS INTEGER), {top}), count(*) FROM {_ROWS} "
            "WHERE e IS NOT NULL GROUP BY 1, 2", (p.t0, p.interval)):
        out["progress"]["ends"][status][b] = n
    totals = out["totals"]
    measured_sql = f"SELECT e - s AS rt, ct, tm, pb, mp FROM {_ROWS} WHERE e IS NOT NULL"
    for rb, mb, cb, n, runtime, cpu_ns, peak, measured in conn.execute(
            f"SELECT min(CAST(rt / ? AS INTEGER), {p.runtime_bins - 1}), "
            f"{_percent_bin('mp')}, {_percent_bin('ct')}, count(*), sum(rt), "
            f"sum(coalesce(tm, 0)), max(pb), sum(tm IS NOT NULL OR pb IS NOT NULL) "
            f"FROM ({measured_sql}) GROUP BY 1, 2, 3", (p.runtime_width,)):
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
        f"SELECT fl, count(*) FROM {_ROWS} WHERE fl IS NOT NULL GROUP BY 1 "
        f"ORDER BY 2 DESC, 1 LIMIT {s.ERROR_GROUPS}")]
    return out


def job_timeline(conn: sqlite3.Connection, function_id: str,
                 limit: int) -> list[tuple[str, str, float, float | None]]:
    """``(id, status, start, end)`` of the Function's started jobs, by start (end None
    while active), at most ``limit``."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: 100,000 Row objects cost more than the query
    return cursor.execute(
        f"SELECT id, status, last_execution_date, CASE WHEN status IN {_ENDED} THEN "
        f"last_completion_date END FROM jobs WHERE {_STARTED} "
        f"ORDER BY last_execution_date, id LIMIT ?", (function_id, limit)).fetchall()


def job_timeline_json(conn: sqlite3.Connection, function_id: str, limit: int,
                      statuses: tuple[str, ...]) -> dict[str, Any]:
    """The timeline of :func:`job_timeline` in columns whose JSON text SQLite writes
    itself (``json_group_array``), so 100,000 bars never become Python objects:
    ``count``, ``t0`` (the first start, or None), and JSON arrays ``ids``, ``status``
    (the index of the status in ``statuses``), ``start`` and ``end`` (milliseconds from
    ``t0``; end -1 while active)."""
    code = ("CASE status " + " ".join(f"WHEN '{name}' THEN {i}" for i, name in
                                      enumerate(statuses)) + " ELSE 0 END")
    # MATERIALIZED: the bars are read (and sorted) once for both t0 and the columns.
    count, t0, ids, status, start, end = conn.execute(
        f"WITH bars AS MATERIALIZED (SELECT id, {code} AS c, last_execution_date AS s, "
        f"CASE WHEN status IN {_ENDED} THEN last_completion_date END AS e FROM jobs "
        f"WHERE {_STARTED} ORDER BY last_execution_date, id LIMIT ?) "
        "SELECT count(*), t0, json_group_array(id), json_group_array(c), "
        "json_group_array(CAST(round((s - t0) * 1000) AS INTEGER)), "
        "json_group_array(coalesce(CAST(round((e - t0) * 1000) AS INTEGER), -1)) "
        "FROM bars, (SELECT min(s) AS t0 FROM bars)", (function_id, limit)).fetchone()
    return {"count": count, "t0": t0, "ids": ids, "status": status, "start": start,
            "end": end}
