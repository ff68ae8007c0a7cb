"""The ``BlobStore`` and ``LogStore`` ports, on both backends."""

from __future__ import annotations

import uuid

import pytest

from skyrun.common.joblog import format_records, log_blob_id
from skyrun.common.search import And, Compare, In, IsNull, Prefix, SortKey
from skyrun.common.timeutil import now
from skyrun.exceptions import ConflictError, NotFoundError
from tests.stores import new_namespace


def eq(name, value, kind="str"):
    return Compare(name, "==", value, kind)


def blob(namespace, name, storage_type="data", **extra):
    record = {"id": f"{storage_type}/{namespace}/{name}", "namespace": namespace,
              "name": name, "storage_type": storage_type, "storage_state": "available",
              "owners": [f"user:{namespace}"]}
    record.update(extra)
    return record


def test_put_get_and_ranges(backend):
    blobs = backend.blobs
    ns = new_namespace()
    record = blob(ns, "a/b.txt", description="d", extra_properties={"n": 1, "s": "x"},
                  tags=["t1", "t2"])
    stored = blobs.put(record, b"0123456789")
    assert stored["size_bytes"] == 10 and stored["hash"] == "781e5e245d69b566979b86e28d23f2c7"
    assert stored["href"]
    assert stored["created"] == stored["modified"]
    assert blobs.get_record(record["id"]) == stored
    assert blobs.get_data(record["id"]) == b"0123456789"
    assert blobs.get_data(record["id"], 2, 4) == b"234"
    assert blobs.get_data(record["id"], 7, None) == b"789"
    assert blobs.get_data(record["id"], 8, 100) == b"89"
    assert blobs.get_data(record["id"], 20, 30) == b""
    assert blobs.get_record("data/nope/x") is None
    with pytest.raises(NotFoundError):
        blobs.get_data("data/nope/x")


def test_put_without_overwrite_is_atomic_on_the_id(backend):
    blobs = backend.blobs
    record = blob(new_namespace(), "x")
    blobs.put(record, b"first")
    with pytest.raises(ConflictError):
        blobs.put(record, b"second")
    with pytest.raises(ConflictError):
        blobs.put(dict(record, storage_state="remote"), None)
    assert blobs.get_data(record["id"]) == b"first"  # the loser changed nothing
    replaced = blobs.put(record, b"second!", overwrite=True)
    assert replaced["size_bytes"] == 7 and blobs.get_data(record["id"]) == b"second!"


def test_remote_blob_and_empty_data(backend):
    blobs = backend.blobs
    ns = new_namespace()
    remote = blobs.put(blob(ns, "r", storage_state="remote", href="s3://else/where"), None)
    assert remote["href"] == "s3://else/where" and remote["size_bytes"] is None
    with pytest.raises(NotFoundError):
        blobs.get_data(remote["id"])
    empty = blobs.put(blob(ns, "e"), b"")
    assert empty["size_bytes"] == 0 and blobs.get_data(empty["id"]) == b""


def test_update_and_delete(backend):
    blobs = backend.blobs
    record = blobs.put(blob(new_namespace(), "u"), b"data")
    updated = blobs.update(record["id"], {"description": "new", "tags": ["z"],
                                          "extra_properties": {"k": 2.5}})
    assert updated["description"] == "new" and updated["tags"] == ["z"]
    assert updated["extra_properties"] == {"k": 2.5}
    assert updated["modified"] >= record["modified"] and updated["created"] == record["created"]
    assert blobs.get_record(record["id"]) == updated
    assert blobs.update("data/none/x", {"description": "x"}) is None
    assert blobs.delete([record["id"], "data/none/x"]) == [record["id"]]
    assert blobs.get_record(record["id"]) is None
    assert blobs.delete([record["id"]]) == []


