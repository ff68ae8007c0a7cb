"""``BlobSearch``: a lazy, immutable query over blob records, run in the store."""

from __future__ import annotations

import time
from collections.abc import Iterator

from skyrun.catalog.fields import field, unknown_names
from skyrun.common.search import And, Collection, Expression, Property, SortKey, clear_chain, names

PAGE = 1000
# Expired blobs are already invisible to searches; purging them only frees their space, so
# a search does it at most this often per process and backend.
PURGE_INTERVAL = 60.0
_last_purge: dict[int, float] = {}


def purge_expired(client, force: bool = True) -> int:
    """Remove expired blobs; unless ``force``, only if none were removed lately."""
    key = id(client.backend)
    stamp = time.monotonic()
    if not force and stamp - _last_purge.get(key, float("-inf")) < PURGE_INTERVAL:
        return 0
    _last_purge[key] = stamp
    return client.backend.blobs.purge_expired()


class BlobSearch:
    """Blobs matching ANDed filters, optionally sorted on one field and limited.

    Builder calls return a new search; nothing runs until iteration, ``count()`` or
    ``collect()``. Searches span all namespaces.
    """

    def __init__(self, model, client, filters: tuple = (), sort: SortKey | None = None,
                 limit: int | None = None):
        self._model = model
        self._client = client
        self._filters = filters
        self._sort = sort
        self._limit = limit

    def _copy(self, **changes) -> BlobSearch:
        values = dict(model=self._model, client=self._client, filters=self._filters,
                      sort=self._sort, limit=self._limit)
        values.update(changes)
        return type(self)(**values)

    def filter(self, expr: Expression) -> BlobSearch:
        """AND a filter built with ``properties``."""
        clear_chain()
        if not isinstance(expr, Expression):
            raise TypeError(f"Expected an Expression not: {type(expr).__name__}")
        return self._copy(filters=(*self._filters, expr))

    def sort(self, field_name, ascending: bool = True) -> BlobSearch:
        """Sort on one field (a name such as ``"created"``); the last call wins. Nulls
        come last ascending and first descending."""
        if isinstance(field_name, Property):
            field_name = field_name.name
        if not isinstance(field_name, str):
            raise TypeError(f"sort takes a field name as a str, not {field_name!r}")
        known = field(field_name)
        if known is not None and not known.sortable:
            raise ValueError(f"Cannot sort on property: {field_name}")
        return self._copy(sort=SortKey(field_name, descending=not ascending))

    def limit(self, n: int) -> BlobSearch:
        """Cap the number of results."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"limit must be a non-negative integer, not {n!r}")
        return self._copy(limit=n)

    def _where(self) -> Expression | None:
        expr = None
        for f in self._filters:
            expr = f if expr is None else And(expr, f)
        unknown = unknown_names(names(expr) | ({self._sort.name} if self._sort else set()))
        if unknown:
            raise AttributeError(f"{self._model.__name__} has no attribute {unknown[0]}")
        purge_expired(self._client, force=False)
        return expr

    def _records(self) -> Iterator[dict]:
        blobs = self._client.backend.blobs
        where, sort = self._where(), [self._sort] if self._sort else []
        remaining, offset = self._limit, 0
        while remaining is None or remaining > 0:
            size = PAGE if remaining is None else min(PAGE, remaining)
            page = blobs.search(where, sort, size, offset)
            yield from page
            if len(page) < size:
                return
            offset += len(page)
            if remaining is not None:
                remaining -= len(page)

    def __iter__(self) -> Iterator:
        for record in self._records():
            yield self._model._from_stored(record, self._client)

    def count(self) -> int:
        """How many blobs match (the limit is ignored)."""
        return self._client.backend.blobs.count(self._where())

    def collect(self) -> Collection:
        """All matches, as a list (a ``Collection``)."""
        return Collection(self)

    def __repr__(self) -> str:
        return f"BlobSearch(filters={len(self._filters)}, sort={self._sort}, limit={self._limit})"
