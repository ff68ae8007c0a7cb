"""Where a job's result lives on AWS: a small one in its blob record's item (written by
the settle's transaction, read with the record), a large one in S3; both read back the
same through the blob store, whole or in part."""

from __future__ import annotations

from botocore.exceptions import ClientError

from skyrun.backends.aws.blobs import INLINE_LIMIT, S3BlobStore, record_write
from skyrun.engine.lifecycle import result_record
from tests.stores import new_namespace

SMALL = b"[1, 2, 3]"
LARGE = bytes(range(256)) * (INLINE_LIMIT // 256 + 1)


def _settle(backend, record: dict) -> None:
    # What a settle's transaction does with the staged record (alone here).
    backend.store.client.transact_write_items(
        TransactItems=[record_write(backend.blobs.table, record)])


def _has_object(backend, blob_id: str) -> bool:
    try:
        backend.blobs.s3.head_object(Bucket=backend.blobs.bucket, Key=blob_id)
        return True
    except ClientError:
        return False


def test_small_results_live_in_their_record_large_ones_in_s3(aws_backend):
    blobs, ns = aws_backend.blobs, new_namespace()
    small = blobs.staged_record(result_record(ns, "f", "small", {}), SMALL)
    large = blobs.staged_record(result_record(ns, "f", "large", {}), LARGE)
    for record in (small, large):
        _settle(aws_backend, record)
    assert not _has_object(aws_backend, small["id"]) and small["href"] is None
    assert _has_object(aws_backend, large["id"])
    assert large["href"] == f"s3://{blobs.bucket}/{large['id']}"
    records = blobs.get_records([small["id"], large["id"]])
    assert records[small["id"]]["size_bytes"] == len(SMALL)
    assert "_inline_data" not in records[small["id"]]  # the data is no record field
    assert blobs.get_data(small["id"], record=records[small["id"]]) == SMALL
    assert blobs.get_data(large["id"], record=records[large["id"]]) == LARGE
    # Read by id alone, in parts, and with a record read by another store (which has
    # not seen the item's data): the same bytes.
    assert blobs.get_data(small["id"]) == SMALL
    assert blobs.get_data(small["id"], 1, 4) == SMALL[1:5]
    assert blobs.get_data(small["id"], 5) == SMALL[5:]
    assert blobs.get_data(small["id"], 50, 60) == b""
    assert blobs.get_data(large["id"], 300, 301) == LARGE[300:302]
    other = S3BlobStore(blobs.s3, blobs.dynamodb, blobs.bucket, blobs.table)
    assert other.get_data(small["id"], record=records[small["id"]]) == SMALL


def test_a_rerun_with_a_small_result_replaces_a_large_one(aws_backend):
    blobs, ns = aws_backend.blobs, new_namespace()
    _settle(aws_backend, blobs.staged_record(result_record(ns, "f", "j", {}), LARGE))
    again = blobs.staged_record(result_record(ns, "f", "j", {}), SMALL)
    _settle(aws_backend, again)
    assert blobs.get_data(again["id"]) == SMALL
    assert blobs.get_record(again["id"])["size_bytes"] == len(SMALL)
    # The other way round: the large one is read from S3 again.
    _settle(aws_backend, blobs.staged_record(result_record(ns, "f", "j", {}), LARGE))
    assert blobs.get_data(again["id"]) == LARGE
    assert blobs.delete([again["id"]]) == [again["id"]]
    assert blobs.get_record(again["id"]) is None and not _has_object(aws_backend, again["id"])
