"""Aggregates of one Function's jobs, shared by every backend's ``Store.job_summary``.

The monitor's charts and ``Function.usage()`` need counts per time interval, histograms
and sums over every job of a Function, which may have 100,000 jobs. Each store computes
them in its own queries: SQLite with ``GROUP BY`` (``backends.local.summary``),
DynamoDB from a projected query that reads only the few fields needed (then
:func:`summarize` here). This module holds what both must agree on: which jobs count,
how the buckets and bins are chosen (:func:`plan`), the result's shape, and
:func:`summarize`, the reference computation over plain rows.

Definitions:

* a job has *started* when it is active or ended with a ``last_execution_date``
  (a job waiting for its retry, or canceled before it ran, has not);
* it has *finished* when it ended (success, failure, timeout, canceled) with both a
  start and an end; its *runtime* is ``last_completion_date - last_execution_date``
  of its last attempt, in seconds, as precise as the stored instants;
* progress buckets are ``interval`` seconds from ``t0`` (the first start), a start or
  an end in the bucket ``floor((t - t0) / interval)``;
* memory and CPU bins are 10 % wide over the job's measured peak memory (% of the
  Function's memory) and CPU use (% of its cpus); the last bin holds 100 % and more.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from skyrun.domain.statuses import ACTIVE_STATUSES, ENDED_STATUSES, FAILURE, TIMEOUT

ACTIVE = ACTIVE_STATUSES
ENDED = ENDED_STATUSES
#: Statuses whose ``error_reason`` the failure breakdown groups.
FAILED = (FAILURE, TIMEOUT)
#: The width of a memory or CPU bin, in %, and how many bins (the last is open-ended).
PERCENT_BIN = 10
PERCENT_BINS = 11
#: How many failure groups at most, and how much of a first line is kept.
ERROR_GROUPS = 20
ERROR_CHARS = 200
#: The columns of a summary row, in order (what a store reads for each started job).
ROW = ("status", "start", "end", "error_reason", "cpu_total", "cpu_time", "peak_bytes",
       "peak_percentage")
_NICE = (1, 2, 5)
_INTERVALS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
              21600, 43200, 86400)


@dataclass(frozen=True)
class Extent:
    """What the plan needs to know first: the first start, the last instant seen (an
    end, or ``now`` while jobs are active), and the longest runtime."""

    first_start: float | None
    last_instant: float | None
    longest: float | None


@dataclass(frozen=True)
class Plan:
    """The buckets and bins of one summary."""

    t0: float
    interval: float
    buckets: int
    runtime_width: float
    runtime_bins: int


def nice_width(span: float, bins: int) -> float:
    """The smallest of 1, 2, 5 × 10^k seconds (k may be negative) that covers ``span``
    in ``bins`` bins."""
    if span <= 0 or bins <= 0:
        return 1.0
    raw = span / bins
    exp = math.floor(math.log10(raw))
    for step in (*_NICE, 10):
        width = step * 10.0 ** exp
        if width >= raw:
            # Round off float noise (0.30000000000000004) so both stores bin alike.
            return float(f"{width:.12g}")
    return 10.0 ** (exp + 1)  # pragma: no cover - the loop always returns


def plan(extent: Extent, buckets: int = 60, bins: int = 20) -> Plan:
    """Buckets of a readable width (0.1 s, 0.2 s, 0.5 s, 1 s, ... 1 day) giving at most about
    ``buckets`` over the run, and ``bins`` runtime bins of a 1-2-5 width."""
    t0 = extent.first_start or 0.0
    span = max((extent.last_instant or t0) - t0, 0.0)
    interval = next((float(s) for s in _INTERVALS if s * buckets >= span),
                    float(math.ceil(span / buckets / 86400) * 86400))
    count = int(span // interval) + 1
    longest = extent.longest or 0.0
    width = nice_width(longest, bins)
    return Plan(t0=t0, interval=interval, buckets=count, runtime_width=width,
                runtime_bins=min(bins, int(longest // width) + 1))


def first_line(reason: str | None) -> str:
    """The group of an error reason: its first line, trimmed and cut to ERROR_CHARS."""
    return (reason or "").split("\n", 1)[0].strip(" \t\r")[:ERROR_CHARS]


def runtime_bin(runtime: float, p: Plan) -> int:
    """The runtime histogram bin of a runtime."""
    return min(int(runtime / p.runtime_width), p.runtime_bins - 1)


def percent_bin(value: float) -> int:
    """The memory or CPU bin of a percentage."""
    return min(int(max(value, 0.0) / PERCENT_BIN), PERCENT_BINS - 1)


def bucket(t: float, p: Plan) -> int:
    """The progress bucket of an instant."""
    return min(int((t - p.t0) / p.interval), p.buckets - 1)


def empty(p: Plan) -> dict[str, Any]:
    """A summary with every count zero."""
    return {
        "t0": p.t0, "interval": p.interval, "started": 0, "finished": 0,
        "progress": {"starts": [0] * p.buckets,
                     "ends": {s: [0] * p.buckets for s in ENDED}},
        "runtime": {"width": p.runtime_width, "counts": [0] * p.runtime_bins},
        "memory": {"width": PERCENT_BIN, "counts": [0] * PERCENT_BINS},
        "cpu": {"width": PERCENT_BIN, "counts": [0] * PERCENT_BINS},
        "errors": [],
        "totals": {"finished": 0, "runtime_seconds": 0.0, "cpu_seconds": 0.0,
                   "peak_bytes": None, "measured": 0},
    }


def extent_of(rows: list[tuple[Any, ...]], now: float) -> Extent:
    """The extent of summary rows (see ROW)."""
    starts = [r[1] for r in rows]
    if not starts:
        return Extent(None, None, None)
    ends = [r[2] for r in rows if r[0] in ENDED]
    last = max(ends, default=max(starts))
    if any(r[0] in ACTIVE for r in rows):
        last = max(last, now)
    longest = max((r[2] - r[1] for r in rows if r[0] in ENDED), default=0.0)
    return Extent(min(starts), max(last, max(starts)), longest)


def is_started(status: str, start: float | None, end: float | None) -> bool:
    """Whether a job counts as started (and, when it ended, has both instants)."""
    if start is None:
        return False
    if status in ACTIVE:
        return True
    return status in ENDED and end is not None


def summarize(rows: Iterable[tuple[Any, ...]], now: float, buckets: int = 60,
              bins: int = 20) -> dict[str, Any]:
    """The summary of the started jobs' rows (see ROW), computed in Python: what a store
    without ``GROUP BY`` returns, and the reference the SQL version is tested against."""
    rows = [r for r in rows if is_started(r[0], r[1], r[2])]
    p = plan(extent_of(rows, now), buckets, bins)
    out = empty(p)
    progress, totals = out["progress"], out["totals"]
    errors: dict[str, int] = {}
    for status, start, end, reason, cpu_total, cpu_time, peak, peak_pct in rows:
        out["started"] += 1
        progress["starts"][bucket(start, p)] += 1
        if status not in ENDED:
            continue
        out["finished"] += 1
        progress["ends"][status][bucket(end, p)] += 1
        runtime = end - start
        out["runtime"]["counts"][runtime_bin(runtime, p)] += 1
        totals["runtime_seconds"] += runtime
        if status in FAILED:
            line = first_line(reason)
            errors[line] = errors.get(line, 0) + 1
        if peak_pct is not None:
            out["memory"]["counts"][percent_bin(peak_pct)] += 1
        if cpu_total is not None:
            out["cpu"]["counts"][percent_bin(cpu_total)] += 1
        if cpu_time is not None or peak is not None:
            totals["measured"] += 1
            totals["cpu_seconds"] += (cpu_time or 0) / 1e9
            if peak is not None:
                totals["peak_bytes"] = max(totals["peak_bytes"] or 0, peak)
    totals["finished"] = out["finished"]
    out["errors"] = error_groups(errors.items())
    return out


def error_groups(pairs: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """The largest failure groups first (ties by text), at most ERROR_GROUPS."""
    ranked = sorted(pairs, key=lambda kv: (-kv[1], kv[0]))[:ERROR_GROUPS]
    return [{"reason": reason, "count": n} for reason, n in ranked]


def statistics_values(statistics: dict[str, Any] | None) -> tuple[Any, ...]:
    """``(cpu_total, cpu_time, peak_bytes, peak_percentage)`` of a job's statistics."""
    if not statistics:
        return (None, None, None, None)
    cpu, memory = statistics.get("cpu") or {}, statistics.get("memory") or {}
    return (cpu.get("total"), cpu.get("time"), memory.get("peak_bytes"),
            memory.get("peak_percentage"))


def timeline_columns(rows: list[tuple[str, str, float, float | None]],
                     statuses: tuple[str, ...], ids: bool = True) -> dict[str, Any]:
    """``Store.job_timeline_json`` from the rows of ``Store.job_timeline``: the reference
    computation (SQLite writes the same columns in its own query)."""
    if not rows:
        return {"count": 0, "t0": None, "status": "[]", "start": "[]", "end": "[]",
                **({"ids": "[]"} if ids else {})}
    t0 = rows[0][2]
    codes = {s: i for i, s in enumerate(statuses)}
    return {"count": len(rows), "t0": t0,
            **({"ids": json.dumps([r[0] for r in rows], ensure_ascii=False)} if ids else {}),
            "status": json.dumps([codes.get(r[1], 0) for r in rows]),
            "start": json.dumps([round((r[2] - t0) * 1000) for r in rows]),
            "end": json.dumps([-1 if r[3] is None else round((r[3] - t0) * 1000)
                               for r in rows])}
