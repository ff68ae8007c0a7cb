"""The search DSL: expressions on document attributes, and the lazy, immutable Search.

``Function.status == "ready"`` builds an expression; a store compiles it (SQL on the
local backend) or evaluates it on records with :func:`matches`. Values are normalized
when the expression is built (datetimes to UTC epoch seconds, enums to their values), so
every store compares the same things.
"""

from __future__ import annotations

import enum
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from skyrun.common.timeutil import to_epoch

# Kinds of value an attribute holds; they decide how values are normalized and matched.
STR, NUM, BOOL, DATETIME, LIST, JSON = "str", "num", "bool", "datetime", "list", "json"


class Expression:
    """A filter expression. Combine with ``&`` and ``|``."""

    def __and__(self, other: Expression) -> Expression:
        _check_expr(other)
        return And(self, other)

    def __or__(self, other: Expression) -> Expression:
        _check_expr(other)
        return Or(self, other)

    def __bool__(self) -> bool:
        # Python evaluates ``lo < a < hi`` as ``(lo < a) and (a < hi)``: remember the left
        # half so that the property can AND it into the right half. The caller's frame,
        # line and instruction are kept so that only a comparison made right after, in
        # the same expression, picks it up (an ``assert expr`` must not leak into the
        # next filter).
        frame = sys._getframe(1)
        _chain.pending = (self, id(frame), frame.f_code, frame.f_lineno, frame.f_lasti)
        return True


_chain = threading.local()


def _check_expr(value) -> None:
    if not isinstance(value, Expression):
        raise TypeError(f"Expected an Expression not: {type(value).__name__}")


@dataclass(frozen=True, eq=False)
class Compare(Expression):
    """``name <op> value`` with op one of ``== != < <= > >=``."""

    name: str
    op: str
    value: Any
    kind: str


@dataclass(frozen=True, eq=False)
class In(Expression):
    """``name`` is one of ``values`` (for a list attribute: contains any of them)."""

    name: str
    values: tuple
    kind: str


@dataclass(frozen=True, eq=False)
class Prefix(Expression):
    """``name`` starts with ``prefix`` (for a list: has an element that does)."""

    name: str
    prefix: str
    kind: str


@dataclass(frozen=True, eq=False)
class Like(Expression):
    """SQL ``LIKE`` with ``%`` and ``_``; ``ignore_case`` for ``ilike``."""

    name: str
    pattern: str
    ignore_case: bool
    kind: str


@dataclass(frozen=True, eq=False)
class IsNull(Expression):
    """``name`` is null (``negate``: is not null)."""

    name: str
    negate: bool


@dataclass(frozen=True, eq=False)
class And(Expression):
    """Both sides match."""

    left: Expression
    right: Expression


@dataclass(frozen=True, eq=False)
class Or(Expression):
    """Either side matches."""

    left: Expression
    right: Expression


@dataclass(frozen=True)
class SortKey:
    """A sort on ``name``, descending if ``descending``."""

    name: str
    descending: bool = False


