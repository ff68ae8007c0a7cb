"""``ComputeResult`` and ``Serializable``: what a job returns, and how it is encoded.

Public as ``skyrun.compute.ComputeResult`` (and ``skyrun.compute.result``); it lives here,
below the compute API, so that the executor encodes a job's return value without
importing the compute package (0.15 s in a fresh executor, paid by its first job)."""

from __future__ import annotations

import json
from datetime import datetime

MAX_DESCRIPTION = 80_000
MAX_EXTRA_PROPERTIES = 50
MAX_TAGS = 32
MAX_TAG_BYTES = 1000


class Serializable:
    """Interface for results that encode themselves. Inheriting is optional: any object
    with a callable ``serialize`` is used the same way."""

    def serialize(self) -> bytes:
        """The bytes to store."""
        raise NotImplementedError

    @classmethod
    def deserialize(cls, data: bytes):
        """An object from stored bytes."""
        raise NotImplementedError


def serialize_value(value) -> bytes:
    """Encode a result value: bytes as is, ``serialize()`` if it has one, else JSON."""
    if isinstance(value, bytes):
        return value
    serializer = getattr(value, "serialize", None)
    if callable(serializer):
        data = serializer()
        if not isinstance(data, bytes):
            raise Exception(
                f"Serializer on {type(value)} must return bytes got {type(data)}")
        return data
    try:
        return json.dumps(value).encode()
    except (TypeError, ValueError):
        raise Exception("Unable to serialize result. Return value must be JSON encodable "
                        "or implement the Serializable interface")


class ComputeResult:
    """A job's return value with the metadata of its result blob."""

    def __init__(self, value=None, description: str | None = None,
                 expires: datetime | str | None = None, extra_properties: dict | None = None,
                 geometry=None, tags: list[str] | set[str] | None = None):
        self.value = value
        self.data = serialize_value(value)
        self.description = description
        self.expires = expires
        self.extra_properties = extra_properties
        self.geometry = geometry
        self.tags = sorted(tags) if isinstance(tags, (set, frozenset)) else tags

    @property
    def isnull(self) -> bool:
        """True when the value and every attribute are None."""
        return (self.value is None and self.description is None and self.expires is None
                and self.extra_properties is None and self.tags is None
                and self.geometry is None)

    def check_limits(self) -> None:
        """Raise ``ValueError`` when an attribute exceeds its limit."""
        if self.description is not None and (
                not isinstance(self.description, str) or len(self.description) > MAX_DESCRIPTION):
            raise ValueError(f"result description must be a str of at most {MAX_DESCRIPTION} "
                             "characters")
        if self.extra_properties is not None:
            props = self.extra_properties
            if not isinstance(props, dict) or len(props) > MAX_EXTRA_PROPERTIES or not all(
                    isinstance(k, str) and isinstance(v, (str, int, float))
                    and not isinstance(v, bool) for k, v in props.items()):
                raise ValueError(f"result extra_properties must be at most "
                                 f"{MAX_EXTRA_PROPERTIES} pairs of str keys and str or number "
                                 "values")
        if self.tags is not None:
            tags = list(self.tags)
            if len(tags) > MAX_TAGS or not all(
                    isinstance(t, str) and len(t.encode()) <= MAX_TAG_BYTES for t in tags):
                raise ValueError(f"result tags must be at most {MAX_TAGS} str of at most "
                                 f"{MAX_TAG_BYTES} bytes")

    def __repr__(self) -> str:
        return f"ComputeResult(value={self.value!r})"
