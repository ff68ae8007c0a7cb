"""Documents: attribute containers that track their own state.

A document keeps its stored record (``_record``, in stored form: datetimes as UTC epoch
seconds, enums as strings) and the changes made since (``_changes``). Attributes are
descriptors; on the class they double as search properties, so ``Job.status == "running"``
builds a filter.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Any, ClassVar

from skyrun.common.jsontext import JSONText
from skyrun.common.search import DATETIME, JSON, LIST, STR, Property
from skyrun.common.timeutil import from_epoch, iso_utc, to_epoch


class DocumentState(str, enum.Enum):
    """The state of a document relative to the store."""

    NEW = "new"
    SAVED = "saved"
    MODIFIED = "modified"
    DELETED = "deleted"

    def __str__(self) -> str:
        return self.value


class Attribute(Property):
    """A document attribute; at class level, a search property.

    ``coerce`` turns an assigned value into the stored form and ``present`` turns the
    stored form into what the user reads.
    """

    def __init__(self, kind: str = STR, *, filterable: bool = False, sortable: bool = False,
                 readonly: bool = False, immutable: bool = False, default: Any = None,
                 coerce: Callable[[Any], Any] | None = None,
                 present: Callable[[Any], Any] | None = None, doc: str = ""):
        super().__init__("", kind, filterable, sortable)
        self.readonly = readonly
        self.immutable = immutable
        self.default = default
        self.coerce = coerce
        self.present = present
        self.__doc__ = doc

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def _normal(self, value):
        # A filter value is read like an assigned one (``Function.memory == "16GB"``).
        if self.coerce is not None and value is not None and not isinstance(value, enum.Enum):
            try:
                return self.coerce(value)
            except (ValueError, TypeError):
                pass
        return super()._normal(value)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        obj._check_deleted()
        value = obj._get(self.name, self.default)
        if self.kind == LIST:
            if not isinstance(value, _TrackedList):
                value = _TrackedList(value or [])
                obj._changes[self.name] = value  # compared with the record, so not a change yet
            return value
        if value is None:
            return None
        if type(value) is JSONText:
            value = json.loads(value)
            obj._record[self.name] = value  # decode once
        if self.kind == DATETIME:
            return from_epoch(value)
        if self.present is not None:
            return self.present(value)
        return value

    def __set__(self, obj, value) -> None:
        obj._check_deleted()
        if self.readonly:
            raise ValueError(f"Unable to set readonly attribute '{self.name}'")
        if self.immutable and obj._saved and obj._get(self.name, None) is not None:
            raise ValueError(f"Unable to set immutable attribute '{self.name}'")
        obj._set(self.name, self.store(value))

    def store(self, value):
        """The stored form of an assigned value."""
        if value is None:
            return None
        if self.kind == DATETIME:
            return to_epoch(value)
        if self.coerce is not None:
            return self.coerce(value)
        if isinstance(value, enum.Enum):
            return value.value
        if self.kind == LIST:
            return _TrackedList(value)
        return value


class _TrackedList(list):
    """A list whose in-place changes are seen as changes of its document (it is compared
    with the stored value)."""


class Document:
    """Base of Function and Job."""

    _attributes: ClassVar[dict[str, Attribute]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        attrs: dict[str, Attribute] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Attribute):
                    attrs[name] = value
        cls._attributes = attrs

    def __init__(self, **values):
        self._record: dict = {}
        self._changes: dict = {}
        self._saved = False
        self._deleted = False
        for key, value in values.items():
            attr = self._attributes.get(key)
            if attr is None:
                raise KeyError(f"{type(self).__name__} has no attribute {key!r}")
            if value is None:
                continue
            if attr.readonly:
                raise ValueError(f"Unable to set readonly attribute '{key}'")
            setattr(self, key, value)

    @classmethod
    def _from_record(cls, record: dict, **extra):
        """A saved document around a stored record (unknown keys are kept but unused)."""
        obj = cls.__new__(cls)
        obj.__dict__.update(_record=record, _changes={}, _saved=True, _deleted=False, **extra)
        return obj

    # Public names still usable on a deleted document.
    _AFTER_DELETE: ClassVar[frozenset[str]] = frozenset({"state"})

    def __getattribute__(self, name: str):
        # After deletion every public attribute but ``state`` is gone.
        if name[0] != "_" and object.__getattribute__(self, "__dict__").get("_deleted") \
                and name not in type(self)._AFTER_DELETE:
            raise AttributeError(f"{type(self).__name__} has been deleted")
        return object.__getattribute__(self, name)

    # -- state --------------------------------------------------------------------------
    def _check_deleted(self) -> None:
        if self._deleted:
            raise AttributeError(f"{type(self).__name__} has been deleted")

    def _get(self, name: str, default=None):
        if name in self._changes:
            return self._changes[name]
        return self._record.get(name, default)

    def _set(self, name: str, value) -> None:
        self._changes[name] = value

    def _changed(self) -> dict:
        """Attributes whose value differs from the stored record."""
        return {k: v for k, v in self._changes.items() if v != self._record.get(k)}

    @property
    def is_modified(self) -> bool:
        """Whether any attribute differs from what was loaded."""
        return bool(self._changed())

    @property
    def state(self) -> DocumentState:
        """``deleted``, ``new``, ``modified`` or ``saved``."""
        if self._deleted:
            return DocumentState.DELETED
        if not self._saved:
            return DocumentState.NEW
        return DocumentState.MODIFIED if self.is_modified else DocumentState.SAVED

    def _load(self, record: dict) -> None:
        self._record = record
        self._changes = {}
        self._saved = True

    # -- conversion ---------------------------------------------------------------------
    def to_dict(self, only_modified: bool = False, exclude_readonly: bool = False,
                exclude_none: bool = False) -> dict:
        """JSON-encodable data: datetimes as ISO-8601 UTC, nested documents as dicts."""
        self._check_deleted()
        changed = self._changed() if only_modified else None
        out = {}
        for name, attr in self._attributes.items():
            if changed is not None and name not in changed:
                continue
            if exclude_readonly and attr.readonly:
                continue
            value = self._get(name, attr.default)
            if value is None and exclude_none:
                continue
            out[name] = _jsonable(value, attr)
        return out

    def update(self, ignore_missing: bool = False, **kwargs) -> None:
        """Set several attributes; unknown names raise ``KeyError`` unless ignored."""
        for key, value in kwargs.items():
            if key not in self._attributes:
                if ignore_missing:
                    continue
                raise KeyError(f"{type(self).__name__} has no attribute {key!r}")
            setattr(self, key, value)

    def __repr__(self) -> str:
        if self._deleted:
            return f"{type(self).__name__}(<deleted>)"
        parts = []
        for name, attr in self._attributes.items():
            value = self._get(name, attr.default)
            if value is not None:
                parts.append(f"{name}={getattr(self, name)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _jsonable(value, attr: Attribute):
    if value is None:
        return None
    if type(value) is JSONText:
        return json.loads(value)
    if attr.kind == DATETIME:
        return iso_utc(value)
    if attr.kind == LIST:
        return list(value)
    if attr.kind == JSON:
        return json.loads(json.dumps(value))
    if isinstance(value, enum.Enum):
        return value.value
    return value
