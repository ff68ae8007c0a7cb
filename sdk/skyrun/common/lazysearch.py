"""``LazySearch``: what the searches over Functions, Jobs and Blobs share.

A search holds filters, a sort and a limit; every builder call returns a new search, and
nothing runs until it is iterated, counted or collected. Subclasses say how one page is
fetched (``_fetch``) and how a record becomes a document (``__iter__``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from skyrun.common.search import And, Collection, Expression, clear_chain

PAGE = 1000


class LazySearch:
    """The immutable builder and the paging shared by every search."""

    _filters: tuple
    _limit: int | None

    def _copy(self, **changes):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update({f"_{key}": value for key, value in changes.items()})
        return new

    def filter(self, expr: Expression):
        """AND a filter expression."""
        clear_chain()
        if not isinstance(expr, Expression):
            raise TypeError(f"Expected an Expression not: {type(expr).__name__}")
        return self._copy(filters=(*self._filters, expr))

    def limit(self, n: int):
        """Cap the number of results."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"limit must be a non-negative integer, not {n!r}")
        return self._copy(limit=n)

    def _and_filters(self, start: Expression | None = None) -> Expression | None:
        expr = start
        for f in self._filters:
            expr = f if expr is None else And(expr, f)
        return expr

    def _fetch(self, where: Expression | None, size: int, offset: int) -> list[dict]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        """The matching documents (each kind of search makes its own)."""
        raise NotImplementedError

    def _records(self, where: Expression | None,
                 fetch: Callable[[Expression | None, int, int], list[dict]] | None = None
                 ) -> Iterator[dict]:
        """The matching records, a page at a time (by ``fetch``, default ``_fetch``), up
        to the limit."""
        fetch = fetch or self._fetch
        remaining, offset = self._limit, 0
        while remaining is None or remaining > 0:
            size = PAGE if remaining is None else min(PAGE, remaining)
            page = fetch(where, size, offset)
            yield from page
            if len(page) < size:
                return
            offset += len(page)
            if remaining is not None:
                remaining -= len(page)

    def collect(self) -> Collection:
        """All matches as a Collection."""
        return Collection(self)
