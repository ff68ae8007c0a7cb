"""The Blob fields as the search sees them, and the limits checked when a blob is saved."""

from __future__ import annotations

import math
import re

from skyrun.catalog.enums import StorageState, StorageType
from skyrun.common.search import DATETIME, JSON, LIST, NUM, STR
from skyrun.exceptions import ValidationError

EXTRA = "extra_properties"


class Field:
    """How a Blob field is searched: its kind and the F (filterable) and S (sortable)
    flags of API section 12.1."""

    def __init__(self, kind: str, filterable: bool = False, sortable: bool = False):
        self.kind = kind
        self.filterable = filterable
        self.sortable = sortable


FIELDS: dict[str, Field] = {
    "id": Field(STR),
    "name": Field(STR, True, True),
    "namespace": Field(STR, True, True),
    "storage_type": Field(STR, True, True),
    "storage_state": Field(STR, True, True),
    "size_bytes": Field(NUM, True, True),
    "created": Field(DATETIME, True, True),
    "modified": Field(DATETIME, True, True),
    "expires": Field(DATETIME, True, True),
    "description": Field(STR),
    EXTRA: Field(JSON),
    "tags": Field(LIST, True),
    "owners": Field(LIST, True),
    "readers": Field(LIST, True),
    "writers": Field(LIST, True),
    "href": Field(STR),
    "hash": Field(STR),
}

# The keys of extra_properties are searchable as ``extra_properties.<key>`` [skyrun].
EXTRA_FIELD = Field(STR, True, True)


def field(name: str) -> Field | None:
    """The Field for a search name (``extra_properties.<key>`` included), or None."""
    if name.startswith(EXTRA + ".") and len(name) > len(EXTRA) + 1:
        return EXTRA_FIELD
    return FIELDS.get(name)


def unknown_names(names) -> list[str]:
    """The names that are not Blob fields, sorted."""
    return sorted(n for n in names if field(n) is None)


# -- limits -----------------------------------------------------------------------------
MAX_NAME_BYTES = 979  # namespace + name
MAX_DESCRIPTION = 80_000
MAX_EXTRA_PROPERTIES = 50
MAX_TAGS = 32
MAX_TAG_BYTES = 1000
_NAMESPACE = re.compile(r"[a-zA-Z0-9:._-]+")
_ACL = ("owners", "readers", "writers")


def _short(value, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def check(values: dict) -> None:
    """Raise one ``ValidationError`` listing every field of ``values`` (stored form) that
    breaks its limit."""
    errors: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    name, namespace = values.get("name"), values.get("namespace")
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        bad("namespace", f"{_short(namespace)} is not allowed; use the characters "
                         "a-zA-Z0-9:._- (at least one)")
    if not isinstance(name, str) or not name:
        bad("name", f"{_short(name)} is not allowed; a name is a non-empty str")
    else:
        if name.startswith("/") or name.endswith("/"):
            bad("name", f"{_short(name)} is not allowed; a name may not begin or end with '/'")
        if "," in name or not name.isprintable():
            bad("name", f"{_short(name)} is not allowed; use printable characters except "
                        "newline and comma")
        if isinstance(namespace, str):
            size = len(namespace.encode()) + len(name.encode())
            if size > MAX_NAME_BYTES:
                bad("name", f"namespace and name take {size} bytes; at most "
                            f"{MAX_NAME_BYTES} are allowed")
    _check_enum(values, "storage_type", StorageType, bad)
    _check_enum(values, "storage_state", StorageState, bad)
    description = values.get("description")
    if description is not None and (not isinstance(description, str)
                                    or len(description) > MAX_DESCRIPTION):
        shown = len(description) if isinstance(description, str) else type(description).__name__
        bad("description", f"{shown} is not allowed; a description is a str of at most "
                           f"{MAX_DESCRIPTION} characters")
    _check_extra(values.get(EXTRA), bad)
    tags = values.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            bad("tags", f"{_short(tags)} is not allowed; tags are a list of str")
        else:
            if len(tags) > MAX_TAGS:
                bad("tags", f"{len(tags)} tags are too many; at most {MAX_TAGS} are allowed")
            for tag in tags:
                if len(tag.encode()) > MAX_TAG_BYTES:
                    bad("tags", f"tag {_short(tag)} takes {len(tag.encode())} bytes; at most "
                                f"{MAX_TAG_BYTES} are allowed")
    for acl in _ACL:
        entries = values.get(acl)
        if entries is not None and (not isinstance(entries, list) or not all(
                isinstance(e, str) and e for e in entries)):
            bad(acl, f"{_short(entries)} is not allowed; use a list of entries such as "
                     "'user:<namespace>', 'org:<org>', 'email:<address>', 'group:<group>'")
    href = values.get("href")
    if href is not None and not isinstance(href, str):
        bad("href", f"{_short(href)} is not allowed; href is a str")
    if errors:
        raise ValidationError(errors=errors)


def _check_enum(values: dict, name: str, enum_type, bad) -> None:
    value = values.get(name)
    try:
        enum_type(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_type)
        bad(name, f"{_short(value)} is not allowed; use one of {allowed}")


def _check_extra(props, bad) -> None:
    if props is None:
        return
    if not isinstance(props, dict):
        bad(EXTRA, f"{_short(props)} is not allowed; extra_properties is a dict")
        return
    if len(props) > MAX_EXTRA_PROPERTIES:
        bad(EXTRA, f"{len(props)} pairs are too many; at most {MAX_EXTRA_PROPERTIES} are "
                   "allowed")
    for key, value in props.items():
        if not isinstance(key, str):
            bad(EXTRA, f"key {_short(key)} is not allowed; keys are str")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (isinstance(value, str) or (number and math.isfinite(value))):
            bad(EXTRA, f"value {_short(value)} of {_short(key)} is not allowed; values are "
                       "str or finite numbers")
