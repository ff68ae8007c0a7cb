"""``BlobSearch``: a lazy, immutable query over blob records, run in the store."""

from __future__ import annotations

import time
from collections.abc import Iterator

from skyrun.catalog.fields import field, unknown_names
from skyrun.common.lazysearch import LazySearch
from skyrun.common.search import Expression, Property, SortKey, names

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


class BlobSearch(LazySearch):
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

    def _where(self) -> Expression | None:
        expr = self._and_filters()
        unknown = unknown_names(names(expr) | ({self._sort.name} if self._sort else set()))
        if unknown:
            raise AttributeError(f"{self._model.__name__} has no attribute {unknown[0]}")
        purge_expired(self._client, force=False)
        return expr

    def _fetch(self, where: Expression | None, size: int, offset: int) -> list[dict]:
        return self._client.backend.blobs.search(where, [self._sort] if self._sort else [],
                                                 size, offset)

    def __iter__(self) -> Iterator:
        for record in self._records(self._where()):
            yield self._model._from_stored(record, self._client)

    def count(self) -> int:
        """How many blobs match (the limit is ignored)."""
        return self._client.backend.blobs.count(self._where())

    def __repr__(self) -> str:
        return f"BlobSearch(filters={len(self._filters)}, sort={self._sort}, limit={self._limit})"
