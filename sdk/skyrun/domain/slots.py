"""Slots: how the limits on running jobs are held, without a counter per job.

A worker holds two slots while it runs jobs: a Function slot ``k`` with
``0 <= k < maximum_concurrency`` and a namespace slot ``n`` with ``0 <= n < 1000``. It
takes each once, by a conditional write on that slot's own record, and runs one job at a
time; so a Function never has more running jobs than slots below its
``maximum_concurrency``, nor a namespace more than 1000, however many workers claim at
once. A claim writes only the job, on condition that the claimer still holds its slots
(:func:`holds`); a settle writes only the job.

The rules, which adapters apply as conditional writes (SQLite in a transaction, DynamoDB
as condition expressions):

* a slot is **free** (:func:`is_free`) when it has no record, its lease expired (its
  worker was lost: slots come back by themselves), it was revoked, or it is the taker's
  own already;
* a Function slot may be taken only while the Function is ``ready`` and
  ``k < maximum_concurrency`` (:func:`may_take`), checked in the same atomic write;
* the holder renews the lease with its heartbeat, and gives the slot back when it
  leaves (a worker with nothing to run gives its namespace slot back at once, so a
  finished Function's idle workers never hold another Function's jobs off);
* a claim needs the claimer's slots **held** (:func:`holds`): its own, unexpired, not
  revoked, and for a Function slot ``k < maximum_concurrency`` of a ``ready`` Function.

That last clause is what makes a lowered limit apply at the next claim. The embedded
backend reads the Function in the claim's transaction. On DynamoDB reading the Function
in every claim (a transaction's ``ConditionCheck``) is billed as a write of the Function's
item, which would make that item a hot key again (one write per job); instead a change
of the Function that takes slots away (:func:`revoked`) marks those slots revoked before
it returns, and a claim checks only the claimer's own slot records, which no other worker
writes per job.

This module imports nothing else from skyrun.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FUNCTION, NAMESPACE = "function", "namespace"
READY = "ready"


@dataclass(frozen=True)
class Slot:
    """One slot: ``scope`` (FUNCTION or NAMESPACE), ``owner`` (the Function id or the
    namespace) and ``index``."""

    scope: str
    owner: str
    index: int

    @property
    def key(self) -> str:
        """The slot's record key, ``{scope}#{owner}#{index}``."""
        return f"{self.scope}#{self.owner}#{self.index}"


@dataclass(frozen=True)
class Held:
    """The slots a worker holds for a claim; either may be None (not held)."""

    function: Slot | None = None
    namespace: Slot | None = None

    @property
    def complete(self) -> bool:
        """Whether both slots are held, as a claim needs."""
        return self.function is not None and self.namespace is not None

    def slots(self) -> list[Slot]:
        """The slots held."""
        return [s for s in (self.function, self.namespace) if s is not None]


def is_free(record: dict[str, Any] | None, worker_id: str, now: float) -> bool:
    """Whether a slot whose record is ``record`` (``holder``, ``expires``, ``revoked``;
    None: never taken) may be taken by ``worker_id`` at ``now``."""
    return (record is None or not record.get("holder") or record.get("revoked")
            or float(record.get("expires") or 0) < now or record["holder"] == worker_id)


def may_take(slot: Slot, function: dict[str, Any] | None, namespace_limit: int) -> bool:
    """Whether the slot is within its limit: a Function slot below the ``ready``
    Function's ``maximum_concurrency``, a namespace slot below ``namespace_limit``."""
    if slot.scope == NAMESPACE:
        return 0 <= slot.index < namespace_limit
    return (function is not None and function.get("status") == READY
            and 0 <= slot.index < int(function["maximum_concurrency"]))


def holds(record: dict[str, Any] | None, worker_id: str, now: float) -> bool:
    """Whether ``worker_id`` holds the slot whose record is ``record`` at ``now`` (the
    check of a claim; a Function slot also needs :func:`may_take`)."""
    return (record is not None and record.get("holder") == worker_id
            and not record.get("revoked") and float(record.get("expires") or 0) >= now)


def taken(worker_id: str, now: float, lease_seconds: float) -> dict[str, Any]:
    """The record a take (or a renewal) writes."""
    return {"holder": worker_id, "expires": round(now + lease_seconds, 6), "revoked": False}


def revoked(function: dict[str, Any], taken_indexes: Iterable[int]) -> list[int]:
    """The Function slots that a Function record as just written takes away, among
    those ever taken (``taken_indexes``): all of them unless it is ``ready``, else those
    at or above its ``maximum_concurrency``."""
    if function.get("status") != READY:
        return sorted(taken_indexes)
    limit = int(function["maximum_concurrency"])
    return sorted(k for k in taken_indexes if k >= limit)


def order(limit: int, worker_id: str) -> list[int]:
    """The indexes below ``limit`` in the order a worker tries them: from its own place
    (the golden-ratio sequence of an array child's index, else of a hash of its id) on,
    so that workers starting together try different slots first."""
    if limit <= 0:
        return []
    tail = worker_id.rpartition(":")[2]
    n = int(tail) if tail.isdigit() else zlib.crc32(worker_id.encode())
    start = int(((n * 0.6180339887498949) % 1.0) * limit)
    return [(start + i) % limit for i in range(limit)]
