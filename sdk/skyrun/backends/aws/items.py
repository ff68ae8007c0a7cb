"""Records ↔ DynamoDB items, and the expressions that read and change them.

Stored form on DynamoDB:

* numbers are DynamoDB numbers (floats through their shortest ``repr``, so they read
  back as the same float); instants are epoch seconds, as in every record;
* JSON fields (job inputs, environments, statistics, tags, requirements, blob
  properties and access lists) are JSON *strings*, so nested numbers never pass through
  ``Decimal`` and the text ``map()`` encoded once is stored as is (:class:`JSONText`);
* ``None`` is never stored: the attribute is absent (``REMOVE`` on update), which is what
  sparse indexes and ``attribute_not_exists`` conditions need;
* attributes the adapters derive for the indexes (``status_order``,
  ``environment_hash``, ``namespace_storage_type``, ``expires_at``) and the optimistic
  lock ``revision`` are stripped when reading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from skyrun.backends.records import FLOAT_FIELDS
from skyrun.common.jsontext import JSONText

#: Attributes that are not record fields.
INTERNAL = frozenset({"status_order", "environment_hash", "namespace_storage_type",
                      "expires_at", "revision", "slots_taken", "runnable_epoch",
                      "runnable_at", "idle_epoch"})


@dataclass(frozen=True)
class Schema:
    """The fields of one record kind and which of them hold JSON."""

    fields: tuple[str, ...]
    json_fields: frozenset[str]
    lists: frozenset[str] = frozenset()


def number(value: int | float | Decimal) -> dict[str, Any]:
    """A DynamoDB number."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"DynamoDB cannot store the number {value!r}")
        return {"N": repr(value)}
    return {"N": str(value)}


def encode_value(key: str, value: Any, json_fields: Iterable[str] = ()) -> dict[str, Any]:
    """The DynamoDB attribute value of one field (never None)."""
    if type(value) is JSONText:
        return {"S": str(value)}
    if key in json_fields:
        return {"S": json.dumps(value)}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return number(value)
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (list, tuple, dict)):
        return {"S": json.dumps(value)}
    raise TypeError(f"cannot store {key}={value!r} ({type(value).__name__})")


def encode_item(record: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """The item of a record: every non-None field (lists of ``schema.lists`` default to
    empty)."""
    item = {}
    for key, value in record.items():
        if value is None and key in schema.lists:
            value = []
        if value is not None:
            item[key] = encode_value(key, value, schema.json_fields)
    return item


def decode_number(key: str, text: str) -> int | float:
    """A number read back: float for instants and cpus, else int when whole."""
    if key in FLOAT_FIELDS:
        return float(text)
    value = Decimal(text)
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def decode_value(key: str, attr: dict[str, Any], json_fields: Iterable[str] = ()) -> Any:
    """The record value of one attribute."""
    (kind, raw), = attr.items()
    if kind == "S":
        return json.loads(raw) if key in json_fields else raw
    if kind == "N":
        return decode_number(key, raw)
    if kind == "BOOL":
        return raw
    if kind == "NULL":
        return None
    raise TypeError(f"unexpected DynamoDB type {kind} for {key}")


def decode_optional(item: dict[str, Any] | None, schema: Schema) -> dict[str, Any] | None:
    """:func:`decode_item` of an item that may be missing (None: None)."""
    return None if item is None else decode_item(item, schema)


def decode_item(item: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """The record of an item: every field of the schema, None where absent."""
    record: dict[str, Any] = dict.fromkeys(schema.fields)
    for key, attr in item.items():
        if key in INTERNAL:
            continue
        record[key] = decode_value(key, attr, schema.json_fields)
    return record


def key(**parts: str) -> dict[str, Any]:
    """A DynamoDB key of string attributes."""
    return {name: {"S": value} for name, value in parts.items()}


class Expr:
    """Placeholders of one request's expressions (``#n0``, ``:v0``)."""

    def __init__(self, json_fields: Iterable[str] = ()):
        self.names: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self.json_fields = frozenset(json_fields)

    def name(self, attribute: str) -> str:
        """The placeholder of an attribute name."""
        for placeholder, value in self.names.items():
            if value == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any, attribute: str = "") -> str:
        """The placeholder of a value (encoded as the field ``attribute`` is)."""
        return self.attr(encode_value(attribute, value, self.json_fields))

    def attr(self, attribute_value: dict[str, Any]) -> str:
        """The placeholder of an already encoded DynamoDB attribute value."""
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = attribute_value
        return placeholder

    def expect(self, expect: dict[str, Any] | None) -> list[str]:
        """Condition clauses for ``expect`` (field → value, list of values, or None)."""
        clauses = []
        for field, wanted in (expect or {}).items():
            n = self.name(field)
            if isinstance(wanted, (list, tuple, set, frozenset)):
                values = list(wanted)
                parts = []
                concrete = [v for v in values if v is not None]
                if concrete:
                    marks = ", ".join(self.value(v, field) for v in concrete)
                    parts.append(f"{n} IN ({marks})")
                if len(concrete) < len(values):
                    parts.append(f"attribute_not_exists({n})")
                clauses.append("(" + " OR ".join(parts) + ")" if parts else "(1 = 0)")
            elif wanted is None:
                clauses.append(f"attribute_not_exists({n})")
            else:
                clauses.append(f"{n} = {self.value(wanted, field)}")
        return clauses

    def update(self, changes: dict[str, Any], add: dict[str, Any] | None = None) -> str:
        """An update expression: SET the non-None changes, REMOVE the None ones, ADD the
        numbers of ``add``."""
        sets, removes = [], []
        for field, value in changes.items():
            if value is None:
                removes.append(self.name(field))
            else:
                sets.append(f"{self.name(field)} = {self.value(value, field)}")
        parts = []
        if sets:
            parts.append("SET " + ", ".join(sets))
        if removes:
            parts.append("REMOVE " + ", ".join(removes))
        if add:
            parts.append("ADD " + ", ".join(f"{self.name(f)} {self.attr(number(v))}"
                                            for f, v in add.items()))
        return " ".join(parts)

    def params(self, condition: list[str] | str | None = None, update: str | None = None
               ) -> dict[str, Any]:
        """Request parameters: the expressions and their placeholders."""
        out: dict[str, Any] = {}
        if update:
            out["UpdateExpression"] = update
        if condition:
            out["ConditionExpression"] = (condition if isinstance(condition, str)
                                          else " AND ".join(condition))
        if self.names:
            out["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out


def matches_expect(record: dict[str, Any], expect: dict[str, Any] | None) -> bool:
    """Whether a record satisfies ``expect`` (as the conditions above would)."""
    for field, wanted in (expect or {}).items():
        value = record.get(field)
        if isinstance(wanted, (list, tuple, set, frozenset)):
            if value not in list(wanted):
                return False
        elif value != wanted or (wanted is None) != (value is None):
            return False
    return True


def _schemas() -> tuple[Schema, Schema, Schema]:
    from skyrun.backends.records import (
        BLOB_COLUMNS,
        BLOB_JSON,
        BLOB_LISTS,
        FUNCTION_COLUMNS,
        FUNCTION_JSON,
        JOB_COLUMNS,
        JOB_JSON,
    )

    return (Schema(tuple(FUNCTION_COLUMNS), FUNCTION_JSON),
            Schema(tuple(JOB_COLUMNS), JOB_JSON),
            Schema(tuple(BLOB_COLUMNS), BLOB_JSON, BLOB_LISTS))


FUNCTION_SCHEMA, JOB_SCHEMA, BLOB_SCHEMA = _schemas()
