"""The descriptors behind Blob's attributes and its dual ``delete``."""

from __future__ import annotations

import types

from skyrun.catalog.fields import FIELDS
from skyrun.common.document import Attribute
from skyrun.common.search import LIST


def field_attribute(name: str, doc: str, **flags) -> Attribute:
    """The attribute of a Blob field, with its search flags."""
    spec = FIELDS[name]
    kind = ListAttribute if spec.kind == LIST else Attribute
    return kind(spec.kind, filterable=spec.filterable, sortable=spec.sortable, doc=doc,
                **flags)


def lenient_enum(enum_type):
    """Present a stored value as ``enum_type``, or as it is if it is not a member."""
    def present(value):
        try:
            return enum_type(value)
        except ValueError:
            return value  # an invalid assignment is reported by save()
    return present


class DictAttribute(Attribute):
    """A dict attribute whose in-place changes count as changes: reading it puts a copy
    in the document's changes, which is compared with the stored value."""

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        obj._check_deleted()
        if self.name not in obj._changes:
            value = obj._record.get(self.name)
            obj._changes[self.name] = dict(value) if isinstance(value, dict) else value
        return obj._changes[self.name]

    def store(self, value):
        return dict(value) if isinstance(value, dict) else value


class ListAttribute(Attribute):
    """A list attribute (tracked in place, as in compute documents) that keeps a value of
    another type as it is, so that ``save()`` reports it instead of a str turning into a
    list of characters. A set is stored sorted."""

    def __get__(self, obj, owner=None):
        if obj is not None and not isinstance(obj._get(self.name), (list, type(None))):
            obj._check_deleted()
            return obj._get(self.name)
        return super().__get__(obj, owner)

    def store(self, value):
        if isinstance(value, (set, frozenset)):
            value = sorted(value)
        if isinstance(value, (list, tuple)):
            return super().store(list(value))
        return value


class ClassOrInstanceMethod:
    """Calls one function on the class (``Blob.delete(id)``) and another on an instance
    (``blob.delete()``), as the original client's ``delete`` does."""

    def __init__(self, on_class, on_instance):
        self.on_class = on_class
        self.on_instance = on_instance
        self.__doc__ = on_instance.__doc__

    def __get__(self, obj, owner=None):
        if obj is None:
            return types.MethodType(self.on_class, owner)
        return types.MethodType(self.on_instance, obj)
