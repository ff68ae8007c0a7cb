"""The backend interfaces, all in one place.

Everything the SDK and the worker need from a backend goes through these. The rules of
the system (validation, retries, timeouts, concurrency, statuses, result encoding) live
above them, in ``skyrun.domain`` and ``skyrun.engine``; an adapter only stores, fetches and launches.

Records are plain dicts in their *stored form*: datetimes as UTC epoch seconds, enums as
their string values, lists and dicts as themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from skyrun.common.jsontext import JSONText  # noqa: F401  (part of the ports' vocabulary)
from skyrun.common.search import Expression, SortKey
from skyrun.domain.slots import Held, Slot

FUNCTION, JOB, BLOB = "function", "job", "blob"


class Store(Protocol):
    """Function and job records."""

    def create_function(self, record: dict) -> None:
        """Store a new Function record; ``ConflictError`` if the id exists."""

    def get_function(self, function_id: str) -> dict | None:
        """The Function record, or None."""

    def update_function(self, function_id: str, changes: dict,
                        expect: dict | None = None) -> dict | None:
        """Apply ``changes`` if the record matches ``expect`` (field → value or list of
        allowed values); return the updated record, or None if it is missing or did not
        match."""

    def delete_function(self, function_id: str) -> None:
        """Remove the Function record (its jobs are removed separately)."""

    def insert_jobs(self, reference_id: str, records: list[dict]) -> list[dict]:
        """Store a batch of new job records atomically (where the store can) and
        idempotently: a batch already stored under ``reference_id`` is returned as it was
        stored the first time and nothing new is written."""

    def note_runnable(self, function_id: str) -> None:
        """Jobs of this Function became runnable other than by :meth:`insert_jobs` (a
        rerun), so that a backend whose sweeper skips idle Functions looks at it again;
        a no-op where nothing sweeps."""

    def functions_to_reconcile(self) -> list[tuple[dict, int, float]]:
        """``(record, runnable epoch, when the epoch last moved)`` of every Function the
        reconciler must look at: all of them, but those marked idle at their current
        epoch (:meth:`mark_idle`)."""

    def mark_idle(self, function_id: str, epoch: int) -> bool:
        """Mark a Function the reconciler found with no runnable or active job idle at
        ``epoch``; False (nothing marked) if the epoch moved on meanwhile or the store
        keeps no marks."""

    def get_job(self, job_id: str) -> dict | None:
        """The job record, or None."""

    def get_jobs(self, job_ids: list[str]) -> list[dict]:
        """The records of those ids that exist, in no particular order."""

    def update_job(self, job_id: str, changes: dict, expect: dict | None = None) -> dict | None:
        """Conditional update, as ``update_function``."""

    def delete_jobs(self, job_ids: list[str], keep_statuses: Iterable[str] = ()) -> list[str]:
        """Remove job records, except those whose status is in ``keep_statuses`` (checked
        in the same atomic step, so a job that became active meanwhile is kept); return
        the ids removed."""

    def query(self, kind: str, where: Expression | None, sort: list[SortKey],
              limit: int | None = None, offset: int = 0) -> list[dict]:
        """Records of ``kind`` (FUNCTION or JOB) matching ``where``, sorted."""

    def count(self, kind: str, where: Expression | None) -> int:
        """How many records of ``kind`` match ``where``."""

    def count_by_status(self, function_ids: list[str],
                        statuses: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        """Job counts by status for each Function id (statuses with no job omitted);
        only the given ``statuses`` when set (a waiting loop counts what it waits on)."""

    def job_summary(self, function_id: str, now: float, buckets: int = 60,
                    bins: int = 20) -> dict:
        """Aggregates of the Function's jobs for charts and usage: progress per time
        bucket, runtime, memory and CPU histograms, failure groups and totals, in the
        shape and by the rules of :mod:`skyrun.backends.summary`; computed in the
        store's own queries (never by reading whole records)."""

    def job_timeline(self, function_id: str,
                     limit: int) -> list[tuple[str, str, float, float | None]]:
        """``(id, status, start, end)`` of the Function's started jobs (as
        :mod:`skyrun.backends.summary` defines them), by start, at most ``limit``; end
        is None while a job is active."""

    def claim(self, function_id: str, worker_id: str, lease_seconds: float,
              namespace_limit: int, now: float, held: Held | None = None) -> dict | None:
        """Atomically move the oldest pending job of a ``ready`` Function to ``running``
        with a lease held by ``worker_id``, provided ``worker_id`` holds the slots
        ``held`` (a Function slot and a namespace slot, by the rule
        :func:`skyrun.domain.slots.holds`, checked in the same atomic step, with
        ``maximum_concurrency`` as it is then: a lowered limit applies to the next
        claim). Without both slots, None. Increments ``execution_count`` and sets
        ``last_execution_date``. Returns the claimed record, or None. The claim writes
        no record but the job's."""

    def has_pending(self, function_id: str) -> bool:
        """Whether the Function has a pending job (a read)."""

    def take_slot(self, candidates: list[Slot], worker_id: str, lease_seconds: float,
                  namespace_limit: int, now: float) -> Slot | None:
        """Take the first of ``candidates`` (slots of one scope and owner) that is free
        (:func:`skyrun.domain.slots.is_free`) and within its limit
        (:func:`skyrun.domain.slots.may_take`, the Function read in the same atomic
        step), with a lease of ``lease_seconds``; None if there is none."""

    def renew_slots(self, slots: list[Slot], worker_id: str, lease_seconds: float,
                    now: float) -> list[Slot]:
        """Extend the leases of those ``slots`` that ``worker_id`` holds and that were
        not revoked (one request for all where the store can); return the others."""

    def release_slot(self, slot: Slot, worker_id: str) -> None:
        """Free the slot if ``worker_id`` holds it."""

    def slot_holders(self, scope: str, owner: str, now: float) -> dict[int, str]:
        """Who holds the slots of ``scope`` and ``owner`` at ``now``, by index (for
        checks; not on the hot path)."""

    def renew(self, job_id: str, worker_id: str, lease_expires: float) -> bool:
        """Extend the lease if ``worker_id`` still holds it."""

    def defer_checkpoints(self) -> Callable[[], None]:
        """For a worker's job loop: keep the store's housekeeping (SQLite's WAL
        checkpoints) off its commits until the returned function is called; a no-op
        where the store has none."""

    def expired_claims(self, now: float, function_id: str | None = None) -> list[dict]:
        """Active jobs whose lease expired before ``now``."""

    def active_jobs(self, function_id: str) -> list[dict]:
        """Active jobs (running, cancel, canceling) of a Function."""


