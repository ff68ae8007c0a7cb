"""The SQLite half of ``Store.job_summary`` and ``Store.job_timeline``: the aggregates
of :mod:`skyrun.backends.summary` computed in SQLite, so a Function of 100,000 jobs is
summed without a single record reaching Python (only the counts of packed bins do)."""

from __future__ import annotations

import sqlite3
from collections import Counter
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
_ROWS = "temp.skyrun_summary_rows"
#: One pass over the Function's started jobs into a small temporary table: the instants,
#: the first line of a failure, and the four measured numbers, which the jobs table holds
#: as columns beside ``statistics`` (schema migration 4 -> 5: no JSON is parsed here).
#: The queue index reads the rows in about their stored order; the timeline's index,
#: which SQLite would pick, reads them in start order, all over the table (2-3x slower).
_FILL = (f"CREATE TEMP TABLE {_ROWS} AS SELECT status AS st, last_execution_date AS s, "
         f"CASE WHEN status IN {_ENDED} THEN last_completion_date END AS e, "
         f"CASE WHEN status IN ('failure','timeout') THEN {_FIRST_LINE} END AS fl, "
         "stat_cpu_total AS ct, stat_cpu_time AS tm, stat_peak_bytes AS pb, "
         f"stat_peak_percentage AS mp FROM jobs INDEXED BY jobs_queue WHERE {_STARTED}")


def _percent_bin(column: str) -> str:
    # max(NULL, 0.0) is NULL: an unmeasured job falls in no bin, as in summary.percent_bin.
    return (f"min(CAST(max({column}, 0.0) / {s.PERCENT_BIN} AS INTEGER), "
            f"{s.PERCENT_BINS - 1})")


def job_summary(conn: sqlite3.Connection, function_id: str, now: float, buckets: int,
                bins: int) -> dict[str, Any]:
    """The summary of one Function's jobs (see :func:`skyrun.backends.summary.summarize`).

    The jobs table is read once, into a temporary table of this connection (each thread
    has its own) that the queries then read; it is dropped at the end."""
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"DROP TABLE IF EXISTS {_ROWS}")
    conn.execute(_FILL, (function_id,))
    try:
        return _summary(conn, now, buckets, bins)
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {_ROWS}")


def _summary(conn: sqlite3.Connection, now: float, buckets: int, bins: int) -> dict[str, Any]:
    # The extent and the totals in one pass (e is NULL unless the job finished).
    (first, last_end, last_start, active, longest, started, finished, runtime, cpu_ns, peak,
     measured) = conn.execute(
        f"SELECT min(s), max(e), max(s), max(e IS NULL), max(e - s), count(*), count(e), "
        f"sum(e - s), sum(CASE WHEN e IS NOT NULL THEN coalesce(tm, 0) END), "
        f"max(CASE WHEN e IS NOT NULL THEN pb END), "
        f"sum(e IS NOT NULL AND (tm IS NOT NULL OR pb IS NOT NULL)) FROM {_ROWS}").fetchone()
    if not started:
        return s.empty(s.plan(s.Extent(None, None, None), buckets, bins))
    last = last_end if last_end is not None else last_start
    if active:
        last = max(last, now)
    p = s.plan(s.Extent(first, max(last, last_start), longest or 0.0), buckets, bins)
    out = s.empty(p)
    out["started"] = started
    _histograms(conn, p, out)
    totals = out["totals"]
    out["finished"] = totals["finished"] = finished
    totals["runtime_seconds"] = float(runtime or 0.0)
    totals["cpu_seconds"] = (cpu_ns or 0) / 1e9
    totals["measured"] = measured or 0
    totals["peak_bytes"] = peak
    out["errors"] = [{"reason": reason, "count": n} for reason, n in conn.execute(
        f"SELECT fl, count(*) FROM {_ROWS} WHERE fl IS NOT NULL GROUP BY 1 "
        f"ORDER BY 2 DESC, 1 LIMIT {s.ERROR_GROUPS}")]
    return out