def test_expired_blobs_are_missing_and_purged(backend):
    blobs = backend.blobs
    ns = new_namespace()
    old = blobs.put(blob(ns, "old", expires=now() - 10), b"old data")
    keep = blobs.put(blob(ns, "keep", expires=now() + 3600), b"keep")
    assert blobs.get_record(old["id"]) is None
    assert blobs.get_record(keep["id"]) is not None
    scope = eq("namespace", ns)
    assert [r["name"] for r in blobs.search(scope, [])] == ["keep"]
    # The id of an expired blob is free again, with no trace of its data.
    fresh = blobs.put(blob(ns, "old", storage_state="remote"), None)
    assert fresh["expires"] is None
    with pytest.raises(NotFoundError):
        blobs.get_data(fresh["id"])
    blobs.put(blob(ns, "gone", expires=now() - 1), b"x")
    assert blobs.purge_expired() >= 1
    assert blobs.count(scope) == 2


def test_search(backend):
    blobs = backend.blobs
    ns = new_namespace()
    for i, name in enumerate(["f1/j1", "f1/j2", "f2/j1", "other"]):
        blobs.put(blob(ns, name, "compute", extra_properties={"rank": i, "kind": "r"},
                       tags=["even" if i % 2 == 0 else "odd"]), b"x" * (i + 1))
    blobs.put(blob(ns, "f1/data"), b"d")
    blobs.put(blob(new_namespace(), "f1/j1", "compute"), b"z")
    compute = And(eq("namespace", ns), eq("storage_type", "compute"))
    prefix = And(compute, Prefix("name", "f1/", "str"))
    assert [r["name"] for r in blobs.search(prefix, [SortKey("name", True)])] == ["f1/j2", "f1/j1"]
    assert blobs.count(prefix) == 2
    assert [r["name"] for r in blobs.search(compute, [SortKey("size_bytes")], limit=2, offset=1)] \
        == ["f1/j2", "f2/j1"]
    ranked = And(compute, Compare("extra_properties.rank", ">=", 2, "num"))
    assert [r["name"] for r in blobs.search(ranked, [SortKey("extra_properties.rank")])] \
        == ["f2/j1", "other"]
    assert blobs.count(And(compute, Compare("extra_properties.kind", ">", 1, "num"))) == 0
    assert blobs.count(And(compute, eq("tags", "odd", "list"))) == 2
    everywhere = And(eq("name", "f1/j1"), eq("storage_type", "compute"))
    assert blobs.count(everywhere) >= 2  # searches span namespaces
    assert blobs.count(And(eq("namespace", ns), IsNull("expires", False))) == 5
    ids = (f"compute/{ns}/other", f"data/{ns}/f1/data", "data/x/none")
    assert {r["name"] for r in blobs.search(In("id", ids, "str"), [])} == {"other", "f1/data"}
    with pytest.raises(ValueError, match="Cannot filter on property: color"):
        blobs.search(eq("color", "red"), [])


def test_internal_objects(backend):
    blobs = backend.blobs
    key = f"bundles/{uuid.uuid4().hex}.zip"
    assert blobs.get_object(key) is None
    blobs.put_object(key, b"PK zip")
    assert blobs.get_object(key) == b"PK zip"
    blobs.delete_object(key)
    assert blobs.get_object(key) is None
    blobs.delete_object(key)


# -- logs -------------------------------------------------------------------------------
def test_logs_append_read_seal_delete(backend):
    logs = backend.logs
    ns, fid, jid = new_namespace(), uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    assert list(logs.read(ns, fid, jid)) == []
    t = round(now(), 6)
    first = [(t, "hello"), (round(t + 0.000001, 6), ""),
             (round(t + 0.5, 6), 'quote " and ünïcode')]
    logs.append(ns, fid, jid, first)
    logs.append(ns, fid, jid, [])
    logs.append(ns, fid, jid, [(round(t + 1, 6), "more")])
    assert list(logs.read(ns, fid, jid)) == [*first, (round(t + 1, 6), "more")]
    logs.seal(ns, fid, jid)
    record = backend.blobs.get_record(log_blob_id(ns, fid, jid))
    assert record["storage_type"] == "logs" and record["name"] == f"{fid}/{jid}"
    assert backend.blobs.get_data(record["id"]) == format_records([*first, (round(t + 1, 6), "more")])
    logs.delete(ns, fid, jid)
    assert list(logs.read(ns, fid, jid)) == []
    assert backend.blobs.get_record(log_blob_id(ns, fid, jid)) is None


