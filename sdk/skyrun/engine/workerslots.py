"""A worker's slots: take them once, renew them with the heartbeat, give them back.

The rules are :mod:`skyrun.domain.slots`; this runs them against a backend's store for one
worker of one Function. A claim needs both slots held (``WorkerSlots.for_claim``); a
worker that finds nothing to run gives its namespace slot back at once
(``WorkerSlots.nothing_claimed``) and takes one again only when its Function has a
pending job, so idle workers never hold another Function's jobs off.
"""

from __future__ import annotations

import threading
import time
import traceback

from skyrun import config
from skyrun.common.timeutil import now
from skyrun.domain import slots as rules
from skyrun.domain.limits import NAMESPACE_ACTIVE_LIMIT
from skyrun.domain.slots import FUNCTION, NAMESPACE, Held, Slot

#: A slot lasts this long unless its holder renews it; a lost worker's slots come back
#: after it. Holders renew every third of it, both slots in one write (on the AWS sandbox
#: every request of every worker queues at one moto server). A claim's lease, so
#: ``$SKYRUN_LEASE_SECONDS`` changes it too (slot_lease_seconds()).
SLOT_LEASE_SECONDS = config.DEFAULT_LEASE_SECONDS
#: After a take found no free slot, a worker tries again no sooner than this: idle
#: polls are much more frequent, and a take is a write.
TAKE_RETRY_SECONDS = 0.5


def slot_lease_seconds() -> float:
    """How long a slot lasts unless renewed: a claim's lease (``$SKYRUN_LEASE_SECONDS``)."""
    return config.lease_seconds()


def take(store, scope: str, owner: str, limit: int, worker_id: str,
         namespace_limit: int = NAMESPACE_ACTIVE_LIMIT, at: float | None = None) -> Slot | None:
    """Take a free slot of ``scope`` below ``limit`` for ``worker_id``; None if all are
    held (or, for a Function slot, the Function is not ``ready`` at that limit)."""
    candidates = [Slot(scope, owner, k) for k in rules.order(limit, worker_id)]
    return store.take_slot(candidates, worker_id, slot_lease_seconds(), namespace_limit,
                           now() if at is None else at)


def take_both(store, function: dict, worker_id: str,
              namespace_limit: int = NAMESPACE_ACTIVE_LIMIT, at: float | None = None
              ) -> Held | None:
    """Both slots a claim of ``function`` needs, or None (nothing kept) if either is
    not free."""
    f = take(store, FUNCTION, function["id"], int(function["maximum_concurrency"]),
             worker_id, namespace_limit, at)
    if f is None:
        return None
    n = take(store, NAMESPACE, function["namespace"], namespace_limit, worker_id,
             namespace_limit, at)
    if n is None:
        store.release_slot(f, worker_id)
        return None
    return Held(f, n)


class WorkerSlots:
    """The slots of one worker of one Function (thread-safe: the heartbeat renews them
    while the loop claims)."""

    def __init__(self, store, worker_id: str, namespace_limit: int = NAMESPACE_ACTIVE_LIMIT):
        self.store = store
        self.worker_id = worker_id
        self.namespace_limit = namespace_limit
        self.lock = threading.Lock()
        self.held = Held()
        self.retry_at = 0.0

    def for_claim(self, function: dict) -> Held | None:
        """The slots to claim a job of ``function`` with, taking what is missing; None
        when a slot is not free (at the limit), or no job is pending (then no namespace
        slot is taken)."""
        with self.lock:
            held = self.held
        if not held.complete and time.monotonic() < self.retry_at:
            return None
        if held.function is None:
            f = take(self.store, FUNCTION, function["id"], int(function["maximum_concurrency"]),
                     self.worker_id, self.namespace_limit)
            if f is None:
                self.retry_at = time.monotonic() + TAKE_RETRY_SECONDS
                return None
            held = self._set(function=f)
        if held.namespace is None:
            if not self.store.has_pending(function["id"]):
                return None
            n = take(self.store, NAMESPACE, function["namespace"], self.namespace_limit,
                     self.worker_id, self.namespace_limit)
            if n is None:
                self.retry_at = time.monotonic() + TAKE_RETRY_SECONDS
                return None
            held = self._set(namespace=n)
        return held

    def nothing_claimed(self, function_id: str) -> None:
        """A claim with our slots found nothing: give the namespace slot back if no job
        is pending; else a slot was lost (revoked, or its lease ran out): renew now, which
        drops what we no longer hold, to be taken again."""
        with self.lock:
            held = self.held
        if held.namespace is None:
            return
        if self.store.has_pending(function_id):
            self.renew()
            return
        self.store.release_slot(held.namespace, self.worker_id)
        self._set(namespace=None, only_if=held.namespace)

    def renew(self) -> None:
        """Extend the leases of the slots held; forget those no longer ours."""
        with self.lock:
            held = self.held
        for slot in self.store.renew_slots(held.slots(), self.worker_id, slot_lease_seconds(),
                                           now()):
            self._set(**{slot.scope: None}, only_if=slot)

    def release(self) -> None:
        """Give every slot back (the worker leaves)."""
        with self.lock:
            held, self.held = self.held, Held()
        for slot in held.slots():
            try:
                self.store.release_slot(slot, self.worker_id)
            except Exception:  # leaving anyway: the slot comes back when its lease ends
                traceback.print_exc()

    def _set(self, only_if: Slot | None = None, **changes) -> Held:
        with self.lock:
            values = {FUNCTION: self.held.function, NAMESPACE: self.held.namespace}
            if only_if is None or values[only_if.scope] == only_if:
                values.update(changes)
                self.held = Held(values[FUNCTION], values[NAMESPACE])
            return self.held


class Renewer:
    """Renews a worker's slots every ``interval`` seconds (default a third of a slot's
    lease) from a thread, until stopped."""

    def __init__(self, slots: WorkerSlots, interval: float | None = None):
        self.slots = slots
        self.interval = slot_lease_seconds() / 3 if interval is None else interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="slots", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.slots.renew()
            except Exception:  # a missed renewal is retried; the lease outlasts a few
                traceback.print_exc()

    def stop(self) -> None:
        """Stop renewing (the caller then releases the slots)."""
        self.stopped.set()
        self.thread.join(self.interval + 5)


def claim_as_worker(store, function_id: str, worker_id: str, lease_seconds: float,
                    namespace_limit: int = NAMESPACE_ACTIVE_LIMIT, at: float | None = None
                    ) -> dict | None:
    """One claim as a worker makes it: take the two slots (kept: ``worker_id`` holds
    them until it releases them or their lease ends), then claim with them. For tools
    and tests; the worker loop keeps its slots in a :class:`WorkerSlots`."""
    function = store.get_function(function_id)
    if function is None:
        return None
    t = now() if at is None else at
    held = take_both(store, function, worker_id, namespace_limit, t)
    if held is None:
        return None
    return store.claim(function_id, worker_id, lease_seconds, namespace_limit, t, held)
