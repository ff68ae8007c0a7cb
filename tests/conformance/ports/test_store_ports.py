"""The ``Store`` port, on both backends: every method, with the local store's semantics."""

from __future__ import annotations

import uuid

import pytest

from skyrun.backends.ports import FUNCTION, JOB, JSONText
from skyrun.backends.records import NewJobs
from skyrun.common.search import And, Compare, In, Like, Prefix, SortKey
from skyrun.common.timeutil import now
from skyrun.domain.slots import Slot
from skyrun.engine.workerslots import claim_as_worker
from skyrun.exceptions import ConflictError
from tests.stores import function_record, job_records, new_namespace, stored_batch


def eq(name, value, kind="str"):
    return Compare(name, "==", value, kind)


# -- functions --------------------------------------------------------------------------
def test_function_create_get_conflict(backend):
    store = backend.store
    record = function_record()
    store.create_function(record)
    assert store.get_function(record["id"]) == record
    with pytest.raises(ConflictError):
        store.create_function(record)
    assert store.get_function("missing") is None


def test_function_values_keep_their_types(backend):
    record = function_record(cpus=1.0, memory=2048, enabled=False, environment={},
                             requirements=[], modified_date=1700000000.0)
    backend.store.create_function(record)
    stored = backend.store.get_function(record["id"])
    assert stored == record
    assert isinstance(stored["cpus"], float) and isinstance(stored["memory"], int)
    assert stored["enabled"] is False and stored["environment"] == {}


def test_function_conditional_update(backend):
    store = backend.store
    record = function_record(status="building")
    store.create_function(record)
    assert store.update_function(record["id"], {"status": "ready"},
                                 expect={"status": ["ready", "stopped"]}) is None
    updated = store.update_function(record["id"], {"status": "ready", "env_hash": None},
                                    expect={"status": ["awaiting_bundle", "building"]})
    assert updated["status"] == "ready" and updated["env_hash"] is None
    assert store.get_function(record["id"]) == updated
    assert store.update_function(record["id"], {"name": "x"}, expect={"env_hash": None})
    assert store.update_function("missing", {"name": "x"}) is None
    assert store.update_function(record["id"], {}) == store.get_function(record["id"])


def test_function_delete(backend):
    record = function_record()
    backend.store.create_function(record)
    backend.store.delete_function(record["id"])
    assert backend.store.get_function(record["id"]) is None


def test_function_search_within_namespace(backend):
    store = backend.store
    ns = new_namespace()
    t = now()
    records = [function_record(ns, name=f"f{i}", creation_date=t + i) for i in range(3)]
    for r in records:
        store.create_function(r)
    store.create_function(function_record(new_namespace()))
    where = eq("namespace", ns)
    found = store.query(FUNCTION, where, [SortKey("creation_date", descending=True)])
    assert [r["name"] for r in found] == ["f2", "f1", "f0"]
    assert store.count(FUNCTION, where) == 3
    assert store.count(FUNCTION, And(where, Like("name", "F_", True, "str"))) == 3
    later = Compare("creation_date", ">", t + 0.5, "datetime")
    assert [r["name"] for r in store.query(FUNCTION, And(where, later), [])] == ["f1", "f2"]
    assert store.count(FUNCTION, And(where, later)) == 2
    with pytest.raises(ValueError, match="Cannot filter on property: nope"):
        store.query(FUNCTION, And(where, eq("nope", 1)), [])


# -- jobs -------------------------------------------------------------------------------
@pytest.fixture
def function(backend):
    record = function_record()
    backend.store.create_function(record)
    return record


def test_insert_jobs_and_read_back(backend, function):
    store = backend.store
    ref, records = job_records(function, 30)
    records[0]["args"] = JSONText('[1, {"a": 2.5}]')
    stored = store.insert_jobs(ref, records)
    assert [r["id"] for r in stored] == [f"{ref}-{i}" for i in range(30)]
    got = store.get_job(f"{ref}-0")
    assert got["args"] == [1, {"a": 2.5}] and got["kwargs"] == {"k": 0}
    assert got["status"] == "pending" and got["tags"] == ["batch"]
    assert got["worker_id"] is None and got["failures"] == 0 and got["losses"] == 0
    assert {r["id"] for r in store.get_jobs([r["id"] for r in records] + ["nope"])} \
        == {r["id"] for r in records}
    assert store.get_job("nope") is None
    assert store.insert_jobs(uuid.uuid4().hex, []) == []


