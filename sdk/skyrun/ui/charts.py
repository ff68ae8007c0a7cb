"""What the Function page's charts and usage box read: the store's aggregates
(``Store.job_summary``) with the Function's size, its usage and cost, and the timeline
of its jobs (``Store.job_timeline``) in compact columns, small enough for 100,000 jobs."""

from __future__ import annotations

from skyrun.compute import usage as usage_module
from skyrun.ui.views import JOB_STATUSES

#: The most jobs the timeline sends (the first by start time).
TIMELINE_LIMIT = 200_000


def summary_view(fn, backend, now: float) -> dict:
    """The aggregates of the Function's jobs, its size and limits, and its usage."""
    summary = backend.store.job_summary(fn.id, now, buckets=60, bins=20)
    used = usage_module.function_usage(fn, summary)
    return {"summary": summary, "usage": used.to_dict(), "now": now,
            "function": {"id": fn.id, "cpus": fn.cpus, "memory": fn.memory,
                         "maximum_concurrency": fn.maximum_concurrency}}


def timeline_view(rows: list[tuple], now: float, limit: int) -> dict:
    """The timeline in columns: per bar its job id (as an index ``ref`` into ``refs``,
    pairs of an id prefix and a digit count, and the number ``n`` that follows the
    prefix, zero-padded to that count; or, with ``n`` -1, the whole id as the prefix),
    ``status`` index into ``statuses``, and ``start`` and ``end`` in milliseconds from
    ``t0`` (end -1 while running). The page packs the bars into rows."""
    t0 = rows[0][2] if rows else now
    refs: dict[tuple[str, int], int] = {}
    ref, num = [], []
    for row in rows:
        prefix, dash, digits = row[0].rpartition("-")
        if dash and digits.isdigit() and digits.isascii():
            key, n = (prefix + dash, len(digits)), int(digits)
        else:
            key, n = (row[0], 0), -1
        index = refs.get(key)
        if index is None:
            index = refs[key] = len(refs)
        ref.append(index)
        num.append(n)
    codes = {s: i for i, s in enumerate(JOB_STATUSES)}
    return {"t0": t0, "now": now, "count": len(rows), "truncated": len(rows) >= limit,
            "statuses": list(JOB_STATUSES), "refs": [list(k) for k in refs], "ref": ref,
            "n": num, "status": [codes.get(r[1], 0) for r in rows],
            "start": [round((r[2] - t0) * 1000) for r in rows],
            "end": [-1 if r[3] is None else round((r[3] - t0) * 1000) for r in rows]}
