"""The DynamoDB items a request writes, for counting writes per key.

DynamoDB serves about 1,000 write units a second per partition key, so what bounds a
design's throughput is the busiest single key, not the total. Given a request's operation
and JSON body, :func:`written_keys` names every item it writes as
``"{table} {key attributes}"``: one per ``PutItem``, ``UpdateItem`` and ``DeleteItem``,
one per item of ``BatchWriteItem``, and one per action of ``TransactWriteItems``,
``ConditionCheck`` included (DynamoDB bills a transaction's condition check as a write
of the item it checks, 2 write units like the others).
"""

from __future__ import annotations

import json
from typing import Any

#: The key attributes of skyrun's tables (see ``resources``), tried in this order on an
#: item whose key must be picked out of its attributes (a ``Put``).
KEY_NAMES = (("pk", "sk"), ("id",), ("reference_id",))
SINGLE = {"PutItem": "Item", "UpdateItem": "Key", "DeleteItem": "Key"}


def written_keys(operation: str, body: bytes | str | None) -> list[str]:
    """The items a DynamoDB request of ``operation`` writes (empty for reads)."""
    if operation not in SINGLE and operation not in ("TransactWriteItems", "BatchWriteItem"):
        return []
    try:
        request = json.loads(body or b"{}")
    except (TypeError, ValueError):
        return []
    if operation in SINGLE:
        return [_name(request.get("TableName"), request.get(SINGLE[operation]) or {})]
    out = []
    if operation == "TransactWriteItems":
        for action in request.get("TransactItems", []):
            for kind, detail in action.items():
                out.append(_name(detail.get("TableName"),
                                 detail.get("Item" if kind == "Put" else "Key") or {}))
        return out
    for table, writes in (request.get("RequestItems") or {}).items():
        for write in writes:
            detail = write.get("PutRequest", {}).get("Item") or \
                write.get("DeleteRequest", {}).get("Key") or {}
            out.append(_name(table, detail))
    return out


def _name(table: str | None, item: dict[str, Any]) -> str:
    for names in KEY_NAMES:
        if all(n in item for n in names):
            return f"{table} " + " ".join(f"{n}={_value(item[n])}" for n in names)
    return f"{table} ?"


def _value(attribute: dict[str, Any]) -> str:
    return str(next(iter(attribute.values()), "")) if isinstance(attribute, dict) else "?"


def kind_of(key: str) -> str:
    """A key's kind, for reports: the table and the first part of its partition key
    (``leases pk=function#…``, ``jobs id``), so that keys of one role group together."""
    table, _, rest = key.partition(" ")
    name, _, value = rest.partition("=")
    if name == "pk":
        value, _, sk = value.partition(" sk=")
        return f"{table} pk={value.split('#', 1)[0]}#… sk={sk.split('#', 1)[0]}"
    return f"{table} {name}"
