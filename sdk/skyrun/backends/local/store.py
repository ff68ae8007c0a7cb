"""The SQLite ``Store``: Function and job records, batches, claims and leases."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from skyrun.backends.local import sql
from skyrun.backends.local.database import JOB_DERIVED_COLUMNS, STAT_COLUMNS, Database
from skyrun.backends.ports import FUNCTION, JOB, Store, field_names
from skyrun.backends.records import (
    FUNCTION_COLUMNS,
    FUNCTION_JSON,
    JOB_COLUMNS,
    JOB_JSON,
    NewJobs,
)
from skyrun.backends.summary import statistics_values
from skyrun.common.jsontext import JSONText, many_encoder
from skyrun.domain import slots as slot_rules
from skyrun.domain import transitions
from skyrun.domain.slots import Held, Slot
from skyrun.domain.statuses import ACTIVE_STATUSES
from skyrun.exceptions import ConflictError

if TYPE_CHECKING:  # annotations only: a worker never loads the search language
    from skyrun.common.search import Expression, SortKey

_FUNCTION_BOOL = {"enabled", "auto_start"}

_TABLES = {FUNCTION: ("functions", set(FUNCTION_COLUMNS), FUNCTION_JSON),
           JOB: ("jobs", set(JOB_COLUMNS), JOB_JSON)}
_ACTIVE_SQL = sql.in_list(ACTIVE_STATUSES)


def _encode(record: dict[str, Any], json_fields: frozenset[str]) -> dict[str, Any]:
    out = {}
    for key, value in record.items():
        if type(value) is JSONText:
            value = str(value)
        elif key in json_fields and value is not None:
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = int(value)
        out[key] = value
    return out


def _job_values(changes: dict[str, Any]) -> dict[str, Any]:
    """The column values of a job's changes: with its statistics, their measured numbers
    in their own columns (STAT_COLUMNS), which the monitor's charts read."""
    statistics = changes.get("statistics")
    if statistics is not None and type(statistics) is not JSONText:
        changes = dict(changes, statistics=JSONText(_encode_statistics(statistics)))
    values = _encode(changes, JOB_JSON)
    if "statistics" in changes:
        values.update(zip(STAT_COLUMNS, statistics_values(statistics), strict=True))
    return values


def _decode(row: sqlite3.Row, json_fields: frozenset[str],
            bools: AbstractSet[str] = frozenset()) -> dict[str, Any]:
    record = dict(row)
    for column in JOB_DERIVED_COLUMNS:
        record.pop(column, None)
    for key in json_fields:
        value = record.get(key)
        if value is not None:
            record[key] = json.loads(value)
    for key in bools:
        if record.get(key) is not None:
            record[key] = bool(record[key])
    return record


def _function_record(row: sqlite3.Row) -> dict[str, Any]:
    return _decode(row, FUNCTION_JSON, _FUNCTION_BOOL)


def _job_record(row: sqlite3.Row) -> dict[str, Any]:
    return _decode(row, JOB_JSON)