class BlobStore(Protocol):
    """Blob data and blob metadata."""

    def put(self, record: dict, data: bytes | None, overwrite: bool = False) -> dict:
        """Store a blob's metadata (and data, if given); ``ConflictError`` if the id exists
        and not ``overwrite``. Returns the stored record (size, hash, href filled in)."""

    def get_record(self, blob_id: str) -> dict | None:
        """The blob's metadata, or None."""

    def get_records(self, blob_ids: list[str]) -> dict[str, dict]:
        """The metadata of those blobs that exist and have not expired, by id (read in
        bulk: one request per 100 ids on AWS)."""

    def get_data(self, blob_id: str, start: int | None = None, end: int | None = None,
                 record: dict | None = None) -> bytes:
        """The data, or the bytes ``start`` to ``end`` inclusive; ``NotFoundError`` if
        there is none. ``record``, the blob's metadata as just read, spares reading it."""

    def update(self, blob_id: str, changes: dict) -> dict | None:
        """Change metadata fields; the updated record or None."""

    def delete(self, blob_ids: list[str]) -> list[str]:
        """Remove blobs; return the ids that existed."""

    def search(self, where: Expression | None, sort: list[SortKey],
               limit: int | None = None, offset: int = 0) -> list[dict]:
        """Unexpired blob records matching ``where``. Besides the record fields, a filter
        or sort may name ``extra_properties.<key>``: the value under that key."""

    def count(self, where: Expression | None) -> int:
        """How many blob records match ``where``."""

    def purge_expired(self) -> int:
        """Remove blobs whose ``expires`` has passed; return how many."""

    def put_object(self, key: str, data: bytes) -> None:
        """Store internal data (bundles) outside the catalog."""

    def get_object(self, key: str) -> bytes | None:
        """Internal data by key, or None."""

    def delete_object(self, key: str) -> None:
        """Remove internal data."""


class LogStore(Protocol):
    """Live job logs, and the log blob ``logs/{namespace}/{function_id}/{job_id}`` they
    are sealed into (the record format is :mod:`skyrun.common.joblog`)."""

    def append(self, namespace: str, function_id: str, job_id: str,
               lines: list[tuple[float, str]]) -> None:
        """Append ``(epoch seconds, text)`` records to a job's log."""

    def read(self, namespace: str, function_id: str,
             job_id: str) -> Iterator[tuple[float, str]]:
        """The records so far, in order."""

    def seal(self, namespace: str, function_id: str, job_id: str, written: bool = True) -> None:
        """Write the log so far to the job's log blob (the job reached a terminal status).
        ``written=False``: the caller knows no attempt of this run appended to the log, so
        the store need not read the live log (an earlier run's blob is kept)."""

    def delete(self, namespace: str, function_id: str, job_id: str) -> None:
        """Remove a job's live log and its log blob."""


class Builder(Protocol):
    """Turns (image, requirements, bundle) into a runnable environment."""

    def start(self, function: dict, requirements: list[str]) -> None:
        """Begin (or reuse) the build for a Function whose bundle is stored; the build
        ends by setting the Function's status and writing its build log."""

    def remove(self, function: dict) -> None:
        """Forget the environment of a deleted Function where nothing else uses it."""


class Launcher(Protocol):
    """Keeps enough workers alive for a Function."""

    def live_workers(self, function_id: str) -> set[str]:
        """Ids of the Function's workers that are alive."""

    def launch(self, function: dict, count: int) -> None:
        """Start ``count`` more workers for the Function."""

    def kill_workers(self, function_id: str) -> None:
        """Stop every worker of the Function (used when it is deleted)."""


class Backend(Protocol):
    """One backend: its stores, builder and launcher, plus what jobs need to reach it."""

    name: str
    store: Store
    blobs: BlobStore
    logs: LogStore
    builder: Builder
    launcher: Launcher

    def job_environment(self) -> dict[str, str]:
        """Variables that let code inside a job reach this same backend."""


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """Split an iterable into lists of at most ``size`` items."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def bounded_chunks(items: Iterable, sizes: Iterable[int], max_count: int,
                   max_bytes: int) -> Iterator[list]:
    """Split items into lists of at most ``max_count`` items and ``max_bytes`` of their
    ``sizes`` (a single item larger than ``max_bytes`` gets a list of its own)."""
    part: list = []
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if part and (len(part) == max_count or total + size > max_bytes):
            yield part
            part, total = [], 0
        part.append(item)
        total += size
    if part:
        yield part
