"""The DynamoDB ``Store``: Function and job records, batches, claims and leases.

Tables and indexes are those of :mod:`skyrun.backends.aws.resources`; the item form is
:mod:`skyrun.backends.aws.items`. Claims, leases and the active-job counters are in
:mod:`skyrun.backends.aws.claims`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from skyrun.backends import summary
from skyrun.backends.aws import dynamo, plan
from skyrun.backends.aws import resources as res
from skyrun.backends.aws.blobs import record_write
from skyrun.backends.aws.claims import ClaimsMixin, _claimed_record, is_active, status_order
from skyrun.backends.aws.errors import (
    cancellation_codes,
    condition_failed,
    translate_errors,
    unless_condition_fails,
)
from skyrun.backends.aws.items import (
    FUNCTION_SCHEMA,
    JOB_SCHEMA,
    Expr,
    Schema,
    decode_item,
    decode_optional,
    decode_value,
    encode_item,
    key,
    matches_expect,
    number,
)
from skyrun.backends.aws.slotitems import SlotsMixin
from skyrun.backends.ports import FUNCTION, JOB, Store, field_names
from skyrun.backends.records import FUNCTION_JSON, JOB_JSON
from skyrun.common.search import Expression, SortKey
from skyrun.domain.statuses import JOB_STATUSES
from skyrun.exceptions import ConflictError

#: How long the idempotency record of a ``map()`` batch is kept: far longer than any
#: retry of the same batch can take to arrive.
BATCH_RECORD_SECONDS = 7 * 86400
#: Attempts of an optimistic read-modify-write before giving up with a conflict.
ATTEMPTS = 25
#: How many candidates a settle tries to claim in its own transaction (each lost one
#: is a failed transaction) before settling and claiming apart.
SETTLE_AND_TAKE_TRIES = 3
#: ``_settle_and_take``'s answer when only its candidate was taken by another worker.
_CANDIDATE_TAKEN = object()


def backoff(attempt: int) -> None:
    """Sleep a little, more after each failed attempt, with jitter."""
    time.sleep(min(0.5, 0.01 * 2 ** attempt) * (0.5 + random.random()))


@translate_errors
class DynamoStore(ClaimsMixin, SlotsMixin, Store):
    """Records in DynamoDB, for any number of SDK processes and workers at once."""

    def __init__(self, client: Any, functions: str, jobs: str, batches: str, leases: str,
                 blobs: str | None = None) -> None:
        self.client = client
        #: The blobs table, for result and log records written with a job's settle.
        self.blobs = blobs
        self.functions = functions
        self.jobs = jobs
        self.batches = batches
        self.leases = leases
        self._pages = plan.PageCache()
        #: Jobs claimed here, as the claim left them: ``({"revision": ...}, record)``.
        self._claimed: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        #: Pending jobs of a Function read by the last claim's query, not yet tried.
        self._claim_candidates: dict[str, list[dict[str, Any]]] = {}
        self._claim_position: dict[str, int] = {}

    # -- functions ----------------------------------------------------------------------
    def create_function(self, record: dict[str, Any]) -> None:
        """Store a new Function record; ``ConflictError`` if the id exists."""
        item = encode_item(record, FUNCTION_SCHEMA)
        if record.get("env_hash"):
            item["environment_hash"] = {"S": record["env_hash"]}
        if unless_condition_fails(self.client.put_item, TableName=self.functions, Item=item,
                                  ConditionExpression="attribute_not_exists(id)") is None:
            raise ConflictError(f"Function {record['id']} already exists")

    def get_function(self, function_id: str) -> dict[str, Any] | None:
        """The Function record, or None."""
        reply = self.client.get_item(TableName=self.functions, Key=key(id=function_id),
                                     ConsistentRead=True)
        return decode_optional(reply.get("Item"), FUNCTION_SCHEMA)

    def update_function(self, function_id: str, changes: dict[str, Any],
                        expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Conditional update; None if the record is missing or does not match."""
        if not changes:
            record = self.get_function(function_id)
            return record if record is not None and _matches(record, expect) else None
        changes = dict(changes)
        if "env_hash" in changes:
            changes["environment_hash"] = changes["env_hash"]
        e = Expr(FUNCTION_JSON)
        condition = [f"attribute_exists({e.name('id')})", *e.expect(expect)]
        update = e.update(changes)
        reply = unless_condition_fails(self.client.update_item, TableName=self.functions,
                                       Key=key(id=function_id), ReturnValues="ALL_NEW",
                                       **e.params(condition, update))
        if reply is None:
            return None
        record = decode_item(reply["Attributes"], FUNCTION_SCHEMA)
        if "status" in changes or "maximum_concurrency" in changes:
            # Before returning, so that the next claims hold the new limit (slotitems).
            self._revoke(record, reply["Attributes"])
        return record

    def delete_function(self, function_id: str) -> None:
        """Remove the Function record and its slot items (its jobs are removed
        separately; its batch records expire)."""
        reply = self.client.delete_item(TableName=self.functions, Key=key(id=function_id),
                                        ReturnValues="ALL_OLD")
        self._delete_slots(function_id, reply.get("Attributes"))

    def defer_checkpoints(self) -> Callable[[], None]:
        """Nothing to defer: DynamoDB has no housekeeping on the writer's side."""
        return lambda: None

    # -- the reconciler's idle marks ------------------------------------------------------
    # The reconciler visits every Function each tick, at a dozen requests each; most of
    # a deployment's Functions have long finished. A Function's item carries an epoch that
    # grows when jobs are added or rerun (one write per batch or rerun call, never per
    # job: no hot key), and the reconciler marks a Function idle at the epoch it found no
    # runnable or active job in, by a write conditional on that epoch. A later batch or
    # rerun moves the epoch on, so a mark made on stale counts never sticks.
    def note_runnable(self, function_id: str) -> None:
        """Move the Function's runnable epoch on (it is visited again by the reconciler)."""
        unless_condition_fails(  # a deleted Function has no epoch to move
            self.client.update_item, TableName=self.functions, Key=key(id=function_id),
            UpdateExpression="ADD runnable_epoch :one SET runnable_at = :now",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={":one": number(1), ":now": number(time.time())})

    def functions_to_reconcile(self) -> list[tuple[dict[str, Any], int, float]]:
        """``(record, runnable epoch, when it last moved)`` of every Function not marked
        idle at its current epoch (one scan of the Functions table, as the full list)."""
        out = []
        for item in dynamo.items(self.client.scan, TableName=self.functions):
            epoch = int(item.get("runnable_epoch", {}).get("N", "0"))
            idle = item.get("idle_epoch")
            if idle is not None and int(idle["N"]) == epoch:
                continue
            since = float(item.get("runnable_at", {}).get("N", "0"))
            out.append((decode_item(item, FUNCTION_SCHEMA), epoch, since))
        return out

    def mark_idle(self, function_id: str, epoch: int) -> bool:
        """Mark the Function idle at ``epoch``; False if its epoch moved on meanwhile."""
        values = {":e": number(epoch)}
        current = ("runnable_epoch = :e" if epoch else
                   "(attribute_not_exists(runnable_epoch) OR runnable_epoch = :e)")
        return unless_condition_fails(
            self.client.update_item, TableName=self.functions, Key=key(id=function_id),
            UpdateExpression="SET idle_epoch = :e",
            ConditionExpression=f"attribute_exists(id) AND {current}",
            ExpressionAttributeValues=values) is not None

    # -- jobs ---------------------------------------------------------------------------
    def insert_jobs(self, reference_id: str,
                    records: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        """Store a batch idempotently by ``reference_id``.

        The batch record is written first, conditionally: whoever writes it is the first
        to send the batch. The jobs are then written with ``attribute_not_exists(id)`` in
        transactions of up to 25, in parallel, by the first sender and by any retry alike,
        so a retry completes a batch whose sender died half-way and never overwrites a
        job that already moved on; a batch marked complete is not written again. A retry
        returns the jobs as stored.
        """
        if not records:
            return []
        first = records[0]
        batch = {
            "reference_id": {"S": reference_id},
            "function_id": {"S": first["function_id"]},
            "count": number(len(records)),
            "created": number(first["creation_date"]),
            res.TTL_ATTRIBUTE: number(int(time.time()) + BATCH_RECORD_SECONDS),
        }
        batch_key = key(reference_id=reference_id)
        stored = None
        if unless_condition_fails(self.client.put_item, TableName=self.batches, Item=batch,
                                  ConditionExpression="attribute_not_exists(reference_id)") is None:
            stored = self.client.get_item(TableName=self.batches, Key=batch_key,
                                          ConsistentRead=True).get("Item") or batch
        if stored is None or "complete" not in stored:
            self._write_new_jobs(records)
            # Before the batch is marked whole, so that a sender dying in between leaves
            # the mark to its retry: the reconciler must see these jobs.
            self.note_runnable(first["function_id"])
            # Once whole, a batch is never written again: a late retry must not bring
            # back jobs deleted since.
            self.client.update_item(TableName=self.batches, Key=batch_key,
                                    UpdateExpression="SET complete = :t",
                                    ExpressionAttributeValues={":t": {"BOOL": True}})
        if stored is None:
            return records
        # A re-sent batch carries the ids of the first sending (they derive from the
        # reference id), so they find the stored jobs.
        found = self.get_jobs([r["id"] for r in records])
        return sorted(found, key=plan.natural_key)

    def _write_new_jobs(self, records: Sequence[dict[str, Any]]) -> None:
        items = [job_item(r) for r in records]
        operations = [{"Put": {"TableName": self.jobs, "Item": item,
                               "ConditionExpression": "attribute_not_exists(id)"}}
                      for item in items]
        sizes = [dynamo.item_size(item) for item in items]
        dynamo.fan_out(self._write_part,
                       list(dynamo.transaction_parts(operations, sizes)))

    def _write_part(self, operations: list[dict[str, Any]]) -> None:
        for attempt in range(ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=operations)
                return
            except ClientError as exc:
                codes = cancellation_codes(exc)
                if "ConditionalCheckFailed" in codes:
                    # Some of these jobs exist (a retry of the batch): write the others
                    # one by one, each on its own condition.
                    for operation in operations:
                        self._put_new(operation["Put"])
                    return
                if "TransactionConflict" not in codes or attempt == ATTEMPTS - 1:
                    raise
                backoff(attempt)

    def _put_new(self, put: dict[str, Any]) -> None:
        unless_condition_fails(self.client.put_item, **put)  # exists already: done

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """The job record, or None."""
        reply = self.client.get_item(TableName=self.jobs, Key=key(id=job_id),
                                     ConsistentRead=True)
        return decode_optional(reply.get("Item"), JOB_SCHEMA)

    def get_jobs(self, job_ids: list[str]) -> list[dict[str, Any]]:
        """The records of the ids that exist."""
        keys = [key(id=i) for i in dict.fromkeys(job_ids)]
        return [decode_item(item, JOB_SCHEMA)
                for item in dynamo.batch_get(self.client, self.jobs, keys)]

    def update_job(self, job_id: str, changes: dict[str, Any],
                   expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Conditional update; None if the record is missing or does not match.

        A change of status or queue date also moves ``status_order``, and a job that
        enters or leaves the active statuses moves the active-job counters in the same
        transaction; both need the current item, so those updates read it first and
        write on the condition that its ``revision`` is unchanged.
        """
        if not changes:
            record = self.get_job(job_id)
            return record if record is not None and _matches(record, expect) else None
        return self._update(job_id, changes, expect, [])

    def settle_and_claim(self, job_id: str, changes: dict[str, Any], expect: dict[str, Any],
                         blob_records: list[dict[str, Any]], claim: dict[str, Any] | None
                         ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
        """The end of an attempt in one ``TransactWriteItems``, then the next claim.

        Applies ``changes`` to the job if it matches ``expect`` (else nothing is written
        and ``(None, None, None)`` returned), in the same transaction as the records of
        ``blob_records`` (their data is in S3 already: the job's result and sealed log).
        Then, if ``claim`` holds the arguments of :meth:`claim` but ``function_id``,
        claims the next job of the same Function. Returns ``(settled job, next claimed
        job or None, None)``: the Function is not read here.
        """
        if self.blobs is None and blob_records:
            raise ValueError("this DynamoStore was made without the blobs table (blobs=), so "
                             "it cannot write blob records with a settle")
        table = self.blobs or ""
        extra = [record_write(table, r) for r in blob_records]
        held = self._claimed.get(job_id)
        if claim is not None and held is not None and _matches(held[1], expect):
            for _ in range(SETTLE_AND_TAKE_TRIES):
                both = self._settle_and_take(job_id, changes, extra, claim, held)
                if both is not _CANDIDATE_TAKEN:
                    break
            if isinstance(both, tuple):
                return both
        settled = self._update(job_id, changes, expect, extra)
        if settled is None:
            return None, None, None
        claimed = None
        if claim is not None:
            claimed = self.claim(settled["function_id"], **claim)
        return settled, claimed, None

    def _settle_and_take(self, job_id: str, changes: dict[str, Any], extra: list[dict[str, Any]],
                         claim: dict[str, Any],
                         held: tuple[dict[str, Any], dict[str, Any]]) -> Any:
        """Settle a job this store claimed and claim the next one in one transaction.

        Only for a settle that takes the job out of the active statuses, by a worker
        that holds its slots (``claim["held"]``: checked in the same transaction). None
        when this does not apply or the transaction failed (nothing written): the caller
        settles and claims apart, which reads the job again if it changed;
        ``_CANDIDATE_TAKEN`` when only the next job was taken meanwhile (nothing written:
        the caller may try again with another).
        """
        revision, current = held
        new = dict(current, **changes)
        fid = current["function_id"]
        slots = claim.get("held")
        if (not is_active(current["status"]) or is_active(new["status"]) or slots is None
                or not slots.complete):
            return None
        item = self._next_candidate(fid, claim["worker_id"], skip=job_id)
        if item is None:
            return None  # nothing pending (the caller's claim reads the queue again)
        now = round(claim["now"], 6)
        job, claim_changes, claimed = _claimed_record(item, claim["worker_id"], now,
                                                      claim["lease_seconds"])
        e = Expr(JOB_JSON)
        settle = {"Update": {
            "TableName": self.jobs, "Key": key(id=job_id),
            **e.params(_revision_condition(e, revision),
                       e.update(dict(changes, status_order=status_order(new["status"], new)),
                                add={"revision": 1}))}}
        taking = self._claim_items(item, job, claim_changes, claimed, slots,
                                   claim["worker_id"], now)
        try:
            self.client.transact_write_items(TransactItems=[settle, *taking, *extra])
        except ClientError as exc:
            codes = cancellation_codes(exc)
            if not codes:
                raise
            codes += ["None"] * (4 - len(codes))
            if codes[0] == "ConditionalCheckFailed":
                self._claimed.pop(job_id, None)  # changed since the claim: read it again
            if codes[1] in ("ConditionalCheckFailed", "TransactionConflict"):
                # The candidate was taken: the rest of the list likely too (see claim).
                self._claim_candidates.get(fid, []).clear()
                self._claim_position.setdefault(fid, 0)
                if all(c == "None" for i, c in enumerate(codes) if i != 1):
                    # Only the candidate failed: the settle and slots still hold, so the
                    # caller tries again with a fresh one, still in one transaction
                    # (apart, the settle and the claim would cost a request each).
                    return _CANDIDATE_TAKEN
            return None
        self._claimed.pop(job_id, None)
        self._remember_claim(item, claimed)
        return new, claimed, None

    def _update(self, job_id: str, changes: dict[str, Any], expect: dict[str, Any] | None,
                extra: list[dict[str, Any]]) -> dict[str, Any] | None:
        """``update_job``, with ``extra`` items written in the same transaction."""
        if "status" not in changes and "queued_date" not in changes and not extra:
            e = Expr(JOB_JSON)
            condition = [f"attribute_exists({e.name('id')})", *e.expect(expect)]
            update = e.update(changes, add={"revision": 1})
            reply = unless_condition_fails(self.client.update_item, TableName=self.jobs,
                                           Key=key(id=job_id), ReturnValues="ALL_NEW",
                                           **e.params(condition, update))
            return None if reply is None else decode_item(reply["Attributes"], JOB_SCHEMA)
        claimed = self._claimed.pop(job_id, None)
        if claimed is not None and _matches(claimed[1], expect):
            # Claimed here: try the job as the claim left it, without reading it; if it
            # changed since, the revision check fails and the loop below reads it.
            updated = self._rewrite(*claimed, changes, extra)
            if updated is not None:
                return updated
        for attempt in range(ATTEMPTS):
            item = self.client.get_item(TableName=self.jobs, Key=key(id=job_id),
                                        ConsistentRead=True).get("Item")
            current = decode_optional(item, JOB_SCHEMA)
            if current is None or not _matches(current, expect):
                return None
            updated = self._rewrite(item, current, changes, extra)
            if updated is not None:
                return updated
            backoff(attempt)
        raise ConflictError(f"Job {job_id} changed too often to update it; try again")

    def _rewrite(self, item: dict[str, Any], current: dict[str, Any], changes: dict[str, Any],
                 extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any] | None:
        """Apply ``changes`` if the item is still at its revision (with ``extra``
        transaction items); the new record, or None if it changed meanwhile."""
        new = dict(current, **changes)
        all_changes = dict(changes, status_order=status_order(new["status"], new))
        e = Expr(JOB_JSON)
        condition = _revision_condition(e, item)
        update = e.update(all_changes, add={"revision": 1})
        try:
            if not extra:
                self.client.update_item(TableName=self.jobs, Key=key(id=current["id"]),
                                        **e.params(condition, update))
            else:
                self.client.transact_write_items(TransactItems=[
                    {"Update": {"TableName": self.jobs, "Key": key(id=current["id"]),
                                **e.params(condition, update)}},
                    *extra])
        except ClientError as exc:
            if (condition_failed(exc)
                    or "ConditionalCheckFailed" in cancellation_codes(exc)
                    or "TransactionConflict" in cancellation_codes(exc)):
                return None
            raise
        return new

    def delete_jobs(self, job_ids: list[str], keep_statuses: Iterable[str] = ()) -> list[str]:
        """Remove job records, except those whose status is in ``keep_statuses`` (checked
        in the same conditional delete); returns the ids removed."""
        keep = list(dict.fromkeys(keep_statuses))

        def one(job_id: str) -> str | None:
            e = Expr()
            condition = [f"attribute_exists({e.name('id')})"]
            if keep:
                marks = ", ".join(e.value(s) for s in keep)
                condition.append(f"NOT ({e.name('status')} IN ({marks}))")
            deleted = unless_condition_fails(self.client.delete_item, TableName=self.jobs,
                                             Key=key(id=job_id), **e.params(condition))
            return None if deleted is None else job_id

        return [i for i in dynamo.fan_out(one, list(dict.fromkeys(job_ids))) if i]

    # -- queries ------------------------------------------------------------------------
    def query(self, kind: str, where: Expression | None, sort: list[SortKey],
              limit: int | None = None, offset: int = 0,
              fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Matching records, sorted, one page; only ``fields`` of each when given (the
        items are read whole all the same: DynamoDB charges for what it reads)."""
        schema = _schema(kind)
        plan.check_names(where, sort, set(schema.fields))
        names = None if fields is None else field_names(kind, fields, schema.fields)
        cache_key = plan.PageCache.key(kind, where, sort)
        page = self._pages.page(cache_key, limit, offset,
                                lambda: plan.select(self._candidates(kind, where), where, sort))
        if names is None:
            return page
        return [{name: record.get(name) for name in names} for record in page]

    def count(self, kind: str, where: Expression | None) -> int:
        """How many records match."""
        plan.check_names(where, [], set(_schema(kind).fields))
        lookup = self._lookup(kind, where)
        if lookup.exact and lookup.queries is not None:
            return sum(dynamo.count(self.client.query, **q) for q in lookup.queries)
        return len(plan.select(self._candidates(kind, where), where, []))

    def _candidates(self, kind: str, where: Expression | None) -> Iterator[dict[str, Any]]:
        schema = _schema(kind)
        lookup = self._lookup(kind, where)
        if lookup.ids is not None:
            table = self.functions if kind == FUNCTION else self.jobs
            keys = [key(id=str(i)) for i in dict.fromkeys(lookup.ids)]
            for item in dynamo.batch_get(self.client, table, keys):
                yield decode_item(item, schema)
            return
        if lookup.queries is not None:
            for q in lookup.queries:
                for item in dynamo.items(self.client.query, **q):
                    yield decode_item(item, schema)
            return
        table = self.functions if kind == FUNCTION else self.jobs
        for item in dynamo.items(self.client.scan, TableName=table):
            yield decode_item(item, schema)

    def _lookup(self, kind: str, where: Expression | None) -> _Lookup:
        terms = plan.conjuncts(where)
        table = self.functions if kind == FUNCTION else self.jobs
        ids = plan.one_of(terms, "id")
        if ids is not None:
            return _Lookup(ids=ids)
        function_id = plan.equals(terms, "function_id") if kind == JOB else None
        if isinstance(function_id, str):
            statuses = plan.one_of(terms, "status")
            used = [t for t in terms if plan.equals([t], "function_id") == function_id]
            if statuses is not None and all(isinstance(s, str) for s in statuses):
                used += [t for t in terms if plan.one_of([t], "status") is not None]
                queries = [_index_query(table, res.JOBS_BY_FUNCTION_STATUS, "function_id",
                                        function_id, "status_order", prefix=f"{s}#")
                           for s in dict.fromkeys(statuses)]
            else:
                queries = [_index_query(table, res.JOBS_BY_FUNCTION_STATUS, "function_id",
                                        function_id)]
            return _Lookup(queries=queries, exact=len(used) == len(terms))
        namespace = plan.equals(terms, "namespace")
        if isinstance(namespace, str):
            index = res.FUNCTIONS_BY_NAMESPACE if kind == FUNCTION else res.JOBS_BY_NAMESPACE
            low, high, ranged = plan.bounds(terms, "creation_date")
            used = [t for t in terms if plan.equals([t], "namespace") == namespace] + ranged
            query = _index_query(table, index, "namespace", namespace, "creation_date",
                                 low=low, high=high)
            # A range term is served exactly only when it is inclusive.
            exact = len(used) == len(terms) and all(t.op in (">=", "<=", "==") for t in ranged)
            return _Lookup(queries=[query], exact=exact)
        return _Lookup()

    def count_by_status(self, function_ids: list[str],
                        statuses: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        """Job counts by status for each Function (``Select=COUNT`` queries on the
        ``status_order`` prefixes, run in parallel): one query per status, so counting
        only ``statuses`` costs only theirs."""
        wanted = JOB_STATUSES if statuses is None else list(statuses)
        pairs = [(fid, status) for fid in function_ids for status in wanted]

        def one(pair: tuple[str, str]) -> int:
            fid, status = pair
            return dynamo.count(self.client.query, **_index_query(
                self.jobs, res.JOBS_BY_FUNCTION_STATUS, "function_id", fid, "status_order",
                prefix=f"{status}#"))

        out: dict[str, dict[str, int]] = {fid: {} for fid in function_ids}
        for (fid, status), n in zip(pairs, dynamo.fan_out(one, pairs), strict=True):
            if n:
                out[fid][status] = n
        return out


    # -- aggregates ---------------------------------------------------------------------
    def job_summary(self, function_id: str, now: float, buckets: int = 60,
                    bins: int = 20) -> dict[str, Any]:
        """Aggregates of the Function's jobs: DynamoDB cannot group, so a projected
        query reads the few attributes needed of the started jobs only (not their
        inputs, environments or tags), and :func:`summary.summarize` counts them."""
        rows = []
        for item in self._started_items(function_id, with_details=True):
            status, start, end = _instants(item)
            stats = item.get("statistics")
            values = summary.statistics_values(
                decode_value("statistics", stats, JOB_JSON) if stats else None)
            reason = item.get("error_reason", {}).get("S")
            rows.append((status, start, end, reason, *values))
        return summary.summarize(rows, now, buckets, bins)

    def job_timeline(self, function_id: str, limit: int) -> list[tuple[Any, ...]]:
        """``(id, status, start, end)`` of the started jobs, by start (a projected
        query of those four attributes)."""
        rows = []
        for item in self._started_items(function_id, with_details=False):
            status, start, end = _instants(item)
            if summary.is_started(status, start, end):
                rows.append((item["id"]["S"], status, start,
                             end if status in summary.ENDED else None))
        rows.sort(key=lambda r: (r[2], r[0]))
        return rows[:limit]

    def _started_items(self, function_id: str, with_details: bool) -> Iterator[dict[str, Any]]:
        """Items of the Function's active and ended jobs (pending ones are never read),
        with only the attributes the aggregates need."""
        names = ["id", "status", "last_execution_date", "last_completion_date"]
        if with_details:
            names += ["error_reason", "statistics"]

        def one(status: str) -> list[dict[str, Any]]:
            q = _index_query(self.jobs, res.JOBS_BY_FUNCTION_STATUS, "function_id",
                             function_id, "status_order", prefix=f"{status}#")
            aliases = {f"#p{i}": name for i, name in enumerate(names)}
            q["ExpressionAttributeNames"] = {**q["ExpressionAttributeNames"], **aliases}
            q["ProjectionExpression"] = ", ".join(aliases)
            return list(dynamo.items(self.client.query, **q))

        for part in dynamo.fan_out(one, [*summary.ACTIVE, *summary.ENDED]):
            yield from part


def _instants(item: dict[str, Any]) -> tuple[str, float | None, float | None]:
    def instant(name: str) -> float | None:
        attr = item.get(name)
        return float(attr["N"]) if attr else None

    status = item["status"]["S"]
    start, end = instant("last_execution_date"), instant("last_completion_date")
    if not summary.is_started(status, start, end):
        return status, None, None
    return status, start, end


class _Lookup:
    """How to find the candidates of a search: by ids, by index queries, or a scan.
    ``exact``: the key conditions alone decide the search (a count needs no filter)."""

    def __init__(self, ids: Sequence[Any] | None = None,
                 queries: list[dict[str, Any]] | None = None, exact: bool = False) -> None:
        self.ids = ids
        self.queries = queries
        self.exact = exact


def _index_query(table: str, index: str, hash_name: str, hash_value: str,
                 range_name: str = "", prefix: str | None = None,
                 low: float | None = None, high: float | None = None) -> dict[str, Any]:
    e = Expr()
    condition = f"{e.name(hash_name)} = {e.value(hash_value)}"
    if prefix is not None:
        condition += f" AND begins_with({e.name(range_name)}, {e.value(prefix)})"
    elif low is not None and high is not None:
        condition += (f" AND {e.name(range_name)} BETWEEN {e.attr(number(low))} "
                      f"AND {e.attr(number(high))}")
    elif low is not None:
        condition += f" AND {e.name(range_name)} >= {e.attr(number(low))}"
    elif high is not None:
        condition += f" AND {e.name(range_name)} <= {e.attr(number(high))}"
    return {"TableName": table, "IndexName": index, "KeyConditionExpression": condition,
            "ExpressionAttributeNames": e.names, "ExpressionAttributeValues": e.values}


def _schema(kind: str) -> Schema:
    if kind == FUNCTION:
        return FUNCTION_SCHEMA
    if kind == JOB:
        return JOB_SCHEMA
    raise ValueError(f"unknown record kind {kind!r}")


def _matches(record: dict[str, Any], expect: dict[str, Any] | None) -> bool:
    return matches_expect(record, expect)


def _revision_condition(e: Expr, item: dict[str, Any]) -> str:
    if "revision" in item:
        return f"{e.name('revision')} = {e.attr(item['revision'])}"
    return f"attribute_exists({e.name('id')}) AND attribute_not_exists({e.name('revision')})"


def job_item(record: dict[str, Any]) -> dict[str, Any]:
    """The item of a new job record: its fields (``failures`` and ``losses`` 0 unless
    given, as the local store's defaults), ``status_order`` and revision 0."""
    item = encode_item({"failures": 0, "losses": 0, **record}, JOB_SCHEMA)
    item["status_order"] = {"S": status_order(record["status"], record)}
    item["revision"] = {"N": "0"}
    return item
