"""Compiling search expressions to SQL ``WHERE`` and ``ORDER BY`` clauses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skyrun.backends.records import NEVER_NULL

if TYPE_CHECKING:
    from skyrun.common.search import Expression, Like, SortKey

_RANGE = ("<", "<=", ">", ">=")
#: The SQL function that lowers text as Python's ``str.lower`` does: SQLite's own
#: ``lower()`` knows only ASCII, so ``ilike("É%")`` would miss ``"éa"``. Every connection
#: registers it (see ``database.py``).
LOWER = "skyrun_lower"
_OPS = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def in_list(values: tuple[str, ...]) -> str:
    """``('a','b')``: fixed words (statuses, never user input) as an SQL ``IN`` list."""
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def lower(value: Any) -> Any:
    """``LOWER`` in Python: text lowered, anything else as it is."""
    return value.lower() if isinstance(value, str) else value


def where(expr: Expression | None, columns: set[str]) -> tuple[str, list[Any]]:
    """``(sql, params)`` for ``expr``; ``"1"`` when there is no filter.

    ``columns`` names what may be filtered on. An entry ``"<col>.*"`` marks ``col`` as a
    JSON object whose keys are addressed as ``"<col>.<key>"`` (blob extra properties).
    """
    if expr is None:
        return "1", []
    params: list[Any] = []
    sql = _compile(expr, columns, params)
    return sql, params


def _column(name: str, columns: set[str]) -> str:
    if name in columns:
        return f'"{name}"'
    base, dot, key = name.partition(".")
    if dot and f"{base}.*" in columns:
        return json_key(base, key)
    raise ValueError(f"Cannot filter on property: {name}")


def json_key(column: str, key: str) -> str:
    """SQL for the value under ``key`` of the JSON object in ``column``.

    The key is quoted as a JSON path label, so dots and brackets in it are plain
    characters; SQLite's path syntax has no escape for ``"``, so such keys are refused.
    """
    if not key or '"' in key or "\x00" in key:
        raise ValueError(f"Cannot filter on property: {column}.{key} (a key used in a filter "
                         "must be non-empty, without double quotes or NUL)")
    literal = ('$."' + key + '"').replace("'", "''")
    return f"json_extract(\"{column}\", '{literal}')"


def _compile(expr: Expression, columns: set[str], params: list[Any]) -> str:
    # Here, not with the module: the search language is not loaded by a worker, which
    # never searches (its start pays for every module it loads).
    from skyrun.common.search import LIST, And, Compare, In, IsNull, Like, Or, Prefix

    if isinstance(expr, (And, Or)):
        left = _compile(expr.left, columns, params)
        right = _compile(expr.right, columns, params)
        return f"({left} {'AND' if isinstance(expr, And) else 'OR'} {right})"
    col = _column(expr.name, columns)  # type: ignore[attr-defined]
    if isinstance(expr, IsNull):
        return f"{col} IS {'NOT ' if expr.negate else ''}NULL"
    kind = expr.kind  # type: ignore[attr-defined]
    if kind == LIST:
        # A list column holds JSON; match against its elements.
        each = f"SELECT 1 FROM json_each({col}) AS e WHERE "
        if isinstance(expr, Compare):
            if expr.op == "!=":
                params.append(expr.value)
                return f"({col} IS NOT NULL AND NOT EXISTS ({each}e.value = ?))"
            params.append(expr.value)
            return f"EXISTS ({each}e.value {_OPS[expr.op]} ?)"
        if isinstance(expr, In):
            params.extend(expr.values)
            marks = ",".join("?" * len(expr.values))
            return f"EXISTS ({each}e.value IN ({marks}))"
        if isinstance(expr, Prefix):
            params.append(expr.prefix)
            return f"EXISTS ({each}{_text('e.value')}substr(e.value, 1, {len(expr.prefix)}) = ?)"
        if isinstance(expr, Like):
            return _like("e.value", expr, params, each)
    if isinstance(expr, Compare):
        params.append(_value(expr.value))
        test = f"{col} {_OPS[expr.op]} ?"
        if expr.op in _RANGE and col.startswith("json_extract("):
            # A JSON value has its own type; SQLite ranks every number below every string,
            # so a range matches only values of the compared value's type.
            numeric = isinstance(expr.value, (int, float))
            same = "IN ('integer', 'real')" if numeric else "= 'text'"
            test = f"({test} AND typeof({col}) {same})"
        return test
    if isinstance(expr, In):
        params.extend(_value(v) for v in expr.values)
        return f"{col} IN ({','.join('?' * len(expr.values))})"
    if isinstance(expr, Prefix):
        # substr comparison is exact and case-sensitive, unlike LIKE.
        params.append(expr.prefix)
        return f"({_text(col)}substr({col}, 1, {len(expr.prefix)}) = ?)"
    if isinstance(expr, Like):
        return _like(col, expr, params, None)
    raise TypeError(f"Unknown expression {expr!r}")


def _like(col: str, expr: Like, params: list[Any], each: str | None) -> str:
    params.append(expr.pattern)
    if expr.ignore_case:
        test = f"{LOWER}({col}) LIKE {LOWER}(?)"
    else:
        # SQLite's LIKE ignores ASCII case; GLOB does not, so translate the pattern.
        params[-1] = _like_to_glob(expr.pattern)
        test = f"{col} GLOB ?"
    test = f"{_text(col)}{test}"
    return f"EXISTS ({each}{test})" if each else f"({test})"


def _text(col: str) -> str:
    """The guard that keeps ``prefix`` and ``like`` to text: SQLite would match the
    number 12 (an extra property, say) as the text "12", which no other store does."""
    return f"typeof({col}) = 'text' AND "


def _like_to_glob(pattern: str) -> str:
    out = []
    for c in pattern:
        if c == "%":
            out.append("*")
        elif c == "_":
            out.append("?")
        elif c in "*?[":
            out.append(f"[{c}]")
        else:
            out.append(c)
    return "".join(out)


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


def order_by(keys: list[SortKey], columns: set[str], tiebreak: str) -> str:
    """``ORDER BY`` with nulls last ascending and first descending; rows equal on every
    key in ``tiebreak`` order (the row order), reversed when the last key descends.

    Both choices let SQLite walk an index instead of sorting: a column that is never null
    (NEVER_NULL) gets no ``NULLS`` clause, which SQLite's indexes (nulls first) cannot
    serve descending; and a tie-break in the last key's direction is the index's own
    order walked backwards (``-creation_date`` over the ``(namespace, creation_date)``
    index reads one page of a 100,000-job Function, not all of it)."""
    parts = []
    for key in keys:
        col = _column(key.name, columns)
        if key.name in NEVER_NULL:
            parts.append(f"{col} DESC" if key.descending else f"{col} ASC")
        else:
            parts.append(f"{col} DESC NULLS FIRST" if key.descending
                         else f"{col} ASC NULLS LAST")
    parts.append(f"{tiebreak} DESC" if keys and keys[-1].descending else tiebreak)
    return "ORDER BY " + ", ".join(parts)