def test_seal_of_a_silent_job_writes_an_empty_log(backend):
    ns, fid, jid = new_namespace(), "f", uuid.uuid4().hex[:8]
    backend.logs.seal(ns, fid, jid)
    assert backend.blobs.get_data(log_blob_id(ns, fid, jid)) == b""
    assert list(backend.logs.read(ns, fid, jid)) == []


def test_seal_of_a_run_that_wrote_nothing_reads_no_log(backend, monkeypatch):
    ns, fid, jid = new_namespace(), "f", uuid.uuid4().hex[:8]
    # An earlier run's log blob is kept by a seal that knows nothing new was written.
    backend.logs.append(ns, fid, jid, [(round(now(), 6), "first run")])
    backend.logs.seal(ns, fid, jid)
    sealed = backend.blobs.get_data(log_blob_id(ns, fid, jid))
    read = getattr(backend.logs, "_stream_lines", None)
    if read is not None:  # AWS: the stream is not read at all
        monkeypatch.setattr(backend.logs, "_stream_lines",
                            lambda *a: pytest.fail("the log stream was read"))
    backend.logs.seal(ns, fid, jid, written=False)
    assert backend.blobs.get_data(log_blob_id(ns, fid, jid)) == sealed
    other = uuid.uuid4().hex[:8]
    backend.logs.seal(ns, fid, other, written=False)
    assert backend.blobs.get_data(log_blob_id(ns, fid, other)) == b""


def test_get_records_in_bulk_and_data_without_a_second_read(backend, monkeypatch):
    ns = new_namespace()
    stored = [backend.blobs.put(blob(ns, f"r{i}"), f"data {i}".encode()) for i in range(120)]
    gone = backend.blobs.put(blob(ns, "gone", expires=now() - 1), b"x")
    ids = [r["id"] for r in stored] + [gone["id"], f"{ns}/missing"]
    records = backend.blobs.get_records(ids)
    assert set(records) == {r["id"] for r in stored}  # expired and missing left out
    monkeypatch.setattr(backend.blobs, "get_record",
                        lambda *a: pytest.fail("the record was read again"))
    assert backend.blobs.get_data(stored[7]["id"], record=records[stored[7]["id"]]) == b"data 7"


def test_sweep_staged_takes_what_one_claim_staged_and_nothing_else(backend):
    # What a worker killed between its result and its settle left: data its claim
    # staged for the blob, which no settle stored. Another claim's data stays, be it
    # the next attempt's or, after a rerun, an attempt of the same number.
    blobs = backend.blobs
    record = blob(new_namespace(), "fid/jid", storage_type="compute")
    other = blob(new_namespace(), "fid/other", storage_type="compute")
    lost = "1-1796000000000001"
    blobs.staged_record(record, b'"killed"', lost)
    blobs.staged_record(record, b'"killed, a second piece"', lost)
    blobs.staged_record(other, b'"another blob"', lost)
    after_rerun = blobs.staged_record(record, b'"rerun, running"', "1-1796000000500000")
    later = blobs.staged_record(record, b'"next, running"', "2-1796000000100000")
    longer = blobs.staged_record(record, b'"a mark it starts"', lost + "7")
    assert blobs.sweep_staged([record["id"]], lost) == 2
    assert blobs.sweep_staged([record["id"]], lost) == 0
    blobs.discard_staged([after_rerun, later, longer])  # their own ends: nothing is left
    assert blobs.sweep_staged([record["id"], other["id"]], lost) == 1
    assert blobs.sweep_staged(["compute/nothing/here"], lost) == 0
