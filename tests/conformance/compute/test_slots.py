"""Limits held by worker slots (skyrun.domain.slots) on each backend's store: a lowered
``maximum_concurrency`` applies at the next claim, a lost worker's slot comes back after
its lease, an idle worker gives its namespace slot back so another Function can run.

Workers are made-up ids driving the store as the worker loop does; the Functions are
``ready`` only while a test claims (see tests.conformance.compute.transition_support.py).
"""

from __future__ import annotations

import time

import pytest

from skyrun.domain.slots import FUNCTION, NAMESPACE
from skyrun.engine.workerslots import WorkerSlots, slot_lease_seconds, take_both
from tests.conformance.compute.transition_support import function_record, job_record

LEASE = 600.0


@pytest.fixture
def store(namespace):
    return namespace.backend.store


def _finish(store, job: dict) -> None:
    assert store.update_job(job["id"], {"status": "success", "worker_id": None,
                                        "lease_expires": None},
                            expect={"status": ["running"], "worker_id": job["worker_id"]})


def test_a_lowered_limit_applies_at_the_next_claim(namespace, store):
    fn = function_record(namespace, maximum_concurrency=3)
    for _ in range(8):
        job_record(namespace.backend, fn)
    store.update_function(fn["id"], {"status": "ready"})
    try:
        fn = store.get_function(fn["id"])
        t = time.time()
        held = {w: take_both(store, fn, w, at=t) for w in ("w1", "w2", "w3")}
        assert all(held.values())
        assert take_both(store, fn, "w4", at=t) is None  # three slots, all held
        for w, h in held.items():
            _finish(store, store.claim(fn["id"], w, LEASE, 1000, t, h))
        store.update_function(fn["id"], {"maximum_concurrency": 1})
        # The workers' heartbeats (a slow sandbox may take longer than a slot's lease):
        # those above the new limit are told they lost their slot.
        for w, h in held.items():
            lost = store.renew_slots(h.slots(), w, slot_lease_seconds(), time.time())
            assert lost == ([] if h.function.index == 0 else [h.function])
        # The very next claims: only the holder of slot 0 gets a job.
        claimed = {w: store.claim(fn["id"], w, LEASE, 1000, time.time(), h)
                   for w, h in held.items()}
        winners = [w for w, job in claimed.items() if job is not None]
        assert winners == [w for w, h in held.items() if h.function.index == 0]
        assert [j["status"] for j in store.active_jobs(fn["id"])] == ["running"]
        # Raised again: the others take a slot anew and run.
        store.update_function(fn["id"], {"maximum_concurrency": 3})
        fn = store.get_function(fn["id"])
        for w in held:
            if w not in winners:
                again = take_both(store, fn, w)
                assert again is not None
                assert store.claim(fn["id"], w, LEASE, 1000, time.time(), again) is not None
        assert len(store.active_jobs(fn["id"])) == 3
    finally:
        store.update_function(fn["id"], {"status": "stopped"})


def test_a_lost_workers_slot_comes_back_after_its_lease(namespace, store):
    fn = function_record(namespace, maximum_concurrency=1)
    for _ in range(2):
        job_record(namespace.backend, fn)
    store.update_function(fn["id"], {"status": "ready"})
    try:
        fn = store.get_function(fn["id"])
        t = time.time()
        lost = take_both(store, fn, "lost", at=t)
        assert store.claim(fn["id"], "lost", LEASE, 1000, t, lost) is not None
        # The worker dies: nothing renews its slots.
        assert take_both(store, fn, "next", at=t + slot_lease_seconds() - 1) is None
        later = t + slot_lease_seconds() + 1
        assert store.slot_holders(FUNCTION, fn["id"], later) == {}
        taken = take_both(store, fn, "next", at=later)
        assert taken is not None and taken.function == lost.function
        assert store.claim(fn["id"], "next", LEASE, 1000, later, taken) is not None
        # The lost worker, back from a pause, can no longer claim with its old slots.
        assert store.claim(fn["id"], "lost", LEASE, 1000, later, lost) is None
        assert store.renew_slots(lost.slots(), "lost", slot_lease_seconds(), later) == \
            [lost.function]  # its namespace slot was free, not taken: still its own
        assert store.renew_slots(taken.slots(), "next", slot_lease_seconds(), later) == []
    finally:
        store.update_function(fn["id"], {"status": "stopped"})


def test_an_idle_worker_gives_its_namespace_slot_back(namespace, store):
    # A namespace limit of 2: Function a's two workers hold both namespace slots while
    # they run; once a has nothing pending they give them back, and b's worker runs.
    a = function_record(namespace, maximum_concurrency=2)
    b = function_record(namespace, maximum_concurrency=2)
    for _ in range(2):
        job_record(namespace.backend, a)
    job_record(namespace.backend, b)
    for fn in (a, b):
        store.update_function(fn["id"], {"status": "ready"})
    try:
        a, b = store.get_function(a["id"]), store.get_function(b["id"])
        workers = [WorkerSlots(store, w, namespace_limit=2) for w in ("a1", "a2")]
        for ws in workers:
            held = ws.for_claim(a)
            _finish(store, store.claim(a["id"], ws.worker_id, LEASE, 2, time.time(), held))
        other = WorkerSlots(store, "b1", namespace_limit=2)
        assert other.for_claim(b) is None  # b has a job, the namespace no free slot
        assert len(store.slot_holders(NAMESPACE, namespace.namespace, time.time())) == 2
        for ws in workers:  # a's queue is empty: each finds nothing, and gives back
            ws.renew()  # the heartbeat (a slow sandbox may outlast a slot's lease)
            assert store.claim(a["id"], ws.worker_id, LEASE, 2, time.time(), ws.held) is None
            ws.nothing_claimed(a["id"])
            assert ws.held.namespace is None and ws.held.function is not None
            assert ws.for_claim(a) is None  # nothing pending: no namespace slot taken
        assert store.slot_holders(NAMESPACE, namespace.namespace, time.time()) == {}
        other.retry_at = 0.0  # past its backoff
        held = other.for_claim(b)
        assert held is not None
        assert store.claim(b["id"], "b1", LEASE, 2, time.time(), held) is not None
        # Leaving gives every slot back.
        for ws in workers:
            ws.release()
        assert store.slot_holders(FUNCTION, a["id"], time.time()) == {}
    finally:
        for fn in (a, b):
            store.update_function(fn["id"], {"status": "stopped"})
