"""Submitting many jobs: the batches of ``Function.map``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from functools import partial

from skyrun.backends.records import NewJobs
from skyrun.common.timeutil import now
from skyrun.compute.bulk import JobBulkCreateError, JobBulkCreateResult
from skyrun.compute.inputs import as_args, as_mapping, encode_all
from skyrun.compute.job import Job
from skyrun.compute.operations import check_accepts_jobs, new_job_record
from skyrun.compute.progress import make_bar
from skyrun.engine import lifecycle
from skyrun.exceptions import NotFoundError, ValidationError

# A submission's reference becomes part of job ids, blob ids and AWS log stream names.
_REFERENCE = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}[A-Za-z0-9_])?")


def submit_map(fn, args: Iterable, kwargs: Iterable | None, tags, batch_size: int,
               environments: Iterable | None, progress: bool | None,
               reference_id: str | None = None) -> JobBulkCreateResult:
    """Validate every input, then store the jobs in batches of ``batch_size``.

    Each batch gets a fresh reference id (its idempotency key), or
    ``{reference_id}-{i:05d}`` for batch ``i`` of a named submission. A failure of the
    first batch, or a ``NotFoundError``, is raised; a later batch's failure is recorded
    in the result's ``errors`` and the rest go on.

    A batch is one template record and the columns that differ (ids, encoded inputs;
    :class:`NewJobs`), and its Jobs are made when the result is read: at 100,000 jobs,
    what is left besides the store's own insert is the encoding of the inputs.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
            or not 1 <= batch_size <= 1000:
        raise ValueError("Batch size must between 1 and 1000")
    if reference_id is not None and (not isinstance(reference_id, str)
                                     or not _REFERENCE.fullmatch(reference_id)):
        raise ValidationError.single(
            "reference_id", f"{reference_id!r} is not allowed; allowed: 1 to 64 letters, "
                            "digits, '_' or '-', not starting or ending with '-'")
    all_args = [as_args(item) for item in args]
    n = len(all_args)
    all_kwargs = _per_job(kwargs, n, "kwargs")
    all_envs = _per_job(environments, n, "environments")
    tag_list = list(tags) if tags else []
    args_json, kwargs_json, envs = encode_all(all_args, all_kwargs, all_envs)
    function = fn._backend.store.get_function(fn.id)
    if function is None:
        raise NotFoundError(f"Function {fn.id} not found")
    check_accepts_jobs(function)
    result = JobBulkCreateResult()
    bar = make_bar(progress, n, f"Submitting jobs to {fn.name}")
    started_workers = False
    make_job = partial(Job._from_record, _client=fn._client)
    suffixes = [f"-{i:04d}" for i in range(min(batch_size, n))]  # job ids: ref + suffix
    try:
        for start in range(0, n, batch_size):
            end = min(start + batch_size, n)
            batch_ref = (f"{reference_id}-{start // batch_size:05d}" if reference_id
                         else uuid.uuid4().hex)
            t = now()
            records = NewJobs(
                new_job_record(None, function, batch_ref, t, None, None, None, tag_list),
                [batch_ref + suffix for suffix in suffixes[:end - start]],
                args_json[start:end], kwargs_json[start:end], envs[start:end])
            try:
                stored = fn._backend.store.insert_jobs(batch_ref, records)
            except NotFoundError:
                raise
            except Exception as exc:
                if start == 0:
                    raise
                result.append_error(JobBulkCreateError(
                    fn, all_args[start:end],
                    all_kwargs[start:end] if all_kwargs else None,
                    all_envs[start:end] if all_envs else None, exc, batch_ref))
                continue
            result._add_records(stored, make_job)
            if bar is not None:
                bar.update(len(stored))
            if not started_workers:
                # Start workers after the first batch so they run while we insert.
                lifecycle.ensure_workers(fn._backend, function)
                started_workers = True
    finally:
        if bar is not None:
            bar.close()
    fn._backend.store.update_function(fn.id, {"modified_date": now()})
    lifecycle.ensure_workers(fn._backend, function)
    return result


def _per_job(values, n: int, what: str) -> list | None:
    if values is None:
        return None
    items = [as_mapping(v, what, i) for i, v in enumerate(values)]
    if len(items) != n:
        raise ValueError(f"The number of {what} must match the number of args. Got {n} "
                         f"args and {len(items)} {what}.")
    return items
