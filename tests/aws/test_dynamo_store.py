"""What only the DynamoDB store does: claimers in separate processes spreading over one
queue (each with its own cached candidates), and a batch half written by a sender that
died, completed by its retry."""

from __future__ import annotations

from botocore.exceptions import ClientError

from skyrun.backends.aws.store import DynamoStore
from skyrun.common.timeutil import now
from skyrun.domain import transitions
from skyrun.engine.workerslots import claim_as_worker, take_both
from tests.stores import function_record, job_records, stored_batch


class _CountingClient:
    """A DynamoDB client that counts the transactions it sends and those that fail."""

    def __init__(self, client):
        self.client, self.sent, self.failed = client, 0, 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def transact_write_items(self, **params):
        self.sent += 1
        try:
            return self.client.transact_write_items(**params)
        except ClientError:
            self.failed += 1
            raise


def test_two_claimers_of_one_queue_spread_over_it(aws_backend):
    # Two worker processes (two stores, each with its own cached candidates) claiming in
    # turn from one queue: each job once, and few claims lost to the other, because a
    # claimer that loses one starts its next list at its own place instead of the head,
    # and queries again at the end of it instead of wrapping around to the head.
    s = aws_backend.store
    fn, records = stored_batch(s, 60, maximum_concurrency=100)
    stores = [DynamoStore(_CountingClient(s.client), s.functions, s.jobs, s.batches, s.leases)
              for _ in range(2)]
    taken = [claim_as_worker(stores[i % 2], fn["id"], f"array-job:{i % 2}", 60, 1000, now())["id"]
             for i in range(len(records))]
    assert sorted(taken) == sorted(r["id"] for r in records)  # each exactly once
    failed = sum(store.client.failed for store in stores)
    print(f"claims lost to the other claimer: {failed} of {len(records)}")
    # 52 of 60 when each claimer walked the same list; 7 when a walk wrapped around.
    assert failed <= 6
    assert claim_as_worker(stores[0], fn["id"], "array-job:0", 60, 1000, now()) is None
    # Leave nothing running for the sweepers of later tests on the same tables.
    for job_id in taken:
        assert s.update_job(job_id, {"status": "success", "worker_id": None},
                            expect={"status": ["running"]})
    s.update_function(fn["id"], {"status": "stopped"})
    assert s.active_jobs(fn["id"]) == []


def test_a_settle_whose_next_job_was_taken_claims_another_in_one_transaction(aws_backend):
    # A worker's cached candidates go stale when another worker takes one: its settle
    # and next claim still go out together, with a fresh candidate (a failed
    # transaction and a query), not as a settle and a claim apart.
    s = aws_backend.store
    fn, records = stored_batch(s, 5, maximum_concurrency=10)
    a, b = (DynamoStore(_CountingClient(s.client), s.functions, s.jobs, s.batches, s.leases)
            for _ in range(2))
    first = claim_as_worker(a, fn["id"], "array-job:0", 60, 1000, now())
    stolen = claim_as_worker(b, fn["id"], "array-job:1", 60, 1000, now())
    assert stolen["id"] == records[1]["id"]  # the oldest left, which `a` holds as next
    held = take_both(a, fn, "array-job:0")
    change = transitions.settle(first, "array-job:0", transitions.RETURNED, now(), 0)
    sent = a.client.sent
    settled, claimed, _ = a.settle_and_claim(
        first["id"], change.changes, change.expect, [],
        dict(worker_id="array-job:0", lease_seconds=60, namespace_limit=1000, now=now(),
             held=held))
    assert settled["status"] == "success"
    assert claimed["id"] not in (first["id"], stolen["id"])
    assert claimed["worker_id"] == "array-job:0" and claimed["execution_count"] == 1
    assert (a.client.sent - sent, a.client.failed) == (2, 1)
    assert s.get_job(claimed["id"])["status"] == "running"
    for job_id in (claimed["id"], stolen["id"]):
        assert s.update_job(job_id, {"status": "success", "worker_id": None},
                            expect={"status": ["running"]})
    s.update_function(fn["id"], {"status": "stopped"})


def test_a_retry_completes_a_half_written_batch(aws_backend):
    """A sender that died after writing the batch record and some jobs: the retry
    writes the rest and keeps what was written."""
    store = aws_backend.store
    fn = function_record()
    store.create_function(fn)
    ref, records = job_records(fn, 40)
    store.client.put_item(TableName=store.batches, Item={
        "reference_id": {"S": ref}, "function_id": {"S": fn["id"]}, "count": {"N": "40"},
        "created": {"N": repr(records[0]["creation_date"])}})
    store._write_new_jobs(records[:15])
    store.update_job(records[0]["id"], {"status": "canceled"})
    returned = store.insert_jobs(ref, records)
    assert [r["id"] for r in returned] == [r["id"] for r in records]
    assert returned[0]["status"] == "canceled"
    assert store.count_by_status([fn["id"]])[fn["id"]] == {"pending": 39, "canceled": 1}