def normalize(value: Any, kind: str) -> Any:
    """The stored form of ``value`` for an attribute of ``kind``."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if kind == DATETIME:
        return to_epoch(value)
    if kind == NUM and isinstance(value, str):
        return float(value)
    return value


class Property:
    """Something that can be filtered and sorted on: builds expressions and sort keys.

    ``filterable``/``sortable`` decide whether the operators are allowed; the error is
    raised when the expression is built, naming the property.
    """

    def __init__(self, name: str, kind: str = STR, filterable: bool = True,
                 sortable: bool = True):
        self.name = name
        self.kind = kind
        self.filterable = filterable
        self.sortable = sortable

    # -- building ---------------------------------------------------------------------
    def _require_filter(self) -> None:
        if not self.filterable:
            raise ValueError(f"Cannot filter on property: {self.name}")

    def _normal(self, value):
        """The stored form of a value compared with this property."""
        return normalize(value, self.kind)

    def _compare(self, op: str, value) -> Expression:
        self._require_filter()
        if isinstance(value, Property):
            raise TypeError("Comparing two properties is not supported")
        value = self._normal(value)
        expr: Expression = Compare(self.name, op, value, self.kind)
        pending = _take_pending(sys._getframe(2))
        if pending is not None and op in _RANGE and _mentions(pending, self.name):
            expr = And(pending, expr)
        return expr

    def __eq__(self, value) -> Expression:  # type: ignore[override]
        return self._compare("==", value)

    def __ne__(self, value) -> Expression:  # type: ignore[override]
        return self._compare("!=", value)

    def __lt__(self, value) -> Expression:
        return self._compare("<", value)

    def __le__(self, value) -> Expression:
        return self._compare("<=", value)

    def __gt__(self, value) -> Expression:
        return self._compare(">", value)

    def __ge__(self, value) -> Expression:
        return self._compare(">=", value)

    __hash__ = object.__hash__

    def in_(self, values: Iterable) -> Expression:
        """Matches one of ``values`` (a list attribute: contains any of them)."""
        self._require_filter()
        if isinstance(values, (str, bytes)):
            values = [values]
        values = tuple(self._normal(v) for v in values)
        if not values:
            raise ValueError("in_ expression requires at least one item")
        return In(self.name, values, self.kind)

    any_of = in_

    def prefix(self, prefix: str) -> Expression:
        """Starts with ``prefix`` (a list attribute: has an element that does)."""
        self._require_filter()
        return Prefix(self.name, str(prefix), self.kind)

    startswith = prefix

    def like(self, pattern: str) -> Expression:
        """SQL ``LIKE``: ``%`` any run of characters, ``_`` one character."""
        self._require_filter()
        return Like(self.name, str(pattern), False, self.kind)

    def ilike(self, pattern: str) -> Expression:
        """``like`` ignoring case."""
        self._require_filter()
        return Like(self.name, str(pattern), True, self.kind)

    @property
    def isnull(self) -> Expression:
        """The value is null."""
        self._require_filter()
        return IsNull(self.name, False)

    @property
    def isnotnull(self) -> Expression:
        """The value is not null."""
        self._require_filter()
        return IsNull(self.name, True)

    def __neg__(self) -> SortKey:
        return self.sort_key(descending=True)

    def sort_key(self, descending: bool = False) -> SortKey:
        """This property as a sort key."""
        if not self.sortable:
            raise ValueError(f"Cannot sort on property: {self.name}")
        return SortKey(self.name, descending)


_RANGE = ("<", "<=", ">", ">=")


def _mentions(expr: Expression, name: str) -> bool:
    # Only a range comparison can be the left half of a chain like ``lo < a < hi``.
    return isinstance(expr, Compare) and expr.name == name and expr.op in _RANGE


def _take_pending(frame) -> Expression | None:
    # The left half of a chain, if it was made in ``frame``'s current expression.
    pending = getattr(_chain, "pending", None)
    _chain.pending = None
    if pending is None:
        return None
    expr, frame_id, code, line, lasti = pending
    if (frame_id == id(frame) and code is frame.f_code and line == frame.f_lineno
            and lasti < frame.f_lasti):
        return expr
    return None


def clear_chain() -> None:
    """Forget a pending chained comparison (a search starts afresh)."""
    _chain.pending = None


def names(expr: Expression | None) -> set[str]:
    """Every attribute name an expression refers to."""
    if expr is None:
        return set()
    if isinstance(expr, (And, Or)):
        return names(expr.left) | names(expr.right)
    return {expr.name}  # type: ignore[attr-defined]


# -- evaluation on records, for stores that cannot filter natively --------------------
def _like_match(value: str, pattern: str, ignore_case: bool) -> bool:
    import re

    if ignore_case:
        # Lowered as the SQL stores lower (str.lower), not re.IGNORECASE's own folding.
        value, pattern = value.lower(), pattern.lower()
    regex = "".join(
        ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern
    )
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _scalar_ok(op: str, left, right) -> bool:
    if left is None or right is None:
        return False
    try:
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        return left >= right
    except TypeError:
        return False


def matches(expr: Expression | None, record: dict) -> bool:
    """Whether ``record`` (stored form) matches ``expr``."""
    if expr is None:
        return True
    if isinstance(expr, And):
        return matches(expr.left, record) and matches(expr.right, record)
    if isinstance(expr, Or):
        return matches(expr.left, record) or matches(expr.right, record)
    if isinstance(expr, IsNull):
        value = record.get(expr.name)
        return (value is not None) if expr.negate else (value is None)
    if not isinstance(expr, (Compare, In, Prefix, Like)):
        raise TypeError(f"Unknown expression {expr!r}")
    value = record.get(expr.name)
    if isinstance(expr, Compare):
        if expr.kind == LIST:
            items = value or []
            if expr.op == "==":
                return expr.value in items
            if expr.op == "!=":
                return expr.value not in items
            return any(_scalar_ok(expr.op, v, expr.value) for v in items)
        return _scalar_ok(expr.op, value, expr.value)
    if isinstance(expr, In):
        if expr.kind == LIST:
            return any(v in (value or []) for v in expr.values)
        return value is not None and value in expr.values
    if isinstance(expr, Prefix):
        items = (value or []) if expr.kind == LIST else [value]
        return any(isinstance(v, str) and v.startswith(expr.prefix) for v in items)
    if isinstance(expr, Like):
        items = (value or []) if expr.kind == LIST else [value]
        return any(
            isinstance(v, str) and _like_match(v, expr.pattern, expr.ignore_case) for v in items
        )
    raise TypeError(f"Unknown expression {expr!r}")


def _sort_value(value) -> tuple:
    # Values of different types (an extra property that is a number on one record and a
    # string on another) order as in SQL: numbers before strings before anything else.
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, repr(value))


def sort_records(records: list[dict], keys: list[SortKey]) -> list[dict]:
    """Sort records by ``keys``: nulls last ascending and first descending."""
    for key in reversed(keys):
        present = [r for r in records if r.get(key.name) is not None]
        missing = [r for r in records if r.get(key.name) is None]
        name = key.name  # sorted right away: the lambda never outlives this turn
        present.sort(key=lambda r: _sort_value(r[name]), reverse=key.descending)
        records = (missing + present) if key.descending else (present + missing)
    return records


class Collection(list):
    """A list of documents with ``each``, ``map``, ``filter``, ``sorted`` and ``groupby``."""

    @property
    def each(self) -> _Each:
        """Attribute access or method calls applied to every item: ``c.each.id``."""
        return _Each(self)

    def map(self, fn) -> Collection:
        """A Collection of ``fn(item)``."""
        return Collection(fn(x) for x in self)

    def filter(self, predicate) -> Collection:
        """The items for which ``predicate(item)`` is true."""
        return Collection(x for x in self if predicate(x))

    def sorted(self, *keys, reverse: bool = False) -> Collection:
        """Sorted by attribute names, or by a key function."""
        if len(keys) == 1 and callable(keys[0]):
            key = keys[0]
        else:
            def key(x):
                return tuple(getattr(x, k) for k in keys)
        return Collection(sorted(self, key=key, reverse=reverse))

    def groupby(self, *keys) -> Iterator[tuple[Any, Collection]]:
        """``(key, Collection)`` pairs, grouping by attribute names or a key function."""
        if len(keys) == 1 and callable(keys[0]):
            key = keys[0]
        else:
            def key(x):
                values = tuple(getattr(x, k) for k in keys)
                return values[0] if len(values) == 1 else values
        groups: dict = {}
        for item in self:
            groups.setdefault(key(item), Collection()).append(item)
        return iter(groups.items())


class _Each:
    def __init__(self, items):
        self._items = items

    def __getattr__(self, name):
        values = [getattr(x, name) for x in self._items]
        if values and all(callable(v) for v in values):
            return lambda *a, **k: Collection(v(*a, **k) for v in values)
        return Collection(values)
