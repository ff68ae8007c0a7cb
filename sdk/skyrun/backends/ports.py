"""The backend interfaces, all in one place.

Everything the SDK and the worker need from a backend goes through these. The rules of
the system (validation, retries, timeouts, concurrency, statuses, result encoding) live
above them, in ``skyrun.domain`` and ``skyrun.engine``; an adapter only stores, fetches and launches.

Records are plain dicts in their *stored form*: datetimes as UTC epoch seconds, enums as
their string values, lists and dicts as themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from skyrun.common.jsontext import JSONText  # noqa: F401  (part of the ports' vocabulary)
from skyrun.domain.slots import Held, Slot

if TYPE_CHECKING:  # annotations only: a worker never loads the search language
    from skyrun.common.search import Expression, SortKey

FUNCTION, JOB, BLOB = "function", "job", "blob"

#: A record in its stored form (see the module's docstring).
Record = dict[str, Any]
#: ``(id, status, start, end)`` of one bar of a Function's timeline (``Store.job_timeline``).
TimelineRow = tuple[str, str, float, "float | None"]


class Store(Protocol):
    """Function and job records."""

    def create_function(self, record: dict[str, Any]) -> None:
        """Store a new Function record; ``ConflictError`` if the id exists."""

    def get_function(self, function_id: str) -> dict[str, Any] | None:
        """The Function record, or None."""

    def update_function(self, function_id: str, changes: dict[str, Any],
                        expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Apply ``changes`` if the record matches ``expect`` (field → value or list of
        allowed values); return the updated record, or None if it is missing or did not
        match."""

    def delete_function(self, function_id: str) -> None:
        """Remove the Function record (its jobs are removed separately)."""

    def insert_jobs(self, reference_id: str,
                    records: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        """Store a batch of new job records atomically (where the store can) and
        idempotently: a batch already stored under ``reference_id`` is returned as it was
        stored the first time and nothing new is written. ``records`` may be a
        :class:`skyrun.backends.records.NewJobs` (``map()``'s batches), which an adapter
        may read column by column."""

    def note_runnable(self, function_id: str) -> None:
        """Jobs of this Function became runnable other than by :meth:`insert_jobs` (a
        rerun), so that a backend whose sweeper skips idle Functions looks at it again;
        a no-op where nothing sweeps."""

    def functions_to_reconcile(self) -> list[tuple[dict[str, Any], int, float]]:
        """``(record, runnable epoch, when the epoch last moved)`` of every Function the
        reconciler must look at: all of them, but those marked idle at their current
        epoch (:meth:`mark_idle`)."""

    def mark_idle(self, function_id: str, epoch: int) -> bool:
        """Mark a Function the reconciler found with no runnable or active job idle at
        ``epoch``; False (nothing marked) if the epoch moved on meanwhile or the store
        keeps no marks."""

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """The job record, or None."""

    def get_jobs(self, job_ids: list[str]) -> list[dict[str, Any]]:
        """The records of those ids that exist, in no particular order."""

    def update_job(self, job_id: str, changes: dict[str, Any],
                   expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Conditional update, as ``update_function``."""

    def delete_jobs(self, job_ids: list[str], keep_statuses: Iterable[str] = ()) -> list[str]:
        """Remove job records, except those whose status is in ``keep_statuses`` (checked
        in the same atomic step, so a job that became active meanwhile is kept); return
        the ids removed."""

    def query(self, kind: str, where: Expression | None, sort: list[SortKey],
              limit: int | None = None, offset: int = 0,
              fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Records of ``kind`` (FUNCTION or JOB) matching ``where``, sorted; records equal
        on every key in the order they were stored, reversed when the last key descends
        (the same page twice never overlaps the next). ``fields``: only these fields of
        each record (a reader of ids need not decode whole records)."""

    def count(self, kind: str, where: Expression | None) -> int:
        """How many records of ``kind`` match ``where``."""

    def count_by_status(self, function_ids: list[str],
                        statuses: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        """Job counts by status for each Function id (statuses with no job omitted);
        only the given ``statuses`` when set (a waiting loop counts what it waits on)."""

    def job_summary(self, function_id: str, now: float, buckets: int = 60,
                    bins: int = 20) -> dict[str, Any]:
        """Aggregates of the Function's jobs for charts and usage: progress per time
        bucket, runtime, memory and CPU histograms, failure groups and totals, in the
        shape and by the rules of :mod:`skyrun.backends.summary`; computed in the
        store's own queries (never by reading whole records)."""

    def job_timeline(self, function_id: str,
                     limit: int) -> list[tuple[str, str, float, float | None]]:
        """``(id, status, start, end)`` of the Function's started jobs (as
        :mod:`skyrun.backends.summary` defines them), by start, at most ``limit``; end
        is None while a job is active."""

    def job_timeline_json(self, function_id: str, limit: int, statuses: tuple[str, ...],
                          ids: bool = True) -> dict[str, Any]:
        """The bars of :meth:`job_timeline` as columns, each already JSON text, for the
        monitor's timeline (100,000 bars): ``count``, ``t0`` (the first start, or None),
        and JSON arrays ``ids`` (only with ``ids``), ``status`` (the index of each bar's
        status in ``statuses``, 0 if absent), ``start`` and ``end`` (milliseconds from
        ``t0``, rounded; end -1 while active). By default built from
        :meth:`job_timeline` by :func:`skyrun.backends.summary.timeline_columns`; a store
        that can write the JSON itself (SQLite) does so instead."""
        from skyrun.backends.summary import timeline_columns

        return timeline_columns(self.job_timeline(function_id, limit), statuses, ids)

    def claim(self, function_id: str, worker_id: str, lease_seconds: float,
              namespace_limit: int, now: float, held: Held | None = None) -> dict[str, Any] | None:
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

    def settle_and_claim(self, job_id: str, changes: dict[str, Any], expect: dict[str, Any],
                         blob_records: list[dict[str, Any]], claim: dict[str, Any] | None
                         ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
        """The end of an attempt and the start of the next, in as few writes as the
        store can (one transaction on SQLite; on DynamoDB one transaction when the next
        job is known, else the settle and then a :meth:`claim`).

        Applies ``changes`` to the job if it matches ``expect`` (else nothing is written
        and ``(None, None, None)`` returned), together with the records of
        ``blob_records`` (their data is in place already: from
        :meth:`BlobStore.staged_record` and :meth:`LogStore.sealed_record`); then, if
        ``claim`` holds the arguments of :meth:`claim` but ``function_id``, claims the
        next job of the same Function. Returns ``(settled job, next claimed job or None,
        the Function record if the store read it in the same step, else None)``."""

    def renew(self, job_id: str, worker_id: str, lease_expires: float) -> bool:
        """Extend the lease if ``worker_id`` still holds it."""

    def defer_checkpoints(self) -> Callable[[], None]:
        """For a worker's job loop: keep the store's housekeeping (SQLite's WAL
        checkpoints) off its commits until the returned function is called; a no-op
        where the store has none."""

    def expired_claims(self, now: float, function_id: str | None = None) -> list[dict[str, Any]]:
        """Active jobs whose lease expired before ``now``."""

    def active_jobs(self, function_id: str) -> list[dict[str, Any]]:
        """Active jobs (running, cancel, canceling) of a Function."""


class BlobStore(Protocol):
    """Blob data and blob metadata."""

    def put(self, record: dict[str, Any], data: bytes | None, overwrite: bool = False) -> dict[str, Any]:
        """Store a blob's metadata (and data, if given); ``ConflictError`` if the id exists
        and not ``overwrite``. Returns the stored record (size, hash, href filled in)."""

    def get_record(self, blob_id: str) -> dict[str, Any] | None:
        """The blob's metadata, or None."""

    def get_records(self, blob_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The metadata of those blobs that exist and have not expired, by id (read in
        bulk: one request per 100 ids on AWS)."""

    def get_data(self, blob_id: str, start: int | None = None, end: int | None = None,
                 record: dict[str, Any] | None = None) -> bytes:
        """The data, or the bytes ``start`` to ``end`` inclusive; ``NotFoundError`` if
        there is none. ``record``, the blob's metadata as just read, spares reading it."""

    def staged_record(self, record: dict[str, Any], data: bytes, mark: str) -> dict[str, Any]:
        """Write a blob's data and return its full record (size, hash, href, dates filled
        in), for :meth:`Store.settle_and_claim` to store in its own write: the data is in
        place before the record is. The embedded store stages it beside its place and
        moves it in only when the settle matches; S3 writes it under a key of the attempt's
        own, which the record names. Either way a stale attempt never replaces the data of
        the attempt that won. ``mark`` is the claim's
        (``skyrun.domain.keys.attempt_mark``): it marks the data for
        :meth:`sweep_staged`."""

    def discard_staged(self, records: list[dict[str, Any]]) -> None:
        """Remove the data of records from :meth:`staged_record` whose settle did not
        match (a stale attempt's), keeping what a stored record names. Data of a settle
        that raised is not given here (it may have landed): :meth:`sweep_staged` takes
        it at the job's requeue."""

    def sweep_staged(self, blob_ids: list[str], mark: str) -> int:
        """Remove the data :meth:`staged_record` wrote for these blobs with ``mark`` that
        no stored record names: what the attempt of that claim left, when it was killed
        between its result and its settle or its settle failed (called once its job is
        requeued). Returns how many pieces of data went."""

    def update(self, blob_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Change metadata fields; the updated record or None."""

    def delete(self, blob_ids: list[str]) -> list[str]:
        """Remove blobs; return the ids that existed."""

    def search(self, where: Expression | None, sort: list[SortKey],
               limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
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

    def sealed_record(self, namespace: str, function_id: str, job_id: str, mark: str,
                      written: bool = True) -> dict[str, Any]:
        """The log blob's full record, its data already in place, for a
        :meth:`Store.settle_and_claim` that seals the log with its job's settle.
        ``mark`` as for :meth:`BlobStore.staged_record`, where the data is staged;
        ``written`` as for :meth:`seal`."""

    def delete(self, namespace: str, function_id: str, job_id: str) -> None:
        """Remove a job's live log and its log blob."""


class Builder(Protocol):
    """Turns (image, requirements, bundle) into a runnable environment."""

    def check(self, image: str, requirements: list[str]) -> dict[str, list[str]]:
        """Problems with ``image`` known before anything is stored (an image this backend
        cannot run), as field → messages; empty if none."""

    def start(self, function: dict[str, Any], requirements: list[str]) -> None:
        """Begin (or reuse) the build for a Function whose bundle is stored; the build
        ends by setting the Function's status and writing its build log."""

    def live_log(self, function: dict[str, Any]) -> str:
        """The output of the Function's build in progress (empty if there is none); the
        build log blob holds it once the build ends."""

    def executable(self, function: dict[str, Any]) -> str:
        """The Python interpreter of the Function's environment, for its worker's
        executor."""

    def remove(self, function: dict[str, Any]) -> None:
        """Forget the environment of a deleted Function where nothing else uses it."""


class Launcher(Protocol):
    """Keeps enough workers alive for a Function, and hears from the workers.

    A worker calls :meth:`heartbeat` every ``heartbeat_seconds`` while it lives (None:
    this launcher tracks its workers otherwise, and the worker runs no heartbeat),
    :meth:`should_leave` when idle, and :meth:`unregister` when it leaves."""

    #: How often a worker calls :meth:`heartbeat`, or None for never.
    heartbeat_seconds: float | None

    def live_workers(self, function_id: str) -> set[str]:
        """Ids of the Function's workers that are alive."""

    def launch(self, function: dict[str, Any], count: int) -> None:
        """Start ``count`` more workers for the Function."""

    def kill_workers(self, function_id: str) -> None:
        """Stop every worker of the Function (used when it is deleted)."""

    def register(self, worker_id: str, function_id: str) -> None:
        """Record a worker that started (on AWS: take its lease)."""

    def heartbeat(self, worker_id: str, function_id: str) -> None:
        """The worker is alive (registering it on its first call); a no-op where
        ``heartbeat_seconds`` is None."""

    def should_leave(self, worker_id: str, function_id: str, idle_seconds: float) -> bool:
        """Whether a worker idle for ``idle_seconds`` should leave now to free its share
        for another Function (a one-machine launcher); False where capacity is not
        shared."""

    def unregister(self, worker_id: str, function_id: str | None = None) -> None:
        """Forget a worker that is leaving."""

    def presumed_lost(self, worker_id: str, function_id: str) -> None:
        """A claim of this worker ran out without being renewed, so the worker is
        presumed lost: a launcher that counts workers by lease drops its lease now, so
        that a replacement starts without waiting for that lease to run out too; one
        that watches its workers' processes has nothing to do. (A worker that was only
        slow registers again with its next heartbeat.)"""


@dataclass(frozen=True)
class WorkerPace:
    """How often a worker (``skyrun_runtime.worker``) asks its backend for things.

    Idle polling for a job backs off from ``poll_seconds[0]`` to ``poll_seconds[1]``;
    an idle worker reads its Function again and reaps lost jobs every ``check_seconds``;
    a busy one reads the Function's settings again after a claim once
    ``refresh_seconds`` have passed (0: after every claim). The defaults suit a local
    store, where a request costs microseconds."""

    poll_seconds: tuple[float, float] = (0.001, 0.01)
    check_seconds: float = 1.0
    refresh_seconds: float = 0.0


class Backend(Protocol):
    """One backend: its stores, builder and launcher, plus what jobs need to reach it."""

    #: ``"local"`` or ``"aws"``.
    name: str
    #: The pace of this backend's workers.
    pace: WorkerPace

    # Read-only to callers. Properties for the type checker only: at run time a property
    # here would be inherited by the adapters that subclass this protocol, and an adapter
    # holds these as plain attributes (LocalBackend) or makes them on first use
    # (AwsBackend's cached properties).
    if TYPE_CHECKING:
        @property
        def store(self) -> Store: ...
        @property
        def blobs(self) -> BlobStore: ...
        @property
        def logs(self) -> LogStore: ...
        @property
        def builder(self) -> Builder: ...
        @property
        def launcher(self) -> Launcher: ...

    def job_environment(self) -> dict[str, str]:
        """Variables that let code inside a job reach this same backend."""


def field_names(kind: str, fields: Sequence[str], known: Iterable[str]) -> list[str]:
    """The fields a ``Store.query`` was asked for, once each, in order; ``ValueError``
    naming any that records of ``kind`` do not have."""
    names = list(dict.fromkeys(fields))
    allowed = set(known)
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValueError(f"Unknown {kind} field(s) {unknown}: the fields are {sorted(allowed)}")
    return names


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Split an iterable into lists of at most ``size`` items."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def bounded_chunks(items: Iterable[Any], sizes: Iterable[int], max_count: int,
                   max_bytes: int) -> Iterator[list[Any]]:
    """Split items into lists of at most ``max_count`` items and ``max_bytes`` of their
    ``sizes`` (a single item larger than ``max_bytes`` gets a list of its own)."""
    part: list[Any] = []
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if part and (len(part) == max_count or total + size > max_bytes):
            yield part
            part, total = [], 0
        part.append(item)
        total += size
    if part:
        yield part
