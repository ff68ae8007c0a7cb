"""Claims and leases on DynamoDB.

A claim takes a pending job of a Function (the oldest, for a lone claimer; see
``ClaimsMixin.claim``) in one ``TransactWriteItems``:

1. the job's move from ``pending`` to ``running``, on condition that it is still at the
   revision the claimer saw;
2. a condition check of each of the claimer's two slot items (its Function slot and its
   namespace slot: held by it, unexpired, not revoked; see
   :mod:`skyrun.backends.aws.slotitems`).

The limits (``maximum_concurrency``, 1000 active jobs per namespace) are held by the
slots, taken once per worker; a claim or a settle writes no item that another worker
writes too. Candidates come from the ``by-function-status`` index
(``begins_with(status_order, "pending#")``), so workers contend on the jobs they take,
never on a queue head item.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from botocore.exceptions import ClientError

from skyrun.backends.aws import dynamo
from skyrun.backends.aws import resources as res
from skyrun.backends.aws.errors import (
    cancellation_codes,
    unless_condition_fails,
)
from skyrun.backends.aws.items import JOB_SCHEMA, Expr, decode_item, key, number
from skyrun.backends.aws.leasekeys import slot_key
from skyrun.backends.aws.slotitems import holds_condition
from skyrun.domain import transitions
from skyrun.domain.slots import Held
from skyrun.domain.statuses import ACTIVE_STATUSES, PENDING

#: How many pending jobs a claim reads from the index at a time; later claims of the same
#: store take the rest before querying again.
CANDIDATES = 25
CLAIM_ATTEMPTS = 12


def is_active(status: str | None) -> bool:
    """Whether a status holds a worker slot."""
    return status in ACTIVE_STATUSES


def status_order(status: str, record: dict[str, Any]) -> str:
    """The ``status_order`` index key: status, then the claim order (the date the job was
    last queued, then its id)."""
    queued = record.get("queued_date") or record.get("creation_date") or 0.0
    return f"{status}{res.KEY_SEPARATOR}{float(queued):018.6f}{res.KEY_SEPARATOR}{record['id']}"


def spread(worker_id: str) -> float:
    """Where in a list of candidates a contending worker starts, as a fraction in [0, 1):
    the golden-ratio sequence of its index (``{job}:{index}``, an array child's id) or
    of a hash of its id, so that any number of workers start far apart."""
    tail = worker_id.rpartition(":")[2]
    n = int(tail) if tail.isdigit() else zlib.crc32(worker_id.encode())
    return (n * 0.6180339887498949) % 1.0


def _claimed_record(item: dict[str, Any], worker_id: str, now: float, lease_seconds: float
                    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(job, the claim's changes, the job as claimed)`` for a candidate item."""
    job = decode_item(item, JOB_SCHEMA)
    # What a claim writes is the state machine's; which job, and the limits, ours.
    change = transitions.claim(worker_id, now, lease_seconds)
    claimed = dict(job, **change.changes)
    for name, n in change.increments.items():
        claimed[name] = int(job.get(name) or 0) + n
    return job, change.changes, claimed


class ClaimsMixin:
    """``claim``, ``renew``, ``expired_claims`` and ``active_jobs`` of the DynamoStore."""

    client: Any  # a boto3 DynamoDB client (boto3 ships no types)
    jobs: str
    functions: str
    leases: str
    _claimed: dict[str, Any]
    _claim_candidates: dict[str, Any]
    #: Per Function: where the next candidate is taken, once a claim was lost to another
    #: worker (absent: oldest first).
    _claim_position: dict[str, Any]

    def _pending(self, function_id: str) -> list[dict[str, Any]]:
        e = Expr()
        reply = self.client.query(
            TableName=self.jobs, IndexName=res.JOBS_BY_FUNCTION_STATUS, Limit=CANDIDATES,
            KeyConditionExpression=(f"{e.name('function_id')} = {e.value(function_id)} AND "
                                    f"begins_with({e.name('status_order')}, "
                                    f"{e.value('pending' + res.KEY_SEPARATOR)})"),
            ExpressionAttributeNames=e.names, ExpressionAttributeValues=e.values)
        found: list[dict[str, Any]] = reply.get("Items", [])
        return found

    def has_pending(self, function_id: str) -> bool:
        """Whether the Function has a pending job: the candidates this store holds, else
        one index query (whose candidates the next claim uses)."""
        candidates = self._claim_candidates.setdefault(function_id, [])
        if not candidates:
            candidates.extend(self._pending(function_id))
        return bool(candidates)

    def claim(self, function_id: str, worker_id: str, lease_seconds: float,
              namespace_limit: int, now: float, held: Held | None = None) -> dict[str, Any] | None:
        """Claim the oldest pending job of the Function for a worker that holds the
        slots ``held`` (checked in the claim's transaction; None without them).

        One index query yields up to CANDIDATES pending jobs, kept for this store's next
        claims of the Function (a candidate taken meanwhile by another worker only fails
        its conditional write). A lone claimer takes them oldest first. A claimer that
        loses one to another worker drops the rest (they are likely stale too: the other
        worker read the same list), queries again, and from then on starts each fresh
        list at its own place (:func:`spread` of its id) and walks on from there, so
        that workers sharing a queue take disjoint runs of it instead of racing for its
        head; a walk that reaches the end of its list queries again rather than wrap
        around to the head, where the others started. Jobs still start roughly in the
        order they became pending (API.md §8).
        """
        if held is None or not held.complete:
            return None
        now = round(now, 6)
        candidates = self._claim_candidates.setdefault(function_id, [])
        positions = self._claim_position
        for _ in range(CLAIM_ATTEMPTS):
            item = self._next_candidate(function_id, worker_id)
            if item is None:
                if candidates:
                    continue  # another thread took the last one
                return None
            job, changes, claimed = _claimed_record(item, worker_id, now, lease_seconds)
            try:
                self.client.transact_write_items(TransactItems=self._claim_items(
                    item, job, changes, claimed, held, worker_id, now))
            except ClientError as exc:
                codes = cancellation_codes(exc)
                if not codes:
                    raise
                codes += ["None"] * (3 - len(codes))
                if "ConditionalCheckFailed" in codes[1:3]:
                    return None  # a slot is no longer ours (revoked, or its lease ran out)
                if codes[0] in ("ConditionalCheckFailed", "TransactionConflict"):
                    # Taken by another worker, or changed. The other worker read the same
                    # candidates: the rest are as likely taken. A query costs less than
                    # the failed tries it spares; from now on start at our own place.
                    candidates.clear()
                    positions.setdefault(function_id, 0)
                    continue
                if "TransactionConflict" in codes:
                    continue  # our own slot renewal was in flight
                raise
            self._remember_claim(item, claimed)
            return claimed
        return None

    def _next_candidate(self, function_id: str, worker_id: str,
                        skip: str | None = None) -> dict[str, Any] | None:
        """The next candidate to try (querying when none is left), None when no job is
        pending; ``skip``: a job id not to take."""
        candidates = self._claim_candidates.setdefault(function_id, [])
        positions = self._claim_position
        if candidates and positions.get(function_id, 0) >= len(candidates):
            # A walk that started at our own place reached the end of the list: what is
            # left (its head) is where the other claimers started, so it is likely taken
            # by now; a fresh query costs less than the tries it would fail.
            candidates.clear()
        if not candidates:
            candidates.extend(i for i in self._pending(function_id) if i["id"]["S"] != skip)
            if not candidates:
                positions.pop(function_id, None)  # the queue ran dry: start afresh
                return None
            if function_id in positions:
                positions[function_id] = int(spread(worker_id) * len(candidates))
        try:
            at = positions.get(function_id, 0) % len(candidates)
            item = candidates.pop(at)
        except (ZeroDivisionError, IndexError):  # another thread took the last one
            return None
        if function_id in positions:
            positions[function_id] = at
        if item["id"]["S"] == skip:
            return self._next_candidate(function_id, worker_id, skip)
        found: dict[str, Any] = item
        return found

    def _remember_claim(self, item: dict[str, Any], claimed: dict[str, Any]) -> None:
        # The worker settles what it claimed: keeping the job as the claim left it spares
        # ``update_job`` reading it again (its write is conditional on this revision).
        if len(self._claimed) >= 64:  # claims never settled here (the worker crashed)
            self._claimed.clear()
        revision = int(item["revision"]["N"]) + 1 if "revision" in item else 1
        self._claimed[claimed["id"]] = ({"revision": number(revision)}, claimed)

    def _claim_items(self, item: dict[str, Any], job: dict[str, Any], changes: dict[str, Any],
                     claimed: dict[str, Any], held: Held, worker_id: str,
                     now: float) -> list[dict[str, Any]]:
        """The claim's transaction items: the job's move, then a check of each slot."""
        j = Expr()
        revision = (f"{j.name('revision')} = {j.attr(item['revision'])}" if "revision" in item
                    else f"attribute_not_exists({j.name('revision')})")
        condition = f"{j.name('status')} = {j.value(PENDING)} AND {revision}"
        update = j.update(dict(changes, status_order=status_order(changes["status"], claimed)),
                          add={"execution_count": 1, "revision": 1})
        claim = {"Update": {"TableName": self.jobs, "Key": key(id=job["id"]),
                            **j.params(condition, update)}}
        assert held.function is not None and held.namespace is not None  # held.complete
        checks = []
        for slot in (held.function, held.namespace):
            c = Expr()
            checks.append({"ConditionCheck": {
                "TableName": self.leases, "Key": slot_key(slot),
                **c.params(holds_condition(c, worker_id, now))}})
        return [claim, *checks]

    def renew(self, job_id: str, worker_id: str, lease_expires: float) -> bool:
        """Extend the lease if ``worker_id`` still holds it."""
        e = Expr()
        condition = [*e.expect({"worker_id": worker_id, "status": list(ACTIVE_STATUSES)})]
        return unless_condition_fails(
            self.client.update_item, TableName=self.jobs, Key=key(id=job_id),
            **e.params(condition, e.update({"lease_expires": lease_expires}))) is not None

    def _active_in_index(self, function_id: str, extra: str = "",
                         values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for status in ACTIVE_STATUSES:
            e = Expr()
            params: dict[str, Any] = {
                "TableName": self.jobs, "IndexName": res.JOBS_BY_FUNCTION_STATUS,
                "KeyConditionExpression": (
                    f"{e.name('function_id')} = {e.value(function_id)} AND "
                    f"begins_with({e.name('status_order')}, "
                    f"{e.value(status + res.KEY_SEPARATOR)})"),
            }
            if extra:
                params["FilterExpression"] = extra.format(lease=e.name("lease_expires"))
                e.values.update(values or {})
            params.update(ExpressionAttributeNames=e.names, ExpressionAttributeValues=e.values)
            found.extend(dynamo.items(self.client.query, **params))
        return found

    def _current(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Index items lag the table: read the jobs themselves before acting on them.
        if not items:
            return []
        keys = [key(id=i["id"]["S"]) for i in items]
        return [decode_item(i, JOB_SCHEMA) for i in dynamo.batch_get(self.client, self.jobs, keys)]

    def expired_claims(self, now: float, function_id: str | None = None) -> list[dict[str, Any]]:
        """Active jobs whose lease expired before ``now`` (without a Function id: a
        filtered scan of the jobs table, for sweepers)."""
        values = {":now": number(now)}
        if function_id is not None:
            items = self._active_in_index(function_id, "{lease} < :now", values)
        else:
            e = Expr()
            marks = ", ".join(e.value(s) for s in ACTIVE_STATUSES)
            e.values.update(values)
            items = list(dynamo.items(
                self.client.scan, TableName=self.jobs,
                FilterExpression=f"{e.name('status')} IN ({marks}) AND "
                                 f"{e.name('lease_expires')} < :now",
                ExpressionAttributeNames=e.names, ExpressionAttributeValues=e.values))
        return [r for r in self._current(items)
                if is_active(r["status"]) and r.get("lease_expires") is not None
                and r["lease_expires"] < now]

    def active_jobs(self, function_id: str) -> list[dict[str, Any]]:
        """Active jobs of a Function.

        The index lags the table, and short jobs end between the index query and the
        read of the jobs it lists: while some listed job is no longer active when read,
        query again (briefly), so that callers see the jobs running now.
        """
        found: list[dict[str, Any]] = []
        for attempt in range(6):  # about a second in all
            listed = self._active_in_index(function_id)
            current = [r for r in self._current(listed) if is_active(r["status"])]
            if len(current) >= len(found):
                found = current
            if len(current) == len(listed):
                break
            time.sleep(min(0.5, 0.02 * 2 ** attempt))
        return found
