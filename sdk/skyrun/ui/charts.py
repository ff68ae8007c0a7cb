"""What the Function page's charts and usage box read: the store's aggregates
(``Store.job_summary``) with the Function's size, its usage and cost, and the timeline
of its jobs (``Store.job_timeline``) in compact columns, small enough for 100,000 jobs."""

from __future__ import annotations

import json

from skyrun.backends.ports import Store
from skyrun.backends.summary import timeline_columns
from skyrun.compute import usage as usage_module
from skyrun.domain.statuses import JOB_STATUSES

#: The most jobs the timeline sends (the first by start time).
TIMELINE_LIMIT = 200_000


def summary_view(fn, backend, now: float) -> dict:
    """The aggregates of the Function's jobs, its size and limits, and its usage."""
    summary = backend.store.job_summary(fn.id, now, buckets=60, bins=20)
    used = usage_module.function_usage(fn, summary)
    return {"summary": summary, "usage": used.to_dict(), "now": now,
            "function": {"id": fn.id, "cpus": fn.cpus, "memory": fn.memory,
                         "maximum_concurrency": fn.maximum_concurrency}}


def timeline_json(store: Store, function_id: str, now: float, limit: int, ids: bool = False,
                  offset: int = 0) -> bytes:
    """The timeline as JSON bytes, in columns: per bar its ``status`` (an index into
    ``statuses``), ``start`` and ``end`` in milliseconds from ``t0`` (end -1 while
    running), and with ``ids`` its job id (``ids``), by start. The page packs the bars
    into rows; it asks for no ids, which are most of the bytes at 100,000 jobs, and for
    the one id of a clicked bar (``offset``: its index, ``limit`` 1, ``ids``).

    The store writes the columns' JSON text (``Store.job_timeline_json``: SQLite in its
    own query), which goes out as it is. From an ``offset`` on, the bars are the store's
    ``job_timeline`` rows past it (``t0`` is then the first of those)."""
    head = {"now": now, "statuses": list(JOB_STATUSES)}
    if offset:
        rows = store.job_timeline(function_id, offset + limit)[offset:]
        cols = timeline_columns(rows, JOB_STATUSES, ids)
    else:
        cols = store.job_timeline_json(function_id, limit, JOB_STATUSES, ids)
    head.update(t0=now if cols["t0"] is None else cols["t0"], count=cols["count"],
                truncated=cols["count"] >= limit, offset=offset)
    parts = [json.dumps(head)[:-1]]
    for key in ("ids", "status", "start", "end"):
        if key in cols:
            parts.append(f', "{key}": {cols[key]}')
    return ("".join(parts) + "}").encode("utf-8")
