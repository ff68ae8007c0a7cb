"""The file ``BlobStore``: data under ``$SKYRUN_HOME/blobs/<blob id>``, metadata in SQLite."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyrun.backends.local import sql
from skyrun.backends.local.database import Database
from skyrun.backends.ports import BlobStore
from skyrun.backends.records import BLOB_COLUMNS, BLOB_JSON, BLOB_LISTS
from skyrun.common.timeutil import now
from skyrun.exceptions import ConflictError, NotFoundError

if TYPE_CHECKING:  # annotations only: a worker never loads the search language
    from skyrun.common.search import Expression, SortKey

_COLUMNS = set(BLOB_COLUMNS)
# What searches may name: the columns, and the keys of extra_properties as
# ``extra_properties.<key>`` (see sql.where).
_SEARCHABLE = _COLUMNS | {"extra_properties.*"}




def _encode(record: dict[str, Any]) -> dict[str, Any]:
    # A missing list is stored as an empty one, so that list filters (``tags != "x"``)
    # treat blobs written by the SDK and by workers alike.
    return {k: (("[]" if not v and type(v) in _EMPTY_LISTS else _json_cell(v))
                if k in BLOB_JSON and (v is not None or k in BLOB_LISTS) else v)
            for k, v in record.items() if k in _COLUMNS}


# The JSON text of short lists of strings, by their items: every job's log record has
# the same owners list.
_LIST_TEXTS: dict[tuple[str, ...], str] = {}


def _json_cell(value: Any) -> str:
    if type(value) is list and len(value) <= 4 and all(type(v) is str for v in value):
        key = tuple(value)
        text = _LIST_TEXTS.get(key)
        if text is None:
            if len(_LIST_TEXTS) >= 256:
                _LIST_TEXTS.clear()
            text = _LIST_TEXTS[key] = json.dumps(value)
        return text
    return json.dumps(value)


# What an empty list field is stored as without json.dumps (a job's log blob has three).
_EMPTY_LISTS = (type(None), list, tuple)
# The hash of no data: most jobs' logs are empty.
_EMPTY_MD5 = hashlib.md5(b"").hexdigest()
_NO_LISTS = dict.fromkeys(BLOB_LISTS)


def _new_row(record: dict[str, Any]) -> dict[str, Any]:
    """The encoded row of a new record, with every list column present."""
    return _encode({**_NO_LISTS, **record})


def _decode(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else _record(row)


def _record(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    for key in BLOB_JSON:
        if record.get(key) is not None:
            record[key] = json.loads(record[key])
    return record


class DiskFullError(OSError):
    """No space is left where ``SKYRUN_HOME`` keeps blob data."""


def disk_full(exc: OSError, path: Path) -> OSError:
    """``exc`` itself, or a :class:`DiskFullError` saying plainly that the disk is full."""
    if exc.errno != errno.ENOSPC or isinstance(exc, DiskFullError):
        return exc
    return DiskFullError(errno.ENOSPC, "the disk is full (no space left on device) writing",
                         str(path))


def _staging_prefix(path: Path) -> str:
    # An attempt's staged file is named after its blob's place and the attempt's mark, so
    # that what one attempt staged can be found (FileBlobStore.sweep_staged).
    return f".tmp-{path.name}-"


def _stage(path: Path, data: bytes, prefix: str = ".tmp-") -> Path:
    """Write ``data`` to a temporary file beside ``path`` and return its name."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    except OSError as exc:
        raise disk_full(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError):
            raise disk_full(exc, path) from exc
        raise
    return Path(tmp)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    tmp = _stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class FileBlobStore(BlobStore):
    """Blobs as files, their metadata in the SQLite database."""

    def __init__(self, db: Database, root: Path):
        self.db = db
        self.root = Path(root)
        self._blobs_dir = str(self.root / "blobs")

    def path(self, blob_id: str) -> Path:
        """Where a blob's data lives. Named by a hash of the id: ids nest (a build log
        ``logs/ns/fid`` and the job logs ``logs/ns/fid/jid``) and may hold any character."""
        return Path(self._path(blob_id))

    def _path(self, blob_id: str) -> str:
        # ``path`` as a string: the worker's hot path needs two a job, and making a Path
        # costs more than the hash.
        digest = hashlib.sha256(blob_id.encode()).hexdigest()
        return f"{self._blobs_dir}/{digest[:2]}/{digest[2:]}"

    def put(self, record: dict[str, Any], data: bytes | None, overwrite: bool = False) -> dict[str, Any]:
        """Store metadata (and data); ``ConflictError`` if the id exists and not
        ``overwrite``. The data is written before the record, so a record always has its
        data."""
        record = dict(record)
        blob_id = record["id"]
        if not overwrite and self.get_record(blob_id) is not None:
            raise ConflictError(f"Blob {blob_id} already exists")
        tmp: Path | None = None
        if data is not None:
            path = self.path(blob_id)
            if overwrite:
                write_atomic(path, data)
            else:
                # Staged beside its place and moved in only once the id is known to be
                # free (under the write lock), so a lost race never replaces the data of
                # the blob that won it.
                tmp = _stage(path, data)
            record["size_bytes"] = len(data)
            record["hash"] = hashlib.md5(data).hexdigest()
            record["href"] = str(path)
        stamp = now()
        record.setdefault("created", stamp)
        record["modified"] = stamp
        row = _new_row(record)
        cols = ",".join(f'"{k}"' for k in row)
        verb = "INSERT OR REPLACE" if overwrite else "INSERT"
        try:
            with self.db.transaction() as tx:
                if not overwrite:
                    # Checked again under the write lock: two writers may race for one id.
                    expired = tx.execute("SELECT expires FROM blobs WHERE id = ?",
                                         (blob_id,)).fetchone()
                    if expired is not None:
                        if expired[0] is None or expired[0] > stamp:
                            raise ConflictError(f"Blob {blob_id} already exists")
                        tx.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))
                    if tmp is not None:
                        os.replace(tmp, self.path(blob_id))
                        tmp = None
                    elif data is None:
                        # A record without data must not inherit an expired blob's file.
                        self._unlink(blob_id)
                tx.execute(f"{verb} INTO blobs ({cols}) VALUES ({','.join('?' * len(row))})",
                           list(row.values()))
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        return _decode_record(record)

    def seal_file(self, record: dict[str, Any]) -> None:
        """Record metadata for data already written at ``path(record["id"])`` (job logs
        are appended there while the job runs)."""
        record = self.sealed_record(record)
        with self.db.transaction() as tx:
            upsert_record(tx, record)

    def sealed_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """The full record of data already at ``path(record["id"])``, for
        :func:`upsert_record` in a transaction of the caller's."""
        path = self._path(record["id"])
        data = b""
        # Most jobs' logs are empty and have no file: a check costs a quarter of a
        # failed open.
        if os.access(path, os.F_OK):
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                pass
        record = dict(record, size_bytes=len(data),
                      hash=hashlib.md5(data).hexdigest() if data else _EMPTY_MD5,
                      href=path, modified=now())
        record.setdefault("created", record["modified"])
        return record

    def staged_record(self, record: dict[str, Any], data: bytes,
                      mark: str) -> dict[str, Any]:
        """Write a blob's data beside its place and return its full record, for
        ``SQLiteStore.settle_and_claim``: the data is moved in (:func:`place_staged`)
        inside that transaction, once the job's settle has matched, and before the record
        is written. A settle that does not match (an attempt judged lost that comes back
        after the next one succeeded) never replaces the data of the one that won; its
        file is removed (:meth:`discard_staged`). The claim's ``mark`` is in the staged
        file's name, for :meth:`sweep_staged`."""
        path = self.path(record["id"])
        staged = _stage(path, data, f"{_staging_prefix(path)}{mark}-")
        stamp = now()
        return dict(record, size_bytes=len(data), hash=hashlib.md5(data).hexdigest(),
                    href=str(path), created=record.get("created") or stamp, modified=stamp,
                    **{STAGED_FILE: str(staged)})

    def discard_staged(self, records: list[dict[str, Any]]) -> None:
        """Remove the staged data of records from :meth:`staged_record` that no settle
        placed (moved data is not there any more)."""
        for record in records:
            staged = record.get(STAGED_FILE)
            if staged is not None:
                try:
                    os.unlink(staged)
                except FileNotFoundError:
                    pass  # placed already, or removed

    def sweep_staged(self, blob_ids: list[str], mark: str) -> int:
        """Remove the files the attempt ``mark`` staged for these blobs that no settle
        moved into place: a killed worker's, or one whose settle failed. Returns how
        many went."""
        removed = 0
        for blob_id in blob_ids:
            path = self.path(blob_id)
            prefix = f"{_staging_prefix(path)}{mark}-"
            try:
                entries = [e.path for e in os.scandir(path.parent) if e.name.startswith(prefix)]
            except FileNotFoundError:
                continue
            for staged in entries:
                try:
                    os.unlink(staged)
                    removed += 1
                except FileNotFoundError:
                    pass  # placed or removed meanwhile
        return removed

    def get_record(self, blob_id: str) -> dict[str, Any] | None:
        """Metadata of a blob that exists and has not expired."""
        row = self.db.connection().execute("SELECT * FROM blobs WHERE id = ?",
                                           (blob_id,)).fetchone()
        record = _decode(row)
        if record is not None and record.get("expires") is not None and record["expires"] <= now():
            return None
        return record

    def get_records(self, blob_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The records of those blobs that exist and have not expired, by id."""
        out: dict[str, dict[str, Any]] = {}
        ids = list(dict.fromkeys(blob_ids))
        conn = self.db.connection()
        t = now()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            for row in conn.execute(f"SELECT * FROM blobs WHERE id IN "
                                    f"({','.join('?' * len(part))})", part):
                record = _record(row)
                if record.get("expires") is None or record["expires"] > t:
                    out[record["id"]] = record
        return out

    def get_data(self, blob_id: str, start: int | None = None, end: int | None = None,
                 record: dict[str, Any] | None = None) -> bytes:
        """The data, or bytes ``start``..``end`` inclusive. ``record``: the blob's
        record as just read (by ``get_records``), sparing a read of it."""
        record = record if record is not None else self.get_record(blob_id)
        if record is None or record.get("storage_state") == "remote":
            raise NotFoundError(f"Blob {blob_id} does not exist")
        try:
            with open(self.path(blob_id), "rb") as f:
                if start is None:
                    return f.read()
                f.seek(start)
                return f.read(None if end is None else max(0, end - start + 1))
        except FileNotFoundError:
            if record.get("size_bytes") == 0:
                return b""
            raise NotFoundError(f"Blob {blob_id} does not exist")

    def update(self, blob_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Change metadata fields."""
        row = _encode(dict(changes, modified=now()))
        sets = ", ".join(f'"{k}" = ?' for k in row)
        with self.db.transaction() as tx:
            out = tx.execute(f"UPDATE blobs SET {sets} WHERE id = ? RETURNING *",
                             [*row.values(), blob_id]).fetchone()
        return _decode(out)

    def delete(self, blob_ids: list[str]) -> list[str]:
        """Remove blobs: record first, then data, so no record is left without data."""
        deleted: list[str] = []
        with self.db.transaction() as tx:
            for blob_id in blob_ids:
                cur = tx.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))
                if cur.rowcount:
                    deleted.append(blob_id)
        for blob_id in blob_ids:
            self._unlink(blob_id)
        return deleted

    def _unlink(self, blob_id: str) -> None:
        try:
            self.path(blob_id).unlink()
        except FileNotFoundError:
            pass

    def search(self, where: Expression | None, sort: list[SortKey],
               limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Matching blob records (expired ones excluded)."""
        clause, params = sql.where(where, _SEARCHABLE)
        order = sql.order_by(sort, _SEARCHABLE, "rowid")
        params = [*params, now(), -1 if limit is None else limit, offset]
        rows = self.db.connection().execute(
            f"SELECT * FROM blobs WHERE {clause} AND (expires IS NULL OR expires > ?) "
            f"{order} LIMIT ? OFFSET ?", params)
        return [_record(r) for r in rows]

    def count(self, where: Expression | None) -> int:
        """How many unexpired blobs match."""
        clause, params = sql.where(where, _SEARCHABLE)
        return int(self.db.connection().execute(
            f"SELECT count(*) FROM blobs WHERE {clause} AND (expires IS NULL OR expires > ?)",
            [*params, now()]).fetchone()[0])

    def purge_expired(self) -> int:
        """Remove blobs past their ``expires``; returns how many."""
        ids = [r[0] for r in self.db.connection().execute(
            "SELECT id FROM blobs WHERE expires IS NOT NULL AND expires <= ?", (now(),))]
        return len(self.delete(ids))

    # -- internal objects (bundles) -----------------------------------------------------
    def _object_path(self, key: str) -> Path:
        return self.root / "objects" / key

    def put_object(self, key: str, data: bytes) -> None:
        """Store internal data outside the catalog."""
        write_atomic(self._object_path(key), data)

    def get_object(self, key: str) -> bytes | None:
        """Internal data, or None."""
        try:
            return self._object_path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete_object(self, key: str) -> None:
        """Remove internal data."""
        try:
            self._object_path(key).unlink()
        except FileNotFoundError:
            pass


#: The key of a record from ``FileBlobStore.staged_record`` that names its staged data
#: file (not a column: never stored).
STAGED_FILE = "_staged_file"


def place_staged(record: dict[str, Any]) -> None:
    """Move a staged record's data into its place (atomically: readers see the old data
    or the new, never a part); nothing for a record without staged data."""
    staged = record.get(STAGED_FILE)
    if staged is not None:
        os.replace(staged, record["href"])


def upsert_record(tx: sqlite3.Connection, record: dict[str, Any]) -> None:
    """Insert or replace a blob record inside the transaction ``tx`` (its data is in
    place already)."""
    tx.execute(*upsert_statement(record))


def upsert_statement(record: dict[str, Any]) -> tuple[str, list[Any]]:
    """The statement and parameters of :func:`upsert_record`, for a transaction that
    makes its statements before it takes the write lock."""
    row = _new_row(record)
    return _upsert_sql(tuple(row)), list(row.values())


_UPSERTS: dict[tuple[str, ...], str] = {}


def _upsert_sql(columns: tuple[str, ...]) -> str:
    # Made once per set of columns: a worker seals every job's log with the same ones.
    text = _UPSERTS.get(columns)
    if text is None:
        cols = ",".join(f'"{k}"' for k in columns)
        updates = ",".join(f'"{k}" = excluded."{k}"' for k in columns
                           if k not in ("id", "created"))
        text = _UPSERTS[columns] = (
            f"INSERT INTO blobs ({cols}) VALUES ({','.join('?' * len(columns))}) "
            f"ON CONFLICT(id) DO UPDATE SET {updates}")
    return text


def _decode_record(record: dict[str, Any]) -> dict[str, Any]:
    # As stored: a missing list is an empty one (see _encode).
    return {k: ([] if k in BLOB_LISTS and record.get(k) is None else record.get(k))
            for k in BLOB_COLUMNS}
