"""What the Function page's charts and usage box read: the store's aggregates
(``Store.job_summary``) with the Function's size, its usage and cost, and the timeline
of its jobs packed into rows, in compact columns for 100,000 jobs."""

from __future__ import annotations

import heapq
import re

from skyrun.compute import usage as usage_module
from skyrun.ui.views import JOB_STATUSES

#: The most jobs the timeline sends (the first by start time).
TIMELINE_LIMIT = 200_000
#: Job ids of ``map()`` batches: "<reference id>-<n>".
_BATCH_ID = re.compile(r"(.+-)(\d+)")


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
    ``status`` index into
    ``statuses``, ``start`` and ``end`` in milliseconds from ``t0`` (end -1 while
    running) and its ``lane``."""
    t0 = rows[0][2] if rows else now
    refs: dict[str, int] = {}
    ref, num, status, start, end = [], [], [], [], []
    codes = {s: i for i, s in enumerate(JOB_STATUSES)}
    for job_id, st, s, e in rows:
        match = _BATCH_ID.fullmatch(job_id)
        if match:  # the number's digits, zero-padded to the batch's width
            key, n = (match.group(1), len(match.group(2))), int(match.group(2))
        else:
            key, n = (job_id, 0), -1
        ref.append(refs.setdefault(key, len(refs)))
        num.append(n)
        status.append(codes.get(st, 0))
        start.append(round((s - t0) * 1000))
        end.append(-1 if e is None else round((e - t0) * 1000))
    return {"t0": t0, "now": now, "count": len(rows), "truncated": len(rows) >= limit,
            "statuses": list(JOB_STATUSES), "refs": [list(k) for k in refs], "ref": ref, "n": num,
            "status": status, "start": start, "end": end, "lane": lanes_of(rows, now)}


def lanes_of(rows: list[tuple], now: float) -> list[int]:
    """A lane for each bar (bars sorted by start): the lowest lane free at its start,
    so bars of a lane never overlap and there are as many lanes as jobs ever ran at
    once."""
    free: list[int] = []                # lanes free again, lowest first
    busy: list[tuple[float, int]] = []  # (end, lane) of bars not yet ended
    count = 0
    lanes: list[int] = []
    for _, _, start, end in rows:
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane, count = count, count + 1
        lanes.append(lane)
        heapq.heappush(busy, (end if end is not None else now, lane))
    return lanes
