"""Worker slots on DynamoDB: one item per slot, so no key is written per job.

The rules are :mod:`skyrun.domain.slots`; here they become condition expressions. A slot
is the ``leases`` item ``pk = "slot#{scope}#{owner}#{index}"``, ``sk = "slot"``, with
``holder``, ``expires`` and ``revoked``: each slot a partition key of its own, written
when a worker takes it, renews it (with its heartbeat) and gives it back, never per job.

* A take of a Function slot ``k`` is one ``TransactWriteItems``: the slot's ``Put`` on
  condition that it is free, and ``ADD slots_taken k`` to the Function's item on
  condition that it is ``ready`` with ``maximum_concurrency > k`` (once per worker, so
  the Function's item is not a hot key). ``slots_taken`` lists the slots a later change
  of the Function may have to revoke.
* A claim checks the claimer's two slot items (``ConditionCheck``: holder, unexpired,
  not revoked) in the job's transaction. DynamoDB bills a condition check as a write of
  the item it checks, but only the slot's own worker claims with it, one job at a time.
* ``update_function`` that changes ``status`` or ``maximum_concurrency`` marks the taken
  slots that the new record takes away as ``revoked`` before it returns
  (:func:`skyrun.domain.slots.revoked`): a take after the update fails on the Function's
  condition, a take before it is in ``slots_taken``, so the next claims hold the new
  limit exactly.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from skyrun.backends.aws import dynamo
from skyrun.backends.aws.errors import (
    cancellation_codes,
    condition_failed,
    unless_condition_fails,
)
from skyrun.backends.aws.items import Expr, key, number
from skyrun.backends.aws.leasekeys import slot_key
from skyrun.domain import slots as rules
from skyrun.domain.slots import FUNCTION, Slot

READY = "ready"
#: The Function item's attribute listing the Function slots ever taken (a number set).
TAKEN = "slots_taken"


def _record(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {"holder": item.get("holder", {}).get("S"),
            "expires": float(item["expires"]["N"]) if "expires" in item else None,
            "revoked": item.get("revoked", {}).get("BOOL", False)}


def _free_condition(e: Expr, worker_id: str, now: float) -> str:
    # skyrun.domain.slots.is_free as a condition expression.
    holder, expires, revoked = e.name("holder"), e.name("expires"), e.name("revoked")
    return (f"attribute_not_exists({e.name('pk')}) OR attribute_not_exists({holder}) OR "
            f"{revoked} = {e.attr({'BOOL': True})} OR {expires} < {e.attr(number(now))} OR "
            f"{holder} = {e.value(worker_id)}")


def holds_condition(e: Expr, worker_id: str, now: float) -> str:
    """:func:`skyrun.domain.slots.holds` as a condition expression."""
    return (f"{e.name('holder')} = {e.value(worker_id)} AND "
            f"{e.name('expires')} >= {e.attr(number(now))} AND "
            f"{e.name('revoked')} = {e.attr({'BOOL': False})}")


class SlotsMixin:
    """``take_slot``, ``renew_slots``, ``release_slot``, ``slot_holders`` and the
    revocation of ``update_function``, for the DynamoStore."""

    client: Any  # a boto3 DynamoDB client (boto3 ships no types)
    functions: str
    leases: str

    def take_slot(self, candidates: list[Slot], worker_id: str, lease_seconds: float,
                  namespace_limit: int, now: float) -> Slot | None:
        """Take the first free slot of ``candidates`` within its limit; None if none.

        The first candidate is tried blind (usually free: workers start at different
        places); after a miss the rest are read, 100 a request, and only those that look
        free are tried.
        """
        now = round(now, 6)
        candidates = [s for s in candidates if s.scope == FUNCTION
                      or rules.may_take(s, None, namespace_limit)]
        if not candidates:
            return None
        first, rest = candidates[0], candidates[1:]
        outcome = self._take(first, worker_id, lease_seconds, now)
        if outcome is not None:
            return first if outcome else None
        found = {i["pk"]["S"]: _record(i) for i in
                 dynamo.batch_get(self.client, self.leases, [slot_key(s) for s in rest])}
        for slot in rest:
            if not rules.is_free(found.get(f"slot#{slot.key}"), worker_id, now):
                continue
            outcome = self._take(slot, worker_id, lease_seconds, now)
            if outcome is not None:
                return slot if outcome else None
        return None

    def _take(self, slot: Slot, worker_id: str, lease_seconds: float, now: float
              ) -> bool | None:
        """True: taken; False: the Function is not ready at this slot's limit (no other
        slot will do); None: the slot is held."""
        record = rules.taken(worker_id, now, lease_seconds)
        e = Expr()
        put = {"TableName": self.leases, "Item": {
            **slot_key(slot), "holder": {"S": worker_id},
            "expires": number(record["expires"]), "revoked": {"BOOL": False}},
            **e.params(_free_condition(e, worker_id, now))}
        if slot.scope != FUNCTION:
            return None if unless_condition_fails(self.client.put_item, **put) is None else True
        f = Expr()
        limit = (f"{f.name('status')} = {f.value(READY)} AND "
                 f"{f.name('maximum_concurrency')} > {f.attr(number(slot.index))}")
        mark = {"TableName": self.functions, "Key": key(id=slot.owner),
                **f.params(limit, f"ADD {f.name(TAKEN)} {f.attr({'NS': [str(slot.index)]})}")}
        try:
            self.client.transact_write_items(TransactItems=[{"Put": put}, {"Update": mark}])
            return True
        except ClientError as exc:
            codes = cancellation_codes(exc) + ["None", "None"]
            if codes[1] == "ConditionalCheckFailed":
                return False
            if codes[0] == "ConditionalCheckFailed" or "TransactionConflict" in codes:
                return None
            raise

    def renew_slots(self, slots: list[Slot], worker_id: str, lease_seconds: float,
                    now: float) -> list[Slot]:
        """Extend the leases of the slots ``worker_id`` holds (one request for all);
        return those it no longer holds (taken by another, or revoked)."""
        def item(slot: Slot) -> dict[str, Any]:
            e = Expr()
            condition = (f"{e.name('holder')} = {e.value(worker_id)} AND "
                         f"{e.name('revoked')} = {e.attr({'BOOL': False})}")
            update = f"SET {e.name('expires')} = {e.attr(number(round(now + lease_seconds, 6)))}"
            return {"Update": {"TableName": self.leases, "Key": slot_key(slot),
                               **e.params(condition, update)}}

        slots = list(slots)
        for _ in range(3):
            if not slots:
                return []
            try:
                if len(slots) == 1:
                    update = item(slots[0])["Update"]
                    self.client.update_item(**update)
                else:
                    self.client.transact_write_items(TransactItems=[item(s) for s in slots])
                return []
            except ClientError as exc:
                if condition_failed(exc):
                    return slots
                codes = cancellation_codes(exc)
                if not codes:
                    raise
                lost = [s for s, c in zip(slots, codes, strict=False)
                        if c == "ConditionalCheckFailed"]
                if lost:
                    # Renew the others alone: the transaction wrote nothing.
                    return lost + self.renew_slots([s for s in slots if s not in lost],
                                                   worker_id, lease_seconds, now)
                # A conflict (a claim checking the slot at that instant): try again.
        return []

    def release_slot(self, slot: Slot, worker_id: str) -> None:
        """Free the slot if ``worker_id`` holds it."""
        e = Expr()
        unless_condition_fails(  # held by another worker (or by none): nothing to free
            self.client.update_item, TableName=self.leases, Key=slot_key(slot),
            **e.params(f"{e.name('holder')} = {e.value(worker_id)}",
                       f"REMOVE {e.name('holder')}, {e.name('expires')}"))

    def slot_holders(self, scope: str, owner: str, now: float) -> dict[int, str]:
        """Who holds the slots of ``scope`` and ``owner`` at ``now``, by index (a scan:
        for checks and tests, not for the hot path)."""
        e = Expr()
        out = {}
        for item in dynamo.items(
                self.client.scan, TableName=self.leases,
                FilterExpression=f"begins_with({e.name('pk')}, "
                                 f"{e.value(f'slot#{scope}#{owner}#')})",
                ExpressionAttributeNames=e.names, ExpressionAttributeValues=e.values):
            record = _record(item)
            if record is not None and rules.holds(record, record["holder"], now):
                out[int(item["pk"]["S"].rpartition("#")[2])] = record["holder"]
        return out

    def _revoke(self, function: dict[str, Any], item: dict[str, Any]) -> None:
        """Mark revoked the taken slots that the Function record as just written takes
        away (``item``: its DynamoDB item, with ``slots_taken``)."""
        taken = [int(n) for n in item.get(TAKEN, {}).get("NS", [])]
        gone = rules.revoked(function, taken)

        def one(index: int) -> None:
            e = Expr()
            unless_condition_fails(  # a slot never taken has nothing to revoke
                self.client.update_item, TableName=self.leases,
                Key=slot_key(Slot(FUNCTION, function["id"], index)),
                **e.params(f"attribute_exists({e.name('pk')})",
                           f"SET {e.name('revoked')} = {e.attr({'BOOL': True})}"))

        dynamo.fan_out(one, gone)

    def _delete_slots(self, function_id: str, item: dict[str, Any] | None) -> None:
        """Remove the slot items of a deleted Function."""
        taken = [int(n) for n in (item or {}).get(TAKEN, {}).get("NS", [])]
        dynamo.fan_out(lambda index: self.client.delete_item(
            TableName=self.leases, Key=slot_key(Slot(FUNCTION, function_id, index))), taken)
