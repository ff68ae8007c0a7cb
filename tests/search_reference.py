"""A plain-Python reference of the search DSL (API.md section 5 and 12.3), for the
property tests that compare the stores with it.

Filters are small trees of tuples, independent of ``skyrun.common.search``:
``("cmp", name, op, value)``, ``("in", name, values)``, ``("prefix", name, text)``,
``("like", name, pattern, ignore_case)``, ``("null", name, negate)``, and
``("and" | "or", left, right)``. :func:`to_dsl` turns one into the expression the SDK
builds; :func:`matches` and :func:`sort` say what any store must answer:

* a null value matches only ``isnull``; on a list field, ``==`` means contains, ``!=``
  does not contain, ``in_`` contains any of, and ``prefix``/``like`` any element;
* values keep their type: ``1`` and ``"1"`` differ, and ranges, ``prefix`` and ``like``
  match only values of the compared value's type (text for the last two);
* ``like`` has the SQL wildcards ``%`` and ``_``; ``ilike`` ignores case;
* sorting puts nulls last ascending and first descending, numbers before text; records
  that no key separates keep the order they are given in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

OPS = ("==", "!=", "<", "<=", ">", ">=")


def to_dsl(tree, prop: Callable[[str], object], special: Callable | None = None):
    """The SDK expression of ``tree``; ``prop(name)`` gives the search property of a field,
    and ``special(tree)`` may build a leaf itself (or return None)."""
    kind = tree[0]
    if kind in ("and", "or"):
        left, right = to_dsl(tree[1], prop, special), to_dsl(tree[2], prop, special)
        return (left & right) if kind == "and" else (left | right)
    built = special(tree) if special else None
    if built is not None:
        return built
    p = prop(tree[1])
    if kind == "cmp":
        op, value = tree[2], tree[3]
        return {"==": p.__eq__, "!=": p.__ne__, "<": p.__lt__, "<=": p.__le__,
                ">": p.__gt__, ">=": p.__ge__}[op](value)
    if kind == "in":
        return p.in_(tree[2])
    if kind == "prefix":
        return p.startswith(tree[2])
    if kind == "like":
        return p.ilike(tree[2]) if tree[3] else p.like(tree[2])
    return p.isnotnull if tree[2] else p.isnull


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same_type(a, b) -> bool:
    return (_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str))


def holds(op: str, value, wanted) -> bool:
    """``value <op> wanted`` for one (non-list) value."""
    if value is None or wanted is None:
        return False
    if op == "==":
        return _same_type(value, wanted) and value == wanted
    if op == "!=":
        return not (_same_type(value, wanted) and value == wanted)
    if not _same_type(value, wanted):
        return False
    return {"<": value < wanted, "<=": value <= wanted, ">": value > wanted,
            ">=": value >= wanted}[op]


def _like_regex(pattern: str) -> str:
    return "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)


def _like(value, pattern: str, ignore_case: bool) -> bool:
    if not isinstance(value, str):
        return False
    if ignore_case:
        value, pattern = value.lower(), pattern.lower()
    return re.fullmatch(_like_regex(pattern), value, re.DOTALL) is not None


def matches(tree, record: dict, lists: Collection[str] = ()) -> bool:
    """Whether ``record`` (a dict of field values) matches ``tree``."""
    kind = tree[0]
    if kind == "and":
        return matches(tree[1], record, lists) and matches(tree[2], record, lists)
    if kind == "or":
        return matches(tree[1], record, lists) or matches(tree[2], record, lists)
    name = tree[1]
    value = record.get(name)
    if kind == "null":
        return (value is not None) if tree[2] else (value is None)
    is_list = name in lists
    if kind == "cmp":
        op, wanted = tree[2], tree[3]
        if is_list:
            if op == "==":
                return any(holds("==", v, wanted) for v in value or [])
            if op == "!=":
                return value is not None and not any(holds("==", v, wanted) for v in value)
            return any(holds(op, v, wanted) for v in value or [])
        return holds(op, value, wanted)
    if kind == "in":
        items = (value or []) if is_list else [value]
        return any(holds("==", v, w) for v in items for w in tree[2])
    items = (value or []) if is_list else [value]
    if kind == "prefix":
        return any(isinstance(v, str) and v.startswith(tree[2]) for v in items)
    return any(_like(v, tree[2], tree[3]) for v in items)


def _order(value):
    return (0, value) if _number(value) else (1, value)


def sort(records: list[dict], keys: list[tuple[str, bool]]) -> list[dict]:
    """``records`` sorted by ``(name, descending)`` keys, stably: records equal on every
    key keep their stored order, reversed when the last key descends."""
    out = list(records)
    if keys and keys[-1][1]:
        out.reverse()
    for name, descending in reversed(keys):
        present = [r for r in out if r.get(name) is not None]
        missing = [r for r in out if r.get(name) is None]
        # reverse=True keeps ties in their order too.
        present.sort(key=lambda r: _order(r[name]), reverse=descending)
        out = (missing + present) if descending else (present + missing)
    return out


def page(items: list, limit: int | None, offset: int) -> list:
    """``items[offset:offset + limit]`` (``limit`` None: to the end)."""
    return items[offset:] if limit is None else items[offset:offset + limit]