def _histograms(conn: sqlite3.Connection, p: s.Plan, out: dict[str, Any]) -> None:
    """The progress counts and the three histograms, from one pass.

    Each row's six bins (start bucket, end bucket, ended status, runtime, memory and CPU
    bin; 0 for none) are packed into one integer by SQLite and counted in Python: a
    ``GROUP BY`` per histogram sorted the rows once each, and cost three times as much."""
    top = p.buckets - 1
    radix = (p.buckets + 1, len(s.ENDED) + 1, p.runtime_bins + 1, s.PERCENT_BINS + 1,
             s.PERCENT_BINS + 1)
    ended = "CASE st " + " ".join(f"WHEN '{name}' THEN {i + 1}"
                                  for i, name in enumerate(s.ENDED)) + " ELSE 0 END"
    parts = [f"min(CAST((s - {p.t0!r}) / {p.interval!r} AS INTEGER), {top})",
             f"coalesce(min(CAST((e - {p.t0!r}) / {p.interval!r} AS INTEGER), {top}) + 1, 0)",
             f"CASE WHEN e IS NULL THEN 0 ELSE {ended} END",
             f"coalesce(min(CAST((e - s) / {p.runtime_width!r} AS INTEGER), "
             f"{p.runtime_bins - 1}) + 1, 0)",
             f"CASE WHEN e IS NULL THEN 0 ELSE coalesce({_percent_bin('mp')} + 1, 0) END",
             f"CASE WHEN e IS NULL THEN 0 ELSE coalesce({_percent_bin('ct')} + 1, 0) END"]
    code = parts[0]
    for part, size in zip(parts[1:], radix, strict=True):
        code = f"({code}) * {size} + {part}"
    packed = conn.execute(f"SELECT group_concat({code}) FROM {_ROWS}").fetchone()[0]
    starts, ends = out["progress"]["starts"], out["progress"]["ends"]
    runtime, memory, cpu = (out[k]["counts"] for k in ("runtime", "memory", "cpu"))
    for text, n in Counter(packed.split(",")).items():
        rest = int(text)
        rest, cb = divmod(rest, radix[4])
        rest, mb = divmod(rest, radix[3])
        rest, rb = divmod(rest, radix[2])
        rest, status = divmod(rest, radix[1])
        sb, eb = divmod(rest, radix[0])
        starts[sb] += n
        if status:
            ends[s.ENDED[status - 1]][eb - 1] += n
            runtime[rb - 1] += n
            if mb:
                memory[mb - 1] += n
            if cb:
                cpu[cb - 1] += n


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
                      statuses: tuple[str, ...], ids: bool = True) -> dict[str, Any]:
    """The timeline of :func:`job_timeline` in columns whose JSON text SQLite writes
    itself (``json_group_array``), so 100,000 bars never become Python objects:
    ``count``, ``t0`` (the first start, or None), and JSON arrays ``ids`` (only with
    ``ids``: most of the answer's bytes), ``status`` (the index of the status in
    ``statuses``), ``start`` and ``end`` (milliseconds from ``t0``; end -1 while
    active)."""
    code = ("CASE status " + " ".join(f"WHEN '{name}' THEN {i}" for i, name in
                                      enumerate(statuses)) + " ELSE 0 END")
    # MATERIALIZED: the bars are read (and sorted) once for both t0 and the columns.
    count, t0, id_list, status, start, end = conn.execute(
        f"WITH bars AS MATERIALIZED (SELECT {'id, ' if ids else ''}{code} AS c, last_execution_date AS s, "
        f"CASE WHEN status IN {_ENDED} THEN last_completion_date END AS e FROM jobs "
        f"WHERE {_STARTED} ORDER BY last_execution_date, id LIMIT ?) "
        f"SELECT count(*), t0, {'json_group_array(id)' if ids else 'NULL'}, "
        "json_group_array(c), "
        "json_group_array(CAST(round((s - t0) * 1000) AS INTEGER)), "
        "json_group_array(coalesce(CAST(round((e - t0) * 1000) AS INTEGER), -1)) "
        "FROM bars, (SELECT min(s) AS t0 FROM bars)", (function_id, limit)).fetchone()
    columns = {"count": count, "t0": t0, "status": status, "start": start, "end": end}
    if ids:
        columns["ids"] = id_list
    return columns
