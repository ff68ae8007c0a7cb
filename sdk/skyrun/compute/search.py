"""``Search`` and ``JobSearch``: lazy, immutable queries over Functions and Jobs."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from skyrun.common.document import Attribute
from skyrun.common.lazysearch import LazySearch
from skyrun.common.search import (
    Compare,
    Expression,
    SortKey,
)
from skyrun.exceptions import ValidationError

T = TypeVar("T")
#: A Search or a subclass: each builder call returns the kind it was called on.
S = TypeVar("S", bound="Search[Any]")


class Search(LazySearch, Generic[T]):
    """A lazy query; every builder call returns a new Search."""

    def __init__(self, model, client, kind: str, scope: Expression | None = None,
                 filters: tuple = (), sort: tuple = (), limit: int | None = None,
                 includes: tuple = ()):
        self._model = model
        self._client = client
        self._kind = kind
        self._scope = scope
        self._filters = filters
        self._sort = sort
        self._limit = limit
        self._includes = includes

    def sort(self: S, *keys) -> S:
        """Sort by attributes; ``-Attr`` sorts descending."""
        out = []
        for key in keys:
            if isinstance(key, SortKey):
                out.append(key)
            elif isinstance(key, Attribute):
                out.append(key.sort_key())
            else:
                raise TypeError(f"Cannot sort by {key!r}: use an attribute such as "
                                f"{self._model.__name__}.creation_date or its negation")
        return self._copy(sort=(*self._sort, *out))

    def param(self: S, **params) -> S:
        """``include=[...]``, ``page_size`` (ignored) or legacy equality filters."""
        search = self
        for name, value in params.items():
            if name == "page_size":
                continue
            if name == "include":
                search = search._copy(includes=tuple(value or ()))
                continue
            attr = self._model._attributes.get(name)
            if attr is None or not attr.filterable:
                raise ValidationError(f"Unknown search parameter: {name}",
                                      errors={name: [f"Unknown search parameter: {name}"]})
            if isinstance(value, (list, tuple, set, frozenset)):
                # A list means "any of" (for a list attribute: contains any of them).
                search = search.filter(attr.in_(list(value)))
            else:
                search = search.filter(attr == value)
        return search

    def _where(self) -> Expression | None:
        return self._and_filters(self._scope)

    def _fetch(self, where: Expression | None, size: int, offset: int) -> list[dict]:
        return self._client.backend.store.query(self._kind, where, list(self._sort), size,
                                                offset)

    def __iter__(self) -> Iterator[T]:
        for record in self._records(self._where()):
            yield self._model._from_search(record, self._client, self._includes)

    def _field_records(self, fields: tuple[str, ...]) -> Iterator[dict]:
        """The matches as records of only ``fields``, in the search's order: for readers
        of ids, who need neither whole records nor documents."""
        store, kind, sort = self._client.backend.store, self._kind, list(self._sort)
        return self._records(self._where(), lambda where, size, offset: store.query(
            kind, where, sort, size, offset, fields=fields))

    def count(self) -> int:
        """How many records match (the limit is ignored)."""
        return self._client.backend.store.count(self._kind, self._where())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._model.__name__}, filters={len(self._filters)})"


def scope_namespace(namespace: str) -> Expression:
    """The filter that keeps a search to one namespace."""
    return Compare("namespace", "==", namespace, "str")


def warn_deprecated(param: str) -> None:
    """The deprecation warning of the list helpers."""
    warnings.warn(f"The `{param}` parameter is deprecated. Use "
                  f"`Job.search().filter(<equivalent filter>)` instead.",
                  DeprecationWarning, stacklevel=3)
