"""Many claimers at once never exceed the limits, and every job runs exactly once."""

from __future__ import annotations

import threading

from skyrun.common.timeutil import now
from skyrun.engine.workerslots import claim_as_worker
from tests.stores import function_record, job_records, new_namespace, stored_batch

THREADS = 8


def run_workers(store, function_ids, namespace_limit, jobs_total):
    """Threads that claim, hold for a moment, and finish jobs, tracking how many of
    each function (and in all) are active at once."""
    lock = threading.Lock()
    active: dict[str, int] = dict.fromkeys(function_ids, 0)
    peak: dict[str, int] = dict.fromkeys([*function_ids, "all"], 0)
    done: list[str] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            idle = 0
            while True:
                with lock:
                    if len(done) >= jobs_total:
                        return
                fid = function_ids[(n + idle) % len(function_ids)]
                job = claim_as_worker(store, fid, f"w{n}", 60, namespace_limit, now())
                if job is None:
                    idle += 1
                    threading.Event().wait(0.005)
                    continue
                with lock:
                    active[fid] += 1
                    peak[fid] = max(peak[fid], active[fid])
                    peak["all"] = max(peak["all"], sum(active.values()))
                threading.Event().wait(0.002)
                with lock:
                    active[fid] -= 1
                    done.append(job["id"])
                # Settled after leaving the tally: the slot is released only now.
                assert store.update_job(job["id"], {"status": "success", "worker_id": None},
                                        expect={"status": ["running"], "worker_id": f"w{n}"})
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    return peak, done


def test_claims_hold_maximum_concurrency(backend):
    store = backend.store
    fn, records = stored_batch(store, 24, maximum_concurrency=3)
    peak, done = run_workers(store, [fn["id"]], 1000, len(records))
    assert peak[fn["id"]] <= 3
    assert sorted(done) == sorted(r["id"] for r in records)  # each exactly once
    assert store.count_by_status([fn["id"]])[fn["id"]] == {"success": 24}
    assert store.active_jobs(fn["id"]) == []


def test_claims_hold_the_namespace_limit(backend):
    store = backend.store
    ns = new_namespace()
    functions = [function_record(ns, maximum_concurrency=4) for _ in range(2)]
    total = 0
    for fn in functions:
        store.create_function(fn)
        _, records = job_records(fn, 10)
        store.insert_jobs(records[0]["reference_id"], records)
        total += len(records)
    peak, done = run_workers(store, [f["id"] for f in functions], 3, total)
    assert peak["all"] <= 3
    assert len(done) == len(set(done)) == total
