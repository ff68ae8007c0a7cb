"""The S3 ``BlobStore``: data in S3 under the blob id, metadata in the blobs table.

A job's result and log data written for its settle (:meth:`S3BlobStore.staged_record`)
go under a key of their own attempt, ``{blob id},{mark}.{token}`` (``mark``: the claim's,
``skyrun.domain.keys.attempt_mark``), which the record's ``href`` names; reads and
deletes follow the record. An attempt whose settle did not match (a worker judged lost
that comes back after the next attempt won) so never replaces the winner's object, and
removes its own (:meth:`S3BlobStore.discard_staged`); the requeue of a killed worker's
job removes what that claim left (:meth:`S3BlobStore.sweep_staged`).

``put`` without ``overwrite`` is atomic on the id: the data goes to S3 with
``If-None-Match: *`` (so an existing blob's data is never replaced) and the metadata with
``attribute_not_exists(id)``; whoever loses either race raises ``ConflictError`` and
leaves nothing behind. Expired blobs count as missing at once; their items and objects
are removed by :meth:`S3BlobStore.purge_expired` (and DynamoDB's TTL, later).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from skyrun.backends.aws import dynamo, plan
from skyrun.backends.aws import resources as res
from skyrun.backends.aws.errors import condition_failed, error_code, translate_errors, unless_condition_fails
from skyrun.backends.aws.items import (
    BLOB_SCHEMA,
    Expr,
    decode_item,
    decode_optional,
    encode_item,
    key,
    number,
)
from skyrun.backends.ports import BlobStore
from skyrun.backends.records import BLOB_COLUMNS, BLOB_JSON
from skyrun.common.search import Expression, SortKey
from skyrun.common.timeutil import now
from skyrun.exceptions import ConflictError, NotFoundError

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


def _view(record: dict[str, Any]) -> dict[str, Any]:
    """A record with each extra property also under ``extra_properties.<key>``, which
    filters and sorts may name."""
    extra = record.get("extra_properties")
    if not isinstance(extra, dict) or not extra:
        return record
    view = dict(record)
    for k, v in extra.items():
        view[f"extra_properties.{k}"] = v
    return view


def _expired(record: dict[str, Any] | None, t: float) -> bool:
    return record is not None and record.get("expires") is not None and record["expires"] <= t


#: Between a blob id and the mark of one attempt's object (``staged_record``): a
#: character no blob id holds (names may not contain it, namespaces and storage types
#: cannot), so that an attempt's keys are never another blob's.
ATTEMPT_SEPARATOR = ","

#: Marks a record (from ``staged_record``/``empty_record``) whose write keeps a blob
#: already stored under its id: the empty log blob of an attempt that wrote no line.
KEEP_EXISTING = "_keep_existing"


def blob_item(record: dict[str, Any]) -> dict[str, Any]:
    """The blobs-table item of a record."""
    record = {k: record.get(k) for k in BLOB_COLUMNS}
    item = encode_item(record, BLOB_SCHEMA)
    item["namespace_storage_type"] = {
        "S": f"{record['namespace']}{res.KEY_SEPARATOR}{record['storage_type']}"}
    if record.get("expires") is not None:
        item[res.TTL_ATTRIBUTE] = number(math.ceil(record["expires"]))
    return item


def record_write(table: str, record: dict[str, Any]) -> dict[str, Any]:
    """The ``TransactWriteItems`` entry that stores a blob record: a plain Put (the same
    record twice is the same item: idempotent by id), or, for a record marked
    ``KEEP_EXISTING``, an update that sets only attributes not there yet, so that an
    existing blob stays as it is without a condition that could fail the transaction."""
    item = blob_item(record)
    if not record.get(KEEP_EXISTING):
        return {"Put": {"TableName": table, "Item": item}}
    e = Expr()
    sets = ", ".join(f"{e.name(n)} = if_not_exists({e.name(n)}, {e.attr(v)})"
                     for n, v in item.items() if n != "id")
    return {"Update": {"TableName": table, "Key": key(id=record["id"]),
                       **e.params(None, "SET " + sets)}}


@translate_errors
class S3BlobStore(BlobStore):
    """Blob data in S3, metadata in DynamoDB."""

    def __init__(self, s3: Any, dynamodb: Any, bucket: str, table: str) -> None:
        self.s3 = s3
        self.dynamodb = dynamodb
        self.bucket = bucket
        self.table = table
        self._pages = plan.PageCache()

    def href(self, key_name: str) -> str:
        """The S3 URI of an object of this store."""
        return f"s3://{self.bucket}/{key_name}"

    def data_key(self, record: dict[str, Any]) -> str:
        """The S3 key of a blob's data: the object of one attempt its ``href`` names
        (``{id},{mark}.{token}``, from :meth:`staged_record`), else the blob id. Only a key
        under the blob's own id is taken from the ``href``: a record cannot point this
        store at another blob's object (a remote blob's ``href`` is the user's)."""
        blob_id = record["id"]
        href = record.get("href")
        prefix = self.href(blob_id + ATTEMPT_SEPARATOR)
        if isinstance(href, str) and href.startswith(prefix) and len(href) > len(prefix):
            return href[len(self.href("")):]
        return str(blob_id)

    # -- items --------------------------------------------------------------------------
    def _item(self, record: dict[str, Any]) -> dict[str, Any]:
        return blob_item(record)

    def _raw(self, blob_id: str) -> dict[str, Any] | None:
        reply = self.dynamodb.get_item(TableName=self.table, Key=key(id=blob_id),
                                       ConsistentRead=True)
        return decode_optional(reply.get("Item"), BLOB_SCHEMA)

    # -- the port -----------------------------------------------------------------------
    def put(self, record: dict[str, Any], data: bytes | None, overwrite: bool = False) -> dict[str, Any]:
        """Store metadata (and data); ``ConflictError`` if the id exists and not
        ``overwrite``. Returns the stored record."""
        record = dict(record)
        blob_id = record["id"]
        if data is not None:
            record["size_bytes"] = len(data)
            record["hash"] = hashlib.md5(data).hexdigest()
            record["href"] = self.href(blob_id)
        stamp = now()
        record.setdefault("created", stamp)
        record["modified"] = stamp
        record = {k: record.get(k) for k in BLOB_COLUMNS}
        item = self._item(record)
        if overwrite:
            if data is None:
                self.dynamodb.put_item(TableName=self.table, Item=item)
            else:
                self.s3.put_object(Bucket=self.bucket, Key=blob_id, Body=data)
                old = self.dynamodb.put_item(TableName=self.table, Item=item,
                                             ReturnValues="ALL_OLD").get("Attributes")
                # Data an attempt stored under a key of its own (a job's log, sealed
                # with its settle) is not replaced by the put above: it goes now.
                old_key = blob_id if old is None else self.data_key(
                    decode_item(old, BLOB_SCHEMA))
                if old_key != blob_id:
                    self.s3.delete_object(Bucket=self.bucket, Key=old_key)
        else:
            self._create(blob_id, item, data, stamp)
        return decode_item(item, BLOB_SCHEMA)

    def _create(self, blob_id: str, item: dict[str, Any], data: bytes | None, stamp: float) -> None:
        existing = self._raw(blob_id)
        if existing is not None and not _expired(existing, stamp):
            raise ConflictError(f"Blob {blob_id} already exists")
        if existing is not None:
            # An expired blob not purged yet: it is gone as far as anyone can see.
            self.delete([blob_id])
        wrote_data = False
        if data is not None:
            try:
                self.s3.put_object(Bucket=self.bucket, Key=blob_id, Body=data, IfNoneMatch="*")
                wrote_data = True
            except ClientError as exc:
                if error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise
                # The object may be our own put, retried after its answer was lost: go
                # on if it holds our bytes (the record decides who created the blob).
                if not self._holds(blob_id, data):
                    raise ConflictError(f"Blob {blob_id} already exists") from None
        e = Expr()
        try:
            self.dynamodb.put_item(TableName=self.table, Item=item,
                                   **e.params(f"attribute_not_exists({e.name('id')})"))
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            if self._raw(blob_id) == decode_item(item, BLOB_SCHEMA):
                return  # our own write, retried after its answer was lost
            if wrote_data:
                # The winner wrote a record without data (a remote blob): ours goes.
                self.s3.delete_object(Bucket=self.bucket, Key=blob_id)
            raise ConflictError(f"Blob {blob_id} already exists") from None
        if data is None:
            # A record without data must not inherit the object of an expired blob.
            self.s3.delete_object(Bucket=self.bucket, Key=blob_id)

    def _holds(self, blob_id: str, data: bytes) -> bool:
        """Whether the object ``blob_id`` holds exactly ``data`` (a single-part put's
        ETag is the MD5 of its bytes)."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=blob_id)
        except ClientError:
            return False
        etag: str = head.get("ETag", "")
        return etag.strip('"') == hashlib.md5(data).hexdigest()

    def staged_record(self, record: dict[str, Any], data: bytes,
                      mark: str) -> dict[str, Any]:
        """Write a blob's data to S3 under a key of this attempt's own
        (``{id},{mark}.{token}``, ``mark`` the claim's ``attempt_mark``) and return its
        full record, naming that key, for :func:`record_write` in a transaction of the
        caller's: the data is there before the record is, and no other attempt's object
        is replaced. One ``PutObject``, as an in-place write."""
        object_key = f"{record['id']}{ATTEMPT_SEPARATOR}{mark}.{secrets.token_hex(8)}"
        self.s3.put_object(Bucket=self.bucket, Key=object_key, Body=data)
        stamp = now()
        return dict(record, size_bytes=len(data), hash=hashlib.md5(data).hexdigest(),
                    href=self.href(object_key), created=record.get("created") or stamp,
                    modified=stamp)

    def discard_staged(self, records: list[dict[str, Any]]) -> None:
        """Remove the objects of records from :meth:`staged_record` that no settle
        stored: each object whose blob's stored record names another one (or none). The
        record is read first, so that a settle whose answer was lost but which did land
        keeps its data."""
        for record in records:
            object_key = self.data_key(record)
            if object_key == record["id"]:
                continue  # not an attempt's own object (an empty log: none)
            current = self._raw(record["id"])
            if current is None or self.data_key(current) != object_key:
                self.s3.delete_object(Bucket=self.bucket, Key=object_key)

    def sweep_staged(self, blob_ids: list[str], mark: str) -> int:
        """Remove the objects the attempt ``mark`` wrote for these blobs that no stored
        record names: a killed worker's. A listing per blob (of that attempt's keys
        only), and a read of its record when it holds one. Returns how many went."""
        removed = 0
        for blob_id in blob_ids:
            listing = self.s3.list_objects_v2(
                Bucket=self.bucket, Prefix=f"{blob_id}{ATTEMPT_SEPARATOR}{mark}.")
            old = [o["Key"] for o in listing.get("Contents", [])]
            if not old:
                continue
            current = self._raw(blob_id)
            named = self.data_key(current) if current is not None else None
            for object_key in old:
                if object_key != named:
                    self.s3.delete_object(Bucket=self.bucket, Key=object_key)
                    removed += 1
        return removed

    def empty_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record of an empty blob without an S3 object (as ``create_empty`` writes),
        marked to keep a blob already stored under its id."""
        stamp = now()
        return dict(record, size_bytes=0, hash=hashlib.md5(b"").hexdigest(),
                    href=self.href(record["id"]), created=record.get("created") or stamp,
                    modified=stamp, **{KEEP_EXISTING: True})

    def create_empty(self, record: dict[str, Any]) -> bool:
        """Store an empty blob unless its id exists (expired or not): one conditional
        write of the metadata, and no S3 object (``get_data`` answers ``b""`` for a blob
        of size 0 that has none). False if the id exists. For the log blob of a job that
        printed nothing, which every finished job has."""
        stamp = now()
        record = dict(record, size_bytes=0, hash=hashlib.md5(b"").hexdigest(),
                      href=self.href(record["id"]), modified=stamp)
        record.setdefault("created", stamp)
        e = Expr()
        return unless_condition_fails(
            self.dynamodb.put_item, TableName=self.table, Item=self._item(record),
            **e.params(f"attribute_not_exists({e.name('id')})")) is not None

    def get_record(self, blob_id: str) -> dict[str, Any] | None:
        """Metadata of a blob that exists and has not expired."""
        record = self._raw(blob_id)
        return None if record is None or _expired(record, now()) else record

    def get_records(self, blob_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The records of those blobs that exist and have not expired, by id
        (BatchGetItem, 100 ids a request)."""
        keys = [key(id=i) for i in dict.fromkeys(blob_ids)]
        t = now()
        records = (decode_item(item, BLOB_SCHEMA)
                   for item in dynamo.batch_get(self.dynamodb, self.table, keys))
        return {r["id"]: r for r in records if not _expired(r, t)}

    def get_data(self, blob_id: str, start: int | None = None, end: int | None = None,
                 record: dict[str, Any] | None = None) -> bytes:
        """The data, or bytes ``start``..``end`` inclusive. ``record``: the blob's
        record as just read (by ``get_records``), sparing a read of it."""
        record = record if record is not None else self.get_record(blob_id)
        if record is None or record.get("storage_state") == "remote":
            raise NotFoundError(f"Blob {blob_id} does not exist")
        params = {"Bucket": self.bucket, "Key": self.data_key(record)}
        if start is not None:
            if end is not None and end < start:
                return b""
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            data: bytes = self.s3.get_object(**params)["Body"].read()
            return data
        except ClientError as exc:
            code = error_code(exc)
            if code == "InvalidRange":
                return b""  # a range past the end, as a file read past its end
            if code in _NOT_FOUND:
                if record.get("size_bytes") == 0:
                    return b""
                raise NotFoundError(f"Blob {blob_id} does not exist") from None
            raise

    def update(self, blob_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Change metadata fields; the updated record, or None if there is none."""
        changes = {k: v for k, v in changes.items() if k in BLOB_COLUMNS and k != "id"}
        changes["modified"] = now()
        for name in BLOB_SCHEMA.lists:
            if name in changes and changes[name] is None:
                changes[name] = []
        if "expires" in changes:
            expires = changes["expires"]
            changes[res.TTL_ATTRIBUTE] = None if expires is None else math.ceil(expires)
        e = Expr(BLOB_JSON)
        condition = f"attribute_exists({e.name('id')})"
        reply = unless_condition_fails(self.dynamodb.update_item, TableName=self.table,
                                       Key=key(id=blob_id), ReturnValues="ALL_NEW",
                                       **e.params(condition, e.update(changes)))
        return None if reply is None else decode_item(reply["Attributes"], BLOB_SCHEMA)

    def delete(self, blob_ids: list[str]) -> list[str]:
        """Remove blobs: record first, then data (the object the record named); returns
        the ids that existed."""
        def one(blob_id: str) -> str | None:
            reply = self.dynamodb.delete_item(TableName=self.table, Key=key(id=blob_id),
                                              ReturnValues="ALL_OLD")
            old = reply.get("Attributes")
            object_key = (self.data_key(decode_item(old, BLOB_SCHEMA)) if old is not None
                          else blob_id)
            self.s3.delete_object(Bucket=self.bucket, Key=object_key)
            return blob_id if old is not None else None

        return [i for i in dynamo.fan_out(one, list(dict.fromkeys(blob_ids))) if i]

    def search(self, where: Expression | None, sort: list[SortKey],
               limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Unexpired blob records matching ``where``, sorted, one page."""
        plan.check_names(where, sort, set(BLOB_COLUMNS), open_objects=("extra_properties",))
        return self._pages.page(plan.PageCache.key("blob", where, sort), limit, offset,
                                lambda: plan.select(self._candidates(where), where, sort,
                                                    view=_view))

    def count(self, where: Expression | None) -> int:
        """How many unexpired blob records match."""
        plan.check_names(where, [], set(BLOB_COLUMNS), open_objects=("extra_properties",))
        return len(plan.select(self._candidates(where), where, [], view=_view))

    def _candidates(self, where: Expression | None) -> Iterator[dict[str, Any]]:
        t = now()
        terms = plan.conjuncts(where)
        ids = plan.one_of(terms, "id")
        namespace = plan.equals(terms, "namespace")
        storage_type = plan.equals(terms, "storage_type")
        source: Iterable[dict[str, Any]]
        if ids is not None:
            keys = [key(id=str(i)) for i in dict.fromkeys(ids)]
            source = dynamo.batch_get(self.dynamodb, self.table, keys)
        elif isinstance(namespace, str) and isinstance(storage_type, str):
            e = Expr()
            partition = f"{namespace}{res.KEY_SEPARATOR}{storage_type}"
            condition = f"{e.name('namespace_storage_type')} = {e.value(partition)}"
            name = plan.equals(terms, "name")
            start = plan.prefix(terms, "name")
            if isinstance(name, str):
                condition += f" AND {e.name('name')} = {e.value(name)}"
            elif start:
                condition += f" AND begins_with({e.name('name')}, {e.value(start)})"
            source = dynamo.items(self.dynamodb.query, TableName=self.table,
                                  IndexName=res.BLOBS_BY_NAMESPACE_TYPE,
                                  KeyConditionExpression=condition,
                                  ExpressionAttributeNames=e.names,
                                  ExpressionAttributeValues=e.values)
        else:
            source = dynamo.items(self.dynamodb.scan, TableName=self.table)
        for item in source:
            record = decode_item(item, BLOB_SCHEMA)
            if not _expired(record, t):
                yield record

    def purge_expired(self) -> int:
        """Remove blobs past their ``expires`` (a filtered scan); returns how many."""
        e = Expr()
        condition = f"{e.name('expires')} <= {e.attr(number(now()))}"
        ids = [item["id"]["S"] for item in dynamo.items(
            self.dynamodb.scan, TableName=self.table, FilterExpression=condition,
            ProjectionExpression=e.name("id"), ExpressionAttributeNames=e.names,
            ExpressionAttributeValues=e.values)]
        return len(self.delete(ids))

    # -- internal objects (bundles) -----------------------------------------------------
    def put_object(self, key_name: str, data: bytes) -> None:
        """Store internal data (bundles, under ``bundles/``) outside the catalog."""
        self.s3.put_object(Bucket=self.bucket, Key=key_name, Body=data)

    def get_object(self, key_name: str) -> bytes | None:
        """Internal data, or None."""
        try:
            data: bytes = self.s3.get_object(Bucket=self.bucket, Key=key_name)["Body"].read()
            return data
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise

    def delete_object(self, key_name: str) -> None:
        """Remove internal data."""
        self.s3.delete_object(Bucket=self.bucket, Key=key_name)
