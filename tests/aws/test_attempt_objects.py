"""What only the S3 blob store does: the data a job's settle stores lives under a key of
its attempt's own (``{blob id},{mark}.{token}``), which the record's ``href`` names;
reads, deletes and replacements follow the record, and an ``href`` cannot point the store
at another blob's object."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from skyrun.backends.aws.blobs import record_write
from skyrun.exceptions import NotFoundError
from tests.stores import new_namespace


def _record(ns: str, name: str, storage_type: str = "compute", **extra) -> dict:
    return {"id": f"{storage_type}/{ns}/{name}", "namespace": ns, "name": name,
            "storage_type": storage_type, "storage_state": "available",
            "owners": [f"user:{ns}"], **extra}


def _store(blobs, record: dict) -> None:
    # As a settle stores it: the record in a transaction of its own.
    blobs.dynamodb.transact_write_items(TransactItems=[record_write(blobs.table, record)])


def _keys(blobs, prefix: str) -> list[str]:
    listing = blobs.s3.list_objects_v2(Bucket=blobs.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def _exists(blobs, object_key: str) -> bool:
    try:
        blobs.s3.head_object(Bucket=blobs.bucket, Key=object_key)
    except ClientError:
        return False
    return True


def test_each_attempt_writes_its_own_object_and_the_record_names_one(aws_backend):
    blobs = aws_backend.blobs
    base = _record(new_namespace(), "fid/jid")
    first = blobs.staged_record(base, b'"first"', "1-100")
    second = blobs.staged_record(base, b'"second"', "2-200")
    keys = [blobs.data_key(first), blobs.data_key(second)]
    assert keys[0].startswith(base["id"] + ",1-100.")
    assert keys[1].startswith(base["id"] + ",2-200.")
    assert first["href"] == f"s3://{blobs.bucket}/{keys[0]}"
    assert not _exists(blobs, base["id"])  # nothing in place
    _store(blobs, second)
    assert blobs.get_data(base["id"]) == b'"second"'
    assert blobs.get_data(base["id"], 1, 3) == b"sec"
    blobs.discard_staged([first, second])  # only what the stored record does not name
    assert _keys(blobs, base["id"]) == [keys[1]]
    assert blobs.delete([base["id"]]) == [base["id"]]
    assert _keys(blobs, base["id"]) == []


def test_a_log_sealed_again_in_place_removes_the_attempts_object(aws_backend):
    blobs = aws_backend.blobs
    base = _record(new_namespace(), "fid/jid", storage_type="logs")
    sealed = blobs.staged_record(base, b"a line\n", "1-100")
    _store(blobs, sealed)
    replaced = blobs.put(base, b"a line\nand another\n", overwrite=True)
    assert replaced["href"] == f"s3://{blobs.bucket}/{base['id']}"
    assert blobs.get_data(base["id"]) == b"a line\nand another\n"
    assert _keys(blobs, base["id"]) == [base["id"]]


def test_an_href_cannot_name_another_blobs_object(aws_backend):
    # A record's href is followed only to an attempt's key under its own id, which no
    # other blob's id can be (names may not hold the separator): a blob whose href names
    # another blob's data neither reads nor deletes it.
    blobs = aws_backend.blobs
    ns = new_namespace()
    victim = blobs.put(_record(ns, "victim", storage_type="data"), b"keep me")
    neighbour = blobs.put(_record(ns, "lure@x", storage_type="data"), b"keep me too")
    for href in (victim["href"], neighbour["href"], f"s3://{blobs.bucket}/{victim['id']}"):
        assert blobs.data_key(_record(ns, "lure", storage_type="data", href=href)) \
            == f"data/{ns}/lure"
    lure = blobs.put(_record(ns, "lure", storage_type="data", storage_state="remote",
                             href=neighbour["href"]), None)
    assert blobs.delete([lure["id"]]) == [lure["id"]]
    # An available blob whose href was changed to another's reads its own key only.
    own = blobs.put(_record(ns, "own", storage_type="data"), b"mine")
    blobs.update(own["id"], {"href": victim["href"]})
    assert blobs.get_data(own["id"]) == b"mine"
    assert blobs.delete([own["id"]]) == [own["id"]]
    assert blobs.get_data(victim["id"]) == b"keep me"
    assert blobs.get_data(neighbour["id"]) == b"keep me too"
    with pytest.raises(NotFoundError):
        blobs.get_data(own["id"])


def test_a_sweep_keeps_what_the_record_names(aws_backend):
    # The claim's settle landed (its answer lost, say) and the job was requeued later all
    # the same: the data the record names stays.
    blobs = aws_backend.blobs
    base = _record(new_namespace(), "fid/jid")
    stored = blobs.staged_record(base, b'"won"', "1-100")
    _store(blobs, stored)
    killed = blobs.staged_record(base, b'"killed"', "1-100")
    assert blobs.sweep_staged([base["id"]], "1-100") == 1
    assert _keys(blobs, base["id"]) == [blobs.data_key(stored)]
    assert blobs.data_key(killed) != blobs.data_key(stored)
    assert blobs.get_data(base["id"]) == b'"won"'