def _decode_function(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else _decode(row, FUNCTION_JSON, _FUNCTION_BOOL)


def _decode_job(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else _decode(row, JOB_JSON)


# -- the worker's hot path ----------------------------------------------------------------
# Its statements name the record's columns: a row then holds the record's fields in
# order, without what ``SELECT *`` adds (the row number, the measured numbers) to drop.
_JOB_FIELDS = ", ".join(f'"{c}"' for c in JOB_COLUMNS)
_FUNCTION_FIELDS = ", ".join(f'"{c}"' for c in FUNCTION_COLUMNS)
_READ_FUNCTION = f"SELECT {_FUNCTION_FIELDS} FROM functions WHERE id = ?"
_FUNCTION_ID_AT = JOB_COLUMNS.index("function_id")
_JOB_JSON_FIELDS = tuple(c for c in JOB_COLUMNS if c in JOB_JSON)
_FUNCTION_JSON_FIELDS = tuple(c for c in FUNCTION_COLUMNS if c in FUNCTION_JSON)
# scan_once is set by JSONDecoder.__init__ (the C scanner), absent from the type stubs.
_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
# The statistics document, the largest cell a job's settle writes: without the blanks
# of json.dumps (about a fifth of its text). The cell is read as JSON only.
_encode_statistics = many_encoder(json.JSONEncoder(separators=(",", ":"), check_circular=False))


def _loads(text: str) -> Any:
    """``json.loads`` of a cell the store wrote, by json's C scanner alone (its
    ``loads`` costs more than the scan of a short cell); ``json.loads`` itself for
    anything the scanner does not take whole."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)  # raises json's own error
    return value if end == len(text) else json.loads(text)


def _job_fields(row: Sequence[Any]) -> dict[str, Any]:
    """The job record of a row of ``_JOB_FIELDS``."""
    record = dict(zip(JOB_COLUMNS, row, strict=True))
    for key in _JOB_JSON_FIELDS:
        value = record[key]
        if value is not None:
            record[key] = _loads(value)
    return record


# A claim's reads in one statement: the Function and the claimer's two slots (a slot
# never taken reads as NULLs, which hold nothing).
_READ_FOR_CLAIM = (
    "SELECT " + ", ".join(f'f."{c}"' for c in FUNCTION_COLUMNS)
    + ", a.holder, a.expires, a.revoked, b.holder, b.expires, b.revoked FROM functions f "
    "LEFT JOIN slots a ON a.key = ? LEFT JOIN slots b ON b.key = ? WHERE f.id = ?")
_SLOTS_AT = len(FUNCTION_COLUMNS)


class _FunctionReads:
    """The Function record of a claim, decoded again only when its row changed: a
    worker reads the same row at every claim."""

    def __init__(self) -> None:
        self.last: tuple[tuple[Any, ...], dict[str, Any]] | None = None

    def read(self, tx: sqlite3.Connection, function_id: str) -> dict[str, Any] | None:
        """The Function record, or None."""
        row = tx.execute(_READ_FUNCTION, (function_id,)).fetchone()
        return None if row is None else self._record(tuple(row))

    def read_with_slots(self, tx: sqlite3.Connection, function_id: str, keys: list[str]
                        ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The Function record and the records of the two slots ``keys``, read in one
        statement (a slot never taken has a record of None values: it holds nothing)."""
        row = tx.execute(_READ_FOR_CLAIM, (*keys, function_id)).fetchone()
        if row is None:
            return None, []
        values = tuple(row)
        slots = values[_SLOTS_AT:]
        return self._record(values[:_SLOTS_AT]), [
            {"holder": slots[i], "expires": slots[i + 1], "revoked": slots[i + 2]}
            for i in (0, 3)]

    def _record(self, values: tuple[Any, ...]) -> dict[str, Any]:
        last = self.last
        if last is not None and last[0] == values:
            # A copy of the top level: a caller may set fields of its record, but the
            # nested values (environment, requirements) are shared with later claims.
            return dict(last[1])
        record = dict(zip(FUNCTION_COLUMNS, values, strict=True))
        for key in _FUNCTION_JSON_FIELDS:
            if record[key] is not None:
                record[key] = _loads(record[key])
        for key in _FUNCTION_BOOL:
            if record[key] is not None:
                record[key] = bool(record[key])
        self.last = (values, record)
        return dict(record)


def _condition(expect: dict[str, Any] | None) -> tuple[str, list[Any]]:
    if not expect:
        return "", []
    parts, params = [], []
    for key, value in expect.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            value = list(value)
            parts.append(f'"{key}" IN ({",".join("?" * len(value))})')
            params.extend(value)
        elif value is None:
            parts.append(f'"{key}" IS NULL')
        else:
            parts.append(f'"{key}" = ?')
            params.append(value)
    return " AND " + " AND ".join(parts), params


class SQLiteStore(Store):
    """Records in SQLite (WAL). Safe for many processes at once."""

    def __init__(self, db: Database):
        self.db = db
        self._functions = _FunctionReads()

    # -- functions ----------------------------------------------------------------------
    def create_function(self, record: dict[str, Any]) -> None:
        """Store a new Function record."""
        row = _encode(record, FUNCTION_JSON)
        cols = ",".join(f'"{k}"' for k in row)
        try:
            with self.db.transaction() as tx:
                tx.execute(f"INSERT INTO functions ({cols}) VALUES ({','.join('?' * len(row))})",
                           list(row.values()))
        except sqlite3.IntegrityError:
            raise ConflictError(f"Function {record['id']} already exists")

    def get_function(self, function_id: str) -> dict[str, Any] | None:
        """The Function record, or None."""
        row = self.db.connection().execute(
            "SELECT * FROM functions WHERE id = ?", (function_id,)).fetchone()
        return _decode_function(row)

    def update_function(self, function_id: str, changes: dict[str, Any],
                        expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Conditional update of a Function record."""
        return self._update("functions", function_id, changes, expect, FUNCTION_JSON,
                            _decode_function)

    def delete_function(self, function_id: str) -> None:
        """Remove the Function record."""
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM functions WHERE id = ?", (function_id,))
            tx.execute("DELETE FROM batches WHERE function_id = ?", (function_id,))

    # -- jobs ---------------------------------------------------------------------------
    # No reconciler runs on this backend (the SDK's own calls recover lost workers), so
    # it keeps no idle marks: every Function is always to be looked at.
    def note_runnable(self, function_id: str) -> None:
        """Nothing to do: this backend keeps no idle marks."""

    def functions_to_reconcile(self) -> list[tuple[dict[str, Any], int, float]]:
        """Every Function, at epoch 0."""
        rows = self.db.connection().execute("SELECT * FROM functions ORDER BY creation_date")
        return [(_function_record(r), 0, 0.0) for r in rows]

    def mark_idle(self, function_id: str, epoch: int) -> bool:
        """Nothing is marked here."""
        return False

    def insert_jobs(self, reference_id: str,
                    records: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        """Store a batch in one transaction, idempotently by ``reference_id``."""
        if not records:
            return []
        if isinstance(records, NewJobs):  # map()'s: rows straight from its columns
            cols, rows = _new_job_rows(records)
        else:
            cols = list(records[0])
            rows = _job_rows(records, cols)
            if "statistics" in cols and any(r["statistics"] is not None for r in records):
                # Jobs copied in with their statistics (new jobs have none).
                cols += STAT_COLUMNS
                rows = [(*row, *statistics_values(r["statistics"]))
                        for row, r in zip(rows, records, strict=True)]
        col_sql = ",".join(f'"{k}"' for k in cols)
        marks = ",".join("?" * len(cols))
        with self.db.transaction() as tx:
            seen = tx.execute("SELECT 1 FROM batches WHERE reference_id = ?",
                              (reference_id,)).fetchone()
            if seen is None:
                tx.execute("INSERT INTO batches (reference_id, function_id, created) "
                           "VALUES (?, ?, ?)",
                           (reference_id, records[0]["function_id"],
                            records[0]["creation_date"]))
                tx.executemany(f"INSERT INTO jobs ({col_sql}) VALUES ({marks})", rows)
                return records
            # Job ids are "<reference_id>-<n>", so the unique id index finds the batch.
            stored = tx.execute("SELECT * FROM jobs WHERE id >= ? AND id < ? AND reference_id = ? "
                                "ORDER BY seq", (f"{reference_id}-", f"{reference_id}.",
                                                 reference_id)).fetchall()
        return [_job_record(r) for r in stored]

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """The job record, or None."""
        row = self.db.connection().execute("SELECT * FROM jobs WHERE id = ?",
                                           (job_id,)).fetchone()
        return _decode_job(row)

    def get_jobs(self, job_ids: list[str]) -> list[dict[str, Any]]:
        """The records of the ids that exist."""
        out: list[dict[str, Any]] = []
        conn = self.db.connection()
        for i in range(0, len(job_ids), 500):
            part = job_ids[i:i + 500]
            rows = conn.execute(
                f"SELECT * FROM jobs WHERE id IN ({','.join('?' * len(part))})", part)
            out.extend(_job_record(r) for r in rows)
        return out

    def update_job(self, job_id: str, changes: dict[str, Any],
                   expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Conditional update of a job record."""
        return self._update("jobs", job_id, changes, expect, JOB_JSON, _decode_job)

    def delete_jobs(self, job_ids: list[str], keep_statuses: Iterable[str] = ()) -> list[str]:
        """Remove job records, except those whose status is in ``keep_statuses``;
        returns the ids removed."""
        keep = list(keep_statuses)
        cond = f" AND status NOT IN ({','.join('?' * len(keep))})" if keep else ""
        deleted: list[str] = []
        with self.db.transaction() as tx:
            for i in range(0, len(job_ids), 500):
                part = list(job_ids[i:i + 500])
                rows = tx.execute(f"DELETE FROM jobs WHERE id IN ({','.join('?' * len(part))})"
                                  f"{cond} RETURNING id", [*part, *keep]).fetchall()
                deleted.extend(r[0] for r in rows)
        return deleted

    # -- queries ------------------------------------------------------------------------
    def query(self, kind: str, where: Expression | None, sort: list[SortKey],
              limit: int | None = None, offset: int = 0,
              fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Matching records, sorted, one page; only ``fields`` of each when given."""
        table, columns, json_fields = _TABLES[kind]
        clause, params = sql.where(where, columns)
        order = sql.order_by(sort, columns, "rowid")
        page = ""
        if limit is not None or offset:
            page = " LIMIT ? OFFSET ?"
            params = [*params, -1 if limit is None else limit, offset]
        if fields is None:
            rows = self.db.connection().execute(
                f"SELECT * FROM {table} WHERE {clause} {order}{page}", params)
            decode = _function_record if kind == FUNCTION else _job_record
            return [decode(r) for r in rows]
        names = field_names(kind, fields, columns)
        selected = ", ".join(f'"{name}"' for name in names)
        rows = self.db.connection().execute(
            f"SELECT {selected} FROM {table} WHERE {clause} {order}{page}", params)
        # Only the named cells are made and decoded (JSON ones parsed, booleans as such).
        bools = _FUNCTION_BOOL if kind == FUNCTION else frozenset()
        decoders = [(i, name, bool if name in bools else _loads)
                    for i, name in enumerate(names) if name in json_fields or name in bools]
        out = []
        for row in rows:
            record = dict(zip(names, row, strict=True))
            for i, name, decode_cell in decoders:
                if row[i] is not None:
                    record[name] = decode_cell(row[i])
            out.append(record)
        return out

    def count(self, kind: str, where: Expression | None) -> int:
        """How many records match."""
        table, columns, _ = _TABLES[kind]
        clause, params = sql.where(where, columns)
        return int(self.db.connection().execute(
            f"SELECT count(*) FROM {table} WHERE {clause}", params).fetchone()[0])

    def count_by_status(self, function_ids: list[str],
                        statuses: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        """Job counts by status for each Function (only ``statuses`` when given)."""
        out: dict[str, dict[str, int]] = {fid: {} for fid in function_ids}
        conn = self.db.connection()
        only, extra = "", []
        if statuses is not None:
            extra = list(statuses)
            only = f" AND status IN ({', '.join('?' * len(extra))})" if extra else " AND 0"
        for fid in function_ids:
            for status, n in conn.execute(
                    f"SELECT status, count(*) FROM jobs WHERE function_id = ?{only} "
                    "GROUP BY status", (fid, *extra)):
                out[fid][status] = n
        return out

    def job_summary(self, function_id: str, now: float, buckets: int = 60,
                    bins: int = 20) -> dict[str, Any]:
        """Aggregates of the Function's jobs, computed in SQLite (see ``aggregates``)."""
        from skyrun.backends.local import aggregates  # the monitor's: off a worker's start

        return aggregates.job_summary(self.db.connection(), function_id, now, buckets, bins)

    def job_timeline(self, function_id: str, limit: int) -> list[tuple[Any, ...]]:
        """``(id, status, start, end)`` of the started jobs, by start."""
        from skyrun.backends.local import aggregates

        return aggregates.job_timeline(self.db.connection(), function_id, limit)

    def job_timeline_json(self, function_id: str, limit: int, statuses: tuple[str, ...],
                          ids: bool = True) -> dict[str, Any]:
        """The same bars as columns of JSON text, written by SQLite (the monitor's
        timeline at 100,000 jobs); see ``aggregates.job_timeline_json``."""
        from skyrun.backends.local import aggregates

        return aggregates.job_timeline_json(self.db.connection(), function_id, limit,
                                            statuses, ids)

    def defer_checkpoints(self) -> Callable[[], None]:
        """For a worker: WAL checkpoints off its commits, in a thread, until the
        returned function is called (see ``Database.defer_checkpoints``)."""
        return self.db.defer_checkpoints()

    # -- claims and leases -------------------------------------------------------------
    def claim(self, function_id: str, worker_id: str, lease_seconds: float,
              namespace_limit: int, now: float, held: Held | None = None) -> dict[str, Any] | None:
        """Claim the oldest pending job of a ``ready`` Function for a worker that holds
        the slots ``held`` (see :mod:`skyrun.domain.slots`).

        The Function and the slots are read in the same transaction, so a lowered
        ``maximum_concurrency`` applies to the very next claim.
        """
        conn = self.db.connection()
        # A cheap read first: most idle polls end here without taking the write lock.
        if conn.execute("SELECT 1 FROM jobs WHERE function_id = ? AND status = 'pending' "
                        "LIMIT 1", (function_id,)).fetchone() is None:
            return None
        claiming = _ClaimStatement(worker_id, lease_seconds, namespace_limit, now, held)
        with self.db.transaction() as tx:
            row, _ = claiming.run(tx, function_id, self._functions)
        return None if row is None else _job_fields(row)

    def has_pending(self, function_id: str) -> bool:
        """Whether the Function has a pending job (a read, no lock)."""
        return self.db.connection().execute(
            "SELECT 1 FROM jobs WHERE function_id = ? AND status = 'pending' LIMIT 1",
            (function_id,)).fetchone() is not None

    # -- slots (the rules are skyrun.domain.slots) -------------------------------------
    def take_slot(self, candidates: list[Slot], worker_id: str, lease_seconds: float,
                  namespace_limit: int, now: float) -> Slot | None:
        """Take the first free slot of ``candidates`` within its limit (a Function
        slot: the Function read in the same transaction); None if there is none."""
        if not candidates:
            return None
        with self.db.transaction() as tx:
            fn = None
            if candidates[0].scope == slot_rules.FUNCTION:
                fn = _decode_function(tx.execute("SELECT * FROM functions WHERE id = ?",
                                                 (candidates[0].owner,)).fetchone())
            rows = {r[0]: {"holder": r[1], "expires": r[2], "revoked": r[3]}
                    for r in tx.execute("SELECT key, holder, expires, revoked FROM slots "
                                        "WHERE key >= ? AND key < ?",
                                        _owner_range(candidates[0]))}
            for slot in candidates:
                if (slot_rules.may_take(slot, fn, namespace_limit)
                        and slot_rules.is_free(rows.get(slot.key), worker_id, now)):
                    _write_slot(tx, slot, slot_rules.taken(worker_id, now, lease_seconds))
                    return slot
        return None

    def renew_slots(self, slots: list[Slot], worker_id: str, lease_seconds: float,
                    now: float) -> list[Slot]:
        """Extend the leases of the slots ``worker_id`` holds and that were not revoked;
        return those it no longer holds."""
        lost = []
        with self.db.transaction() as tx:
            for slot in slots:
                # A slot that a change of its Function took away (revoked on DynamoDB;
                # here the Function is read, as a claim reads it) is lost too.
                if slot.scope == slot_rules.FUNCTION and not slot_rules.may_take(
                        slot, _decode_function(tx.execute(
                            "SELECT * FROM functions WHERE id = ?", (slot.owner,)).fetchone()),
                        0):
                    lost.append(slot)
                    continue
                if tx.execute("UPDATE slots SET expires = ? WHERE key = ? AND holder = ? "
                              "AND NOT revoked", (round(now + lease_seconds, 6), slot.key,
                                                  worker_id)).rowcount != 1:
                    lost.append(slot)
        return lost

    def release_slot(self, slot: Slot, worker_id: str) -> None:
        """Free the slot if ``worker_id`` holds it."""
        with self.db.transaction() as tx:
            tx.execute("UPDATE slots SET holder = NULL, expires = NULL WHERE key = ? "
                       "AND holder = ?", (slot.key, worker_id))

    def slot_holders(self, scope: str, owner: str, now: float) -> dict[int, str]:
        """Who holds the slots of ``scope`` and ``owner`` at ``now``, by index."""
        out = {}
        conn = self.db.connection()
        fn = None
        if scope == slot_rules.FUNCTION:
            fn = _decode_function(conn.execute("SELECT * FROM functions WHERE id = ?",
                                               (owner,)).fetchone())
        for key, holder, expires, revoked in conn.execute(
                "SELECT key, holder, expires, revoked FROM slots WHERE key >= ? AND key < ?",
                _owner_range(Slot(scope, owner, 0))):
            slot = Slot(scope, owner, int(key.rpartition("#")[2]))
            # Here a slot above a lowered limit is not revoked: the claim reads the
            # Function; it is not held all the same.
            if (slot_rules.holds({"holder": holder, "expires": expires, "revoked": revoked},
                                 holder, now)
                    and (fn is None or slot_rules.may_take(slot, fn, slot.index + 1))):
                out[slot.index] = holder
        return out

    def settle_and_claim(self, job_id: str, changes: dict[str, Any], expect: dict[str, Any],
                         blob_records: list[dict[str, Any]], claim: dict[str, Any] | None
                         ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
        """One write transaction for the end of an attempt and the start of the next.

        Applies ``changes`` to the job if it matches ``expect`` (else nothing at all is
        written and ``(None, None, None)`` returned); records the blobs of
        ``blob_records`` (their data is in place already: the job's result and sealed
        log); then, if ``claim`` holds the arguments of :meth:`claim` but
        ``function_id``, claims the next job of the same Function. Returns ``(settled
        job, next claimed job or None, the Function record as read in the transaction)``.
        """
        from skyrun.backends.local.blobs import place_staged, upsert_statement

        # Every statement is made before the write lock is taken, and the rows decoded
        # after it is released: the other workers wait for it.
        row_values = _job_values(changes)
        cond, cond_params = _condition(expect)
        settle = _statement(("settle", tuple(row_values), cond), lambda: (
            "UPDATE jobs SET " + ", ".join(f'"{k}" = ?' for k in row_values)
            + f" WHERE id = ?{cond} RETURNING {_JOB_FIELDS}"))
        blobs = [upsert_statement(record) for record in blob_records]
        claiming = None if claim is None else _ClaimStatement(**claim)
        with self.db.transaction() as tx:
            row = tx.execute(settle, [*row_values.values(), job_id, *cond_params]).fetchone()
            if row is None:
                return None, None, None  # the caller may try again with the same records
            for text, params in blobs:
                tx.execute(text, params)
            claimed = function = None
            if claiming is not None:
                claimed, function = claiming.run(tx, row[_FUNCTION_ID_AT], self._functions)
            # The job is still this attempt's: its result's data takes its place now, last
            # before the commit, under the write lock (what is not placed, the caller
            # discards, or the job's requeue sweeps: FileBlobStore.discard_staged and
            # sweep_staged).
            for record in blob_records:
                place_staged(record)
        return _job_fields(row), (None if claimed is None else _job_fields(claimed)), function

    def renew(self, job_id: str, worker_id: str, lease_expires: float) -> bool:
        """Extend the lease if ``worker_id`` still holds it."""
        with self.db.transaction() as tx:
            cur = tx.execute(f"UPDATE jobs SET lease_expires = ? WHERE id = ? AND worker_id = ? "
                             f"AND status IN {_ACTIVE_SQL}", (lease_expires, job_id, worker_id))
            return cur.rowcount == 1

    def expired_claims(self, now: float, function_id: str | None = None) -> list[dict[str, Any]]:
        """Active jobs whose lease has expired."""
        query = f"SELECT * FROM jobs WHERE status IN {_ACTIVE_SQL} AND lease_expires < ?"
        params: list[Any] = [now]
        if function_id is not None:
            query += " AND function_id = ?"
            params.append(function_id)
        return [_job_record(r) for r in self.db.connection().execute(query, params)]

    def active_jobs(self, function_id: str) -> list[dict[str, Any]]:
        """Active jobs of a Function."""
        rows = self.db.connection().execute(
            f"SELECT * FROM jobs WHERE function_id = ? AND status IN {_ACTIVE_SQL}",
            (function_id,))
        return [_job_record(r) for r in rows]

    # -- helpers ------------------------------------------------------------------------
    def _update(self, table: str, key: str, changes: dict[str, Any],
                expect: dict[str, Any] | None, json_fields: frozenset[str],
                decode: Callable[[sqlite3.Row | None], dict[str, Any] | None]
                ) -> dict[str, Any] | None:
        if not changes:
            row = self.db.connection().execute(f"SELECT * FROM {table} WHERE id = ?",
                                               (key,)).fetchone()
            return decode(row)
        row_values = _job_values(changes) if table == "jobs" else _encode(changes, json_fields)
        sets = ", ".join(f'"{k}" = ?' for k in row_values)
        cond, cond_params = _condition(expect)
        with self.db.transaction() as tx:
            row = tx.execute(f"UPDATE {table} SET {sets} WHERE id = ?{cond} RETURNING *",
                             [*row_values.values(), key, *cond_params]).fetchone()
        return decode(row)


def _owner_range(slot: Slot) -> tuple[str, str]:
    # The keys of every slot of one scope and owner: ``{scope}#{owner}#{index}``.
    prefix = f"{slot.scope}#{slot.owner}#"
    return prefix, prefix[:-1] + chr(ord("#") + 1)


def _write_slot(tx: sqlite3.Connection, slot: Slot, record: dict[str, Any]) -> None:
    tx.execute("INSERT INTO slots (key, holder, expires, revoked) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, "
               "expires = excluded.expires, revoked = excluded.revoked",
               (slot.key, record["holder"], record["expires"], int(record["revoked"])))


def _holds(held: Held, records: list[dict[str, Any]], fn: dict[str, Any],
           worker_id: str, namespace_limit: int, now: float) -> bool:
    """Whether the claimer holds its slots (``held``, whose records were read as
    ``records``), by the rules of ``skyrun.domain.slots``."""
    for slot, record in zip(held.slots(), records, strict=True):
        if not (slot_rules.holds(record, worker_id, now)
                and slot_rules.may_take(slot, fn, namespace_limit)):
            return False
    assert held.function is not None and held.namespace is not None  # held.complete
    return bool(held.function.owner == fn["id"] and held.namespace.owner == fn["namespace"])


class _ClaimStatement:
    """A claim of the next job of a Function, its statement made before the write
    lock is taken (see ``SQLiteStore.claim``); ``run`` runs it in a transaction."""

    def __init__(self, worker_id: str, lease_seconds: float, namespace_limit: int,
                 now: float, held: Held | None = None):
        self.worker_id, self.namespace_limit, self.now, self.held = (
            worker_id, namespace_limit, now, held)
        self.text = None
        self.params: list[Any] = []
        if held is not None and held.complete:
            # What a claim writes is the state machine's; which job, and the limits,
            # are ours.
            change = transitions.claim(worker_id, round(now, 6), lease_seconds)
            values = _job_values(change.changes)
            cond, self.params = _condition(change.expect)
            self.params = [*values.values(), None, *self.params]  # None: the Function id
            increments = tuple(change.increments.items())
            self.text = _statement(("claim", tuple(values), increments, cond), lambda: (
                "UPDATE jobs SET "
                + ", ".join([*(f'"{k}" = ?' for k in values),
                             *(f'"{k}" = coalesce("{k}", 0) + {int(n)}'
                               for k, n in increments)])
                + f" WHERE seq = (SELECT seq FROM jobs WHERE function_id = ?{cond} "
                f"ORDER BY queued_date LIMIT 1) RETURNING {_JOB_FIELDS}"))
            self.function_at = len(values)

    def run(self, tx: sqlite3.Connection, function_id: str, functions: _FunctionReads
            ) -> tuple[Sequence[Any] | None, dict[str, Any] | None]:
        """``(the claimed job's row or None, the Function record or None)``."""
        held = self.held
        if self.text is None or held is None:
            return None, functions.read(tx, function_id)
        # The limits: the claimer's slots, read with the Function in this transaction.
        fn, slots = functions.read_with_slots(tx, function_id, [s.key for s in held.slots()])
        if fn is None or fn["status"] != "ready":
            return None, fn
        if not _holds(held, slots, fn, self.worker_id, self.namespace_limit, self.now):
            return None, fn
        params = self.params
        params[self.function_at] = function_id
        return tx.execute(self.text, params).fetchone(), fn


_STATEMENTS: dict[tuple[Any, ...], str] = {}


def _statement(key: tuple[Any, ...], make: Callable[[], str]) -> str:
    """The text of a hot-path statement, made once per shape (its columns and
    condition): a worker writes the same few shapes for every job."""
    text = _STATEMENTS.get(key)
    if text is None:
        text = _STATEMENTS[key] = make()
    return text


def _new_job_rows(jobs: NewJobs) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The columns and rows of a batch of ``map()``, made from the batch's columns: the
    fields the jobs share are encoded once, and each row is the job's own values and
    the shared ones (no record dict per job)."""
    varying = ("id", "args", "kwargs", "environment")
    shared = [c for c in jobs.shared if c not in varying]
    fixed = tuple(_json_cell(jobs.shared[c]) if c in JOB_JSON else jobs.shared[c]
                  for c in shared)
    # args and kwargs are JSON text already.
    envs = [None if e is None else json.dumps(e) for e in jobs.environments]
    rows = [(i, a, k, e) + fixed for i, a, k, e in zip(jobs.ids, jobs.args, jobs.kwargs,
                                                          envs, strict=True)]
    return [*varying, *shared], rows


def _json_cell(value: Any) -> Any:
    # A JSON field's cell: its JSON text (kept as is when map() encoded it already).
    return value if value is None or type(value) is JSONText else json.dumps(value)


def _job_rows(records: Sequence[dict[str, Any]], cols: list[str]) -> list[tuple[Any, ...]]:
    """Rows for ``executemany``, built column by column (much faster than cell by cell).
    Values shared by every job of a batch (its tags list, say) are encoded once."""
    memo: dict[int, str] = {}

    def encode(value: Any) -> Any:
        if value is None or type(value) is JSONText:
            return value
        key = id(value)
        if key not in memo:
            memo[key] = json.dumps(value)
        return memo[key]

    columns = []
    for col in cols:
        values = [r[col] for r in records]
        if col in JOB_JSON:
            values = [encode(v) for v in values]
        columns.append(values)
    return list(zip(*columns, strict=True))