def test_insert_jobs_of_a_batch_held_as_columns(backend, function):
    # map()'s batches: one template and the columns that differ, read as records by any
    # store (the embedded one builds its rows from the columns).
    store = backend.store
    ref, records = job_records(function, 4)
    records[1]["environment"] = {"A": "1"}
    records[2]["kwargs"] = None
    shared = dict(records[0], id=None, args=None, kwargs=None, environment=None)
    batch = NewJobs(shared, [r["id"] for r in records],
                    [JSONText(f"[{i}]") for i in range(4)],
                    [None if r["kwargs"] is None else JSONText(f'{{"k":{i}}}')
                     for i, r in enumerate(records)],
                    [r["environment"] for r in records])
    assert len(batch) == 4 and list(batch[1]) == list(records[1])
    assert [dict(r, args=json_value(r["args"]), kwargs=json_value(r["kwargs"]))
            for r in batch] == records
    assert batch[1:3] == [batch[1], batch[2]] and batch[-1]["id"] == records[3]["id"]
    returned = store.insert_jobs(ref, batch)
    assert [r["id"] for r in returned] == [r["id"] for r in records]
    for record in records:
        got = store.get_job(record["id"])
        assert {k: got[k] for k in record} == record
    with pytest.raises(ValueError, match="one value per job"):
        NewJobs(shared, ["a"], [], [], [])


def json_value(text):
    import json

    return None if text is None else json.loads(text)


def test_insert_jobs_is_idempotent(backend, function):
    store = backend.store
    ref, records = job_records(function, 5)
    store.insert_jobs(ref, records)
    store.update_job(f"{ref}-1", {"status": "canceled"})
    _, again = job_records(function, 5, reference_id=ref, t=now() + 100)
    returned = store.insert_jobs(ref, again)
    assert [r["id"] for r in returned] == [f"{ref}-{i}" for i in range(5)]
    assert [r["creation_date"] for r in returned] == [records[0]["creation_date"]] * 5
    assert returned[1]["status"] == "canceled"  # nothing was overwritten
    assert store.count(JOB, eq("function_id", function["id"])) == 5
    # Jobs deleted since do not come back with a late retry.
    store.delete_jobs([f"{ref}-0"])
    assert [r["id"] for r in store.insert_jobs(ref, again)] == [f"{ref}-{i}" for i in range(1, 5)]
    assert store.get_job(f"{ref}-0") is None


def test_update_job_conditions(backend, function):
    store = backend.store
    ref, records = job_records(function, 2)
    store.insert_jobs(ref, records)
    jid = records[0]["id"]
    assert store.update_job(jid, {"status": "canceled"}, expect={"status": "running"}) is None
    updated = store.update_job(jid, {"status": "canceled", "last_completion_date": 5.5},
                               expect={"status": ["pending"], "worker_id": None})
    assert updated["status"] == "canceled" and updated["last_completion_date"] == 5.5
    assert store.get_job(jid) == updated
    changed = store.update_job(jid, {"tags": ["x"], "statistics": {"cpu": {"time": 1.5}}})
    assert changed["tags"] == ["x"] and changed["statistics"] == {"cpu": {"time": 1.5}}
    assert store.update_job("nope", {"status": "pending"}) is None
    assert store.update_job("nope", {"tags": []}) is None
    # A requeue moves the job to the back of the queue.
    requeued = store.update_job(jid, {"status": "pending", "queued_date": now() + 10})
    assert requeued["status"] == "pending"
    claimed = claim_as_worker(store, function["id"], "w", 30, 1000, now())
    assert claimed["id"] == records[1]["id"]


def test_delete_jobs_keeps_active(backend, function):
    store = backend.store
    ref, records = job_records(function, 3)
    store.insert_jobs(ref, records)
    claimed = claim_as_worker(store, function["id"], "w", 30, 1000, now())
    ids = [r["id"] for r in records]
    removed = store.delete_jobs(ids + ["nope"], keep_statuses=("running", "cancel", "canceling"))
    assert sorted(removed) == sorted(i for i in ids if i != claimed["id"])
    assert store.get_job(claimed["id"])["status"] == "running"
    assert store.delete_jobs([claimed["id"]]) == [claimed["id"]]
    assert store.get_jobs(ids) == []
    # Its slot is free again.
    ref2, more = job_records(function, 1)
    store.insert_jobs(ref2, more)
    assert store.active_jobs(function["id"]) == []


