"""What the JSON API sends: Functions, Jobs, results and tracebacks turned into plain
dicts, and the job-table query (filters, sorting, paging) read from request parameters."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta

from skyrun.compute import usage
from skyrun.domain import targets
from skyrun.domain.statuses import (
    ACTIVE_STATUSES,
    BUILDING_STATUSES,
    JOB_STATUSES,
    LIVE_STATUSES,
    READY,
)
from skyrun.exceptions import ValidationError

# Statuses in the order the pages show them; LIVE_STATUSES (queued or holding a worker
# slot) and the Function statuses of a build not yet ended keep a page refreshing.
LIVE_FUNCTION_STATUSES = BUILDING_STATUSES
#: Job attributes the job table may sort by.
JOB_SORT_KEYS = ("creation_date", "status", "execution_count", "exit_code", "runtime",
                 "last_execution_date", "last_completion_date", "id")
#: Settings the function page edits, with those that are whole numbers.
EDITABLE = ("maximum_concurrency", "cpus", "memory", "timeout", "retry_count",
            "compute_target")
INTEGER_SETTINGS = ("maximum_concurrency", "timeout", "retry_count")
#: How much of a result the job page previews, and how long a table cell's inputs get.
PREVIEW_BYTES = 64 * 1024
CELL_CHARS = 80
_INT = re.compile(r"^\s*[+-]?\d+\s*$")


def function_view(fn) -> dict:
    """A Function with its job counts (all eight statuses) and whether it is live."""
    data = fn.to_dict()
    counts = {s: 0 for s in JOB_STATUSES}
    counts.update(data.get("job_statistics") or {})
    data["job_statistics"] = counts
    # Where the jobs run on AWS (the embedded backend ignores it): the setting, and what
    # the rule makes of it with the Function's size and timeout.
    data["compute_target"] = data.get("compute_target") or targets.DEFAULT_TARGET
    data["aws_target"] = targets.choose(data)
    # Pending jobs of a stopped or build_failed Function wait for a person, not a worker.
    dispatching = data["status"] in (READY, *LIVE_FUNCTION_STATUSES)
    data["live"] = (data["status"] in LIVE_FUNCTION_STATUSES
                    or any(counts[s] for s in ACTIVE_STATUSES)
                    or (dispatching and counts["pending"] > 0))
    return data


def shorten(text: str, limit: int = CELL_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def job_row(job) -> dict:
    """A Job for the job table: inputs shortened, no statistics."""
    data = job.to_dict()
    data.pop("statistics", None)
    data["args"] = shorten(json.dumps(data.get("args")))
    data["kwargs"] = shorten(json.dumps(data.get("kwargs")))
    data.pop("environment", None)
    return data


def job_view(job, function=None) -> dict:
    """A Job in full, with its Function's name, the traceback of a failed attempt and the
    usage (and on AWS the cost) of its last attempt."""
    data = job.to_dict()
    data["function_name"] = function.name if function is not None else None
    data["live"] = data["status"] in LIVE_STATUSES
    data["traceback"] = None
    if data.get("error_reason") and data["status"] in ("failure", "pending"):
        data["traceback"] = last_traceback(job.iter_log(timestamps=False))
    data["usage"] = None
    backend = job._backend
    used = usage.job_usage(job._record, function._record if function is not None else None,
                           backend.name, usage.backend_region(backend))
    if used is not None:
        data["usage"] = used.to_dict()
    return data


def last_traceback(lines) -> str | None:
    """The last Python traceback printed in a log: from its ``Traceback`` line to the
    first line that is not indented (the exception line), or None when there is none."""
    found: list[str] | None = None
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            found = [line]
        elif found is not None and (len(found) == 1 or found[-1][:1] in (" ", "\t")):
            found.append(line)
    return "\n".join(found) if found else None


def result_view(job) -> dict:
    """What the job page shows of a result: a JSON or text preview, or only the size of
    binary data (which is downloaded instead)."""
    if job.status != "success":
        return {"kind": "none", "message": f"the job is {job.status}; only successful jobs "
                                           "have a result"}
    blob = job.result_blob()
    if blob is None:
        return {"kind": "none", "message": "the job returned nothing (None)"}
    size = blob.size_bytes or 0
    data = blob.data(range=(0, PREVIEW_BYTES - 1)) if size > PREVIEW_BYTES else blob.data()
    view = {"size": size, "truncated": size > PREVIEW_BYTES}
    if not view["truncated"]:
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            pass
        else:
            return dict(view, kind="json", text=json.dumps(value, indent=2, ensure_ascii=False))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A preview cut may split a multi-byte character at its end; anything else is binary.
        if not (view["truncated"] and exc.start >= len(data) - 3):
            return dict(view, kind="bytes")
        text = data[:exc.start].decode("utf-8", errors="replace")
    if "\x00" in text:
        return dict(view, kind="bytes")
    return dict(view, kind="text", text=text)


# -- the job-table query -------------------------------------------------------------------

def _one(params: dict, name: str) -> str | None:
    values = params.get(name) or []
    value = values[-1] if values else None
    return value if value not in (None, "") else None


def _int_param(params: dict, name: str, default: int, lo: int, hi: int) -> int:
    value = _one(params, name)
    if value is None:
        return default
    if not _INT.match(value) or not lo <= int(value) <= hi:
        raise ValidationError.single(name, f"{value!r} is not allowed; allowed: {lo} to {hi}")
    return int(value)


def _date_param(params: dict, name: str, end: bool) -> datetime | None:
    """A ``YYYY-MM-DD`` date (local) or ISO datetime; the end of a date range includes
    the whole day."""
    value = _one(params, name)
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day).astimezone()
            return start + timedelta(days=1) if end else start
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.astimezone()
    except ValueError:
        raise ValidationError.single(name, f"{value!r} is not a date; use YYYY-MM-DD")


def filtered_jobs(fn, params: dict):
    """``fn.jobs`` narrowed by the ``status`` (repeatable), ``tag`` (repeatable, all must
    be present), ``error`` (the error reason starts with it), ``created_from`` and
    ``created_to`` parameters."""
    from skyrun.compute import Job

    search = fn.jobs
    statuses = [s for s in params.get("status") or [] if s]
    bad = [s for s in statuses if s not in JOB_STATUSES]
    if bad:
        raise ValidationError.single("status", f"{bad[0]!r} is not a job status; allowed: "
                                               + ", ".join(JOB_STATUSES))
    if statuses:
        search = search.filter(Job.status.in_(statuses))
    for tag in params.get("tag") or []:
        if tag.strip():
            search = search.filter(Job.tags == tag.strip())
    error = _one(params, "error")
    if error is not None:
        search = search.filter(Job.error_reason.prefix(error))
    since = _date_param(params, "created_from", end=False)
    if since is not None:
        search = search.filter(Job.creation_date >= since)
    until = _date_param(params, "created_to", end=True)
    if until is not None:
        search = search.filter(Job.creation_date < until)
    return search


def job_page(fn, params: dict) -> dict:
    """One page of the job table: ``sort`` (an attribute, ``-`` for descending),
    ``offset`` and ``limit`` on top of the filters."""
    from skyrun.compute import Job

    search = filtered_jobs(fn, params)
    sort = _one(params, "sort") or "-creation_date"
    key = sort.lstrip("-")
    if key not in JOB_SORT_KEYS:
        raise ValidationError.single("sort", f"{sort!r} is not allowed; allowed: "
                                             + ", ".join(JOB_SORT_KEYS))
    attr = getattr(Job, key)
    # Equal keys come in the store's row order (Store.query), so pages never overlap; a
    # second key (id) would make SQLite sort all 100,000 jobs of a batch for each page.
    keys = [-attr if sort.startswith("-") else attr]
    offset = _int_param(params, "offset", 0, 0, 10**9)
    limit = _int_param(params, "limit", 50, 1, 500)
    jobs = list(search.sort(*keys).limit(offset + limit))[offset:]
    return {"jobs": [job_row(j) for j in jobs], "total": search.count(), "offset": offset,
            "limit": limit, "sort": sort}


def apply_settings(fn, values: dict) -> None:
    """Set the editable settings on ``fn`` and ``save()``: the SDK validates them. A
    value that cannot even be assigned (``memory="100TB"``) is reported per field in a
    ValidationError too, and then nothing is saved."""
    if not isinstance(values, dict):
        raise ValidationError.single("body", "expected a JSON object of settings")
    errors: dict[str, list[str]] = {}
    for field, value in values.items():
        if field not in EDITABLE:
            errors.setdefault(field, []).append("cannot be edited here; editable: "
                                                + ", ".join(EDITABLE))
            continue
        # Form fields arrive as text; whole numbers become ints, anything else is left
        # for the SDK to reject with its own message.
        if field in INTEGER_SETTINGS and isinstance(value, str) and _INT.match(value):
            value = int(value)
        try:
            setattr(fn, field, value)
        except ValueError as exc:
            errors.setdefault(field, []).append(str(exc))
    if errors:
        raise ValidationError(errors=errors)
    fn.save()
