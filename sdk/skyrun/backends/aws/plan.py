"""Which index serves a search, and evaluating the rest of it in Python.

DynamoDB filters only on keys, so a search runs in two steps: a key lookup narrows the
items (an id, a partition of a global secondary index, a key range), then
:func:`skyrun.common.search.matches` applies the whole expression to each record and
:func:`skyrun.common.search.sort_records` sorts them. The lookup is chosen from the
top-level AND terms of the expression; the SDK always ANDs the caller's namespace into
Function and Job searches (``compute/search.py``), so those never scan the table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from skyrun.common.search import (
    LIST,
    And,
    Compare,
    Expression,
    In,
    Prefix,
    SortKey,
    matches,
    names,
    sort_records,
)


def conjuncts(expr: Expression | None) -> list[Expression]:
    """The terms of a top-level AND (the expression itself when it is not one)."""
    if expr is None:
        return []
    if isinstance(expr, And):
        return conjuncts(expr.left) + conjuncts(expr.right)
    return [expr]


def equals(terms: list[Expression], name: str) -> Any:
    """The value a term ``name == value`` pins, or None."""
    for term in terms:
        if (isinstance(term, Compare) and term.name == name and term.op == "=="
                and term.kind != LIST and term.value is not None):
            return term.value
    return None


def one_of(terms: list[Expression], name: str) -> tuple[Any, ...] | None:
    """The values a term ``name == v`` or ``name.in_([...])`` allows, or None."""
    for term in terms:
        if isinstance(term, In) and term.name == name and term.kind != LIST:
            return tuple(term.values)
    value = equals(terms, name)
    return None if value is None else (value,)


def prefix(terms: list[Expression], name: str) -> str | None:
    """The prefix a term ``name.startswith(p)`` requires, or None."""
    for term in terms:
        if isinstance(term, Prefix) and term.name == name and term.kind != LIST:
            return term.prefix
    return None


def bounds(terms: list[Expression], name: str) -> tuple[float | None, float | None, list[Any]]:
    """Inclusive numeric bounds that the range terms on ``name`` imply, with the terms
    used (exclusive bounds are widened: the Python filter applies them exactly)."""
    low = high = None
    used = []
    for term in terms:
        if not (isinstance(term, Compare) and term.name == name and term.kind != LIST):
            continue
        value = term.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if term.op in (">", ">=", "=="):
            low = value if low is None else max(low, value)
        if term.op in ("<", "<=", "=="):
            high = value if high is None else min(high, value)
        if term.op in (">", ">=", "<", "<=", "=="):
            used.append(term)
    return low, high, used


def check_names(where: Expression | None, sort: list[SortKey], allowed: set[str],
                open_objects: tuple[str, ...] = ()) -> None:
    """``ValueError`` for a name that is not a field (as the SQL stores raise)."""
    for name in names(where) | {key.name for key in sort}:
        base, dot, rest = name.partition(".")
        if name in allowed or (dot and rest and base in open_objects):
            continue
        raise ValueError(f"Cannot filter on property: {name}")


def natural_key(record: dict[str, Any]) -> tuple[Any, str, int, str]:
    """The order of records that no sort key separates: creation, then id, with the
    number of a job id ``{reference_id}-{n}`` compared as a number."""
    created = record.get("creation_date") or record.get("created") or 0.0
    head, _, tail = str(record.get("id", "")).rpartition("-")
    if head and tail.isdigit():
        return (created, head, int(tail), "")
    return (created, str(record.get("id", "")), -1, "")


def select(records: Iterable[dict[str, Any]], where: Expression | None, sort: list[SortKey],
           view: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The records matching ``where``, sorted by ``sort`` then :func:`natural_key`
    (reversed when the last sort key descends, as the SQLite store's row order)."""
    view = view or (lambda r: r)
    found = [r for r in records if matches(where, view(r))]
    found.sort(key=natural_key, reverse=bool(sort) and sort[-1].descending)
    if sort:
        views = sort_records([dict(view(r), __record=r) for r in found], sort)
        found = [v["__record"] for v in views]
    return found


class PageCache:
    """The last full result of each recent search, so that reading page after page
    (``offset`` 0, 1000, 2000 ...) computes it once instead of once per page."""

    TTL = 30.0
    MAX_RECORDS = 50_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, int, list[dict[str, Any]]]] = {}

    @staticmethod
    def key(*parts: Any) -> str:
        """A cache key for a search (expressions have a structural ``repr``)."""
        return repr(parts)

    def page(self, key: str, limit: int | None, offset: int,
             compute: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """``compute()[offset:offset + limit]``, reusing the result that a previous page
        of the same search computed."""
        stamp = time.monotonic()
        with self._lock:
            entry = self._entries.pop(key, None)
            for k in [k for k, (t, _, _) in self._entries.items() if stamp - t > self.TTL]:
                del self._entries[k]
        if entry is not None and offset > 0 and offset == entry[1] and stamp - entry[0] < self.TTL:
            records = entry[2]
        else:
            records = compute()
        end = len(records) if limit is None else offset + limit
        out = records[offset:end]
        if end < len(records) and len(records) <= self.MAX_RECORDS:
            with self._lock:
                self._entries[key] = (stamp, end, records)
        return out