def test_job_search(backend, function):
    store = backend.store
    ref, records = job_records(function, 12)
    store.insert_jobs(ref, records)
    for r in records[:4]:
        store.update_job(r["id"], {"status": "success", "runtime": 3})
    scope = eq("namespace", function["namespace"])
    by_function = And(scope, eq("function_id", function["id"]))
    assert store.count(JOB, by_function) == 12
    success = And(by_function, eq("status", "success"))
    assert store.count(JOB, success) == 4
    assert store.count(JOB, And(by_function, In("status", ("pending", "success"), "str"))) == 12
    assert store.count(JOB, And(scope, Compare("runtime", ">", 2, "num"))) == 4
    assert store.count(JOB, And(scope, eq("tags", "batch", "list"))) == 12
    assert store.count(JOB, And(scope, Prefix("id", ref, "str"))) == 12
    page = store.query(JOB, by_function, [], limit=5, offset=0)
    assert [r["id"] for r in page] == [f"{ref}-{i}" for i in range(5)]
    rest = store.query(JOB, by_function, [], limit=100, offset=5)
    assert [r["id"] for r in rest] == [f"{ref}-{i}" for i in range(5, 12)]
    ordered = store.query(JOB, scope, [SortKey("status"), SortKey("id", True)], limit=3)
    assert [r["status"] for r in ordered] == ["pending"] * 3
    picked = store.query(JOB, And(scope, In("id", (f"{ref}-3", f"{ref}-7"), "str")), [])
    assert [r["id"] for r in picked] == [f"{ref}-3", f"{ref}-7"]


def test_query_of_named_fields(backend, function):
    # The records of a query naming its fields hold those fields alone, decoded as in
    # whole records, in the same order and pages.
    store = backend.store
    ref, records = job_records(function, 7)
    records[2]["tags"] = ["a", "b"]
    store.insert_jobs(ref, records)
    by_function = eq("function_id", function["id"])
    whole = store.query(JOB, by_function, [SortKey("id", True)])
    fields = ("id", "tags", "status", "id")
    named = store.query(JOB, by_function, [SortKey("id", True)], fields=fields)
    assert named == [{k: r[k] for k in ("id", "tags", "status")} for r in whole]
    assert named[4]["tags"] == ["a", "b"]  # records[2], the id order descending
    pages = [store.query(JOB, by_function, [], limit=3, offset=o, fields=("id",))
             for o in (0, 3, 6)]
    assert [r["id"] for page in pages for r in page] == [r["id"] for r in records]
    functions = store.query(FUNCTION, eq("id", function["id"]), [],
                            fields=("enabled", "environment"))
    assert functions == [{"enabled": function["enabled"],
                          "environment": function["environment"]}]
    with pytest.raises(ValueError, match=r"Unknown job field\(s\) \['nope'\]"):
        store.query(JOB, by_function, [], fields=("id", "nope"))


def test_count_by_status(backend, function):
    store = backend.store
    ref, records = job_records(function, 6)
    store.insert_jobs(ref, records)
    store.update_job(records[0]["id"], {"status": "failure"})
    claim_as_worker(store, function["id"], "w", 30, 1000, now())
    other = function_record()
    store.create_function(other)
    counts = store.count_by_status([function["id"], other["id"]])
    assert counts == {function["id"]: {"pending": 4, "running": 1, "failure": 1},
                      other["id"]: {}}
    # A waiting loop counts only the statuses it waits on.
    waiting = ["pending", "running", "cancel", "canceling"]
    assert store.count_by_status([function["id"]], waiting) == {
        function["id"]: {"pending": 4, "running": 1}}
    assert store.count_by_status([function["id"]], []) == {function["id"]: {}}


