"""Speed fixes to moto, applied by the moto servers of the tests and the sandbox
(:mod:`skyrun.backends.aws.motoserver`, ``skyrun.sandbox.server``): same semantics.

moto's DynamoDB ``TransactWriteItems`` makes a deep copy of every table a transaction
names before it runs, to put the copies back if the transaction is canceled. Each of
the store's settle-and-claim transactions names the jobs table, so every job cost a
copy of every job: at 1,000 jobs the sandbox's server spent most of its time copying
(one CPU busy, its memory growing by gigabytes) and a run got slower with every job.
:func:`backup_only_the_named_items` keeps moto's own transaction code but backs up only
the items the transaction names (at most 100), and puts those back on a cancellation:
the same all-or-nothing outcome, at a cost that no longer grows with the table.

A table with a stream keeps moto's whole-table copy (its stream records would not be
rolled back otherwise); skyrun's tables have none.

moto's ``Table.all_items``, which every ``Query`` and ``Scan`` starts from, sorts the
whole table by key with comparisons that convert both sides' values at each step
(``DynamoType.__lt__``): half a second or more for a query of a 10,000-item table, and the
sandbox's jobs table holds every job the run made. :func:`sort_items_by_key_values`
sorts by the same values, converted once an item: the same order (so the same pages and
``LastEvaluatedKey``). A ``Query`` sorts the items it matched by itself, so
:func:`query_without_sorting_the_table` skips that sort for it, and
:func:`compare_strings_directly` compares two string values without converting them
(a query's match of its key against every item). A query of a 10,000-item table went
from 460-740 ms to about 35 ms here.

:func:`apply` applies them all; moto is a test dependency only.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_PATCHED = "_skyrun_backs_up_named_items"
_SORT_PATCHED = "_skyrun_sorts_by_key_values"
_QUERY_PATCHED = "_skyrun_queries_unsorted"
_EQUALITY_PATCHED = "_skyrun_compares_strings_directly"
#: Set while this thread runs a query: the table's items need no order then.
_in_query = threading.local()


def apply() -> None:
    """Apply every patch of this module to moto in this process (idempotent)."""
    backup_only_the_named_items()
    sort_items_by_key_values()
    query_without_sorting_the_table()
    compare_strings_directly()


class _TablesNotCopied:
    """Stands for the ``copy`` module inside moto's DynamoDB models: a table is
    returned as it is (its named items are backed up instead), anything else copied."""

    def __init__(self, table_type: type):
        self.table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self.table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _key_of(table: Any, op: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    key = op.get("Key") or op["Item"]
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _put_back(table: Any, hash_value: Any, range_value: Any, old: Any) -> None:
    """The stored item under the key as it was (``old``; None: no item)."""
    if range_value is None:
        if old is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = old
    elif old is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = old


def backup_only_the_named_items() -> None:
    """Patch moto's ``DynamoDBBackend.transact_write_items`` in this process (once)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    if getattr(backend, _PATCHED, False):
        return
    original = backend.transact_write_items
    models.copy = _TablesNotCopied(Table)  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups = []
        for item in transact_items[:100]:
            try:
                _, op = next(iter(item.items()))
                table = self.tables.get(op.get("TableName"))
                if table is None:
                    continue
                if table.stream_shard is not None:
                    raise LookupError("a table with a stream: copy it whole")
                hash_value, range_value = _key_of(table, op)
                old = table.get_item(hash_value, range_value)
            except Exception:
                # A malformed request or a streamed table: moto's own way, whole-table
                # copies included (the shim is bypassed for this call).
                _with_table_copies(original, self, transact_items)
                return
            backups.append((table, hash_value, range_value, copy.deepcopy(old)))
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, old in reversed(backups):
                _put_back(table, hash_value, range_value, old)
            raise

    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    setattr(backend, _PATCHED, True)


def _with_table_copies(original: Any, backend: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb import models

    shim = models.copy
    models.copy = copy
    try:
        original(backend, transact_items)
    finally:
        models.copy = shim


def sort_items_by_key_values() -> None:
    """Patch moto's ``Table.all_items`` in this process (once): the same order, with
    each item's key values converted once instead of at every comparison."""
    from moto.dynamodb.models.table import Table

    if getattr(Table, _SORT_PATCHED, False):
        return

    def all_items(self: Any) -> list[Any]:
        if self.range_key_attr:
            items = [item for hash_set in self.items.values() for item in hash_set.values()]
        else:
            items = list(self.items.values())
        if getattr(_in_query, "active", False):
            return items  # the query sorts what it matches
        # moto's key: (hash, range) of DynamoTypes, compared by their cast values; a
        # table's key attributes have one type each, so the cast values order alike.
        if self.range_key_attr:
            items.sort(key=lambda x: (x.hash_key.cast_value, x.range_key.cast_value))
        else:
            items.sort(key=lambda x: x.hash_key.cast_value)
        return items

    Table.all_items = all_items  # type: ignore[method-assign]
    setattr(Table, _SORT_PATCHED, True)


def query_without_sorting_the_table() -> None:
    """Patch moto's ``Table.query`` in this process (once): the items it looks through
    come unsorted (it sorts those it matched by the index's keys and the table's)."""
    from moto.dynamodb.models.table import Table

    if getattr(Table, _QUERY_PATCHED, False):
        return
    if not hasattr(Table, "_generate_attr_to_sort_by"):
        # A moto that sorts a query's matches by the index's keys alone keeps ties in
        # the order it found them: they must come sorted then.
        return
    original = Table.query

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = getattr(_in_query, "active", False)
        _in_query.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _in_query.active = before

    Table.query = query  # type: ignore[method-assign]
    setattr(Table, _QUERY_PATCHED, True)


def compare_strings_directly() -> None:
    """Patch moto's ``DynamoType`` equality in this process (once): two strings compare
    as strings, which is what converting them gave (other types keep moto's way)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if getattr(DynamoType, _EQUALITY_PATCHED, False):
        return
    equal, not_equal = DynamoType.__eq__, DynamoType.__ne__

    def __eq__(self: Any, other: Any) -> bool:
        if self.type == "S" and type(other) is DynamoType and other.type == "S":
            return bool(self.value == other.value)
        return bool(equal(self, other))

    def __ne__(self: Any, other: Any) -> bool:
        if self.type == "S" and type(other) is DynamoType and other.type == "S":
            return bool(self.value != other.value)
        return bool(not_equal(self, other))

    DynamoType.__eq__ = __eq__  # type: ignore[method-assign]
    DynamoType.__ne__ = __ne__  # type: ignore[method-assign]
    setattr(DynamoType, _EQUALITY_PATCHED, True)
