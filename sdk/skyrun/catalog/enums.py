"""The catalog's enums: storage types and states of blobs, and the states of a Blob object."""

from __future__ import annotations

import enum


class _StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return self.value


class StorageType(_StrEnum):
    """What a blob holds. ``StorageType("nodata")`` raises ``ValueError``."""

    COMPUTE = "compute"  # job results
    DATA = "data"  # user data, the default
    LOGS = "logs"  # job logs and build logs
    DYNCOMP = "dyncomp"  # accepted for compatibility, unused


class StorageState(_StrEnum):
    """Whether the data is stored (``AVAILABLE``) or the blob is a record of data kept
    elsewhere, at its ``href`` (``REMOTE``)."""

    AVAILABLE = "available"
    REMOTE = "remote"


class DocumentState(_StrEnum):
    """The state of a Blob object relative to the store (``unsaved`` where compute
    documents say ``new``)."""

    UNSAVED = "unsaved"
    SAVED = "saved"
    MODIFIED = "modified"
    DELETED = "deleted"