# -- claims -----------------------------------------------------------------------------
def test_claim_oldest_first_and_marks_the_attempt(backend, function):
    store = backend.store
    t = now()
    ref, records = job_records(function, 3, t=t)
    store.insert_jobs(ref, records)
    first = claim_as_worker(store, function["id"], "w1", 30, 1000, t + 1)
    assert first["id"] == records[0]["id"]
    assert first["status"] == "running" and first["worker_id"] == "w1"
    assert first["execution_count"] == 1 and first["last_execution_date"] == round(t + 1, 6)
    assert first["lease_expires"] == pytest.approx(t + 31)
    assert first["args"] == [0]
    assert store.get_job(first["id"]) == first
    second = claim_as_worker(store, function["id"], "w2", 30, 1000, t + 2)
    assert second["id"] == records[1]["id"]


def test_claim_needs_a_ready_function(backend):
    store = backend.store
    fn, records = stored_batch(store, 1, status="stopped")
    assert claim_as_worker(store, fn["id"], "w", 30, 1000, now()) is None
    store.update_function(fn["id"], {"status": "ready"})
    assert claim_as_worker(store, fn["id"], "w", 30, 1000, now())["id"] == records[0]["id"]
    assert claim_as_worker(store, fn["id"], "w", 30, 1000, now()) is None  # nothing pending
    assert claim_as_worker(store, "missing", "w", 30, 1000, now()) is None


def test_claim_holds_maximum_concurrency_and_sees_changes(backend):
    # The limit is held by Function slots: one per worker, each running one job at once.
    store = backend.store
    fn, records = stored_batch(store, 6, maximum_concurrency=2)
    a = claim_as_worker(store, fn["id"], "w1", 30, 1000, now())
    b = claim_as_worker(store, fn["id"], "w2", 30, 1000, now())
    assert a and b
    assert claim_as_worker(store, fn["id"], "w3", 30, 1000, now()) is None
    store.update_function(fn["id"], {"maximum_concurrency": 3})
    assert claim_as_worker(store, fn["id"], "w3", 30, 1000, now()) is not None
    assert claim_as_worker(store, fn["id"], "w4", 30, 1000, now()) is None
    assert len(store.active_jobs(fn["id"])) == 3
    # Lowered: the slots at or above the new limit are revoked before the update returns.
    holders = store.slot_holders("function", fn["id"], now())
    store.update_function(fn["id"], {"maximum_concurrency": 1})
    assert store.slot_holders("function", fn["id"], now()) == {0: holders[0]}
    claims = [claim_as_worker(store, fn["id"], w, 30, 1000, now()) for w in ("w1", "w2", "w3")]
    assert sum(c is not None for c in claims) == 1  # slot 0's holder only
    # A worker that leaves gives its slot back.
    store.release_slot(Slot("function", fn["id"], 0), holders[0])
    assert claim_as_worker(store, fn["id"], "w4", 30, 1000, now()) is not None


def test_claim_holds_the_namespace_limit(backend):
    store = backend.store
    ns = new_namespace()
    functions = [function_record(ns) for _ in range(2)]
    for fn in functions:
        store.create_function(fn)
        store.insert_jobs(*job_records(fn, 2))
    assert claim_as_worker(store, functions[0]["id"], "w1", 30, 2, now())
    assert claim_as_worker(store, functions[1]["id"], "w2", 30, 2, now())
    assert claim_as_worker(store, functions[0]["id"], "w3", 30, 2, now()) is None
    assert claim_as_worker(store, functions[1]["id"], "w3", 30, 3, now())


def test_renew_and_expired_claims(backend, function):
    store = backend.store
    ref, records = job_records(function, 2)
    store.insert_jobs(ref, records)
    t = now()
    job = claim_as_worker(store, function["id"], "w1", 5, 1000, t)
    assert store.renew(job["id"], "w1", t + 100)
    assert not store.renew(job["id"], "w2", t + 200)
    assert store.get_job(job["id"])["lease_expires"] == pytest.approx(t + 100)
    assert store.expired_claims(t + 50, function["id"]) == []
    expired = store.expired_claims(t + 150, function["id"])
    assert [r["id"] for r in expired] == [job["id"]]
    assert job["id"] in {r["id"] for r in store.expired_claims(t + 150)}
    assert [r["id"] for r in store.active_jobs(function["id"])] == [job["id"]]
    store.update_job(job["id"], {"status": "success"}, expect={"worker_id": "w1"})
    assert not store.renew(job["id"], "w1", t + 300)
    assert store.active_jobs(function["id"]) == []


