"""The fields of the stored records, shared by every backend's adapters.

A record is a plain dict with exactly these keys (``None`` where unset); see the ports
module for the stored form of the values.
"""

from __future__ import annotations

FUNCTION_COLUMNS = [
    "id", "namespace", "owner", "name", "image", "cpus", "memory", "maximum_concurrency",
    "timeout", "retry_count", "enabled", "auto_start", "environment", "status",
    "creation_date", "modified_date", "env_hash", "python", "requirements", "entrypoint",
    "compute_target",
]
JOB_COLUMNS = [
    "id", "function_id", "namespace", "reference_id", "status", "args", "kwargs",
    "environment", "tags", "creation_date", "execution_count", "exit_code", "error_reason",
    "last_execution_date", "last_completion_date", "runtime", "statistics",
    "provisioning_time", "pull_time", "queued_date", "worker_id", "lease_expires",
    "failures", "losses",
]
BLOB_COLUMNS = [
    "id", "namespace", "name", "storage_type", "storage_state", "size_bytes", "created",
    "modified", "expires", "description", "extra_properties", "tags", "owners", "readers",
    "writers", "href", "hash",
]

#: Fields that every stored record has a value for from its creation on: sorting on
#: them needs no rule for missing values (the SQLite store then sorts from an index).
NEVER_NULL = frozenset({"id", "namespace", "function_id", "creation_date"})

#: Fields holding JSON values (objects or lists) rather than scalars.
FUNCTION_JSON = frozenset({"environment", "requirements"})
JOB_JSON = frozenset({"args", "kwargs", "environment", "tags", "statistics"})
BLOB_JSON = frozenset({"extra_properties", "tags", "owners", "readers", "writers"})
#: Blob list fields: a missing list is stored as an empty one, so that list filters
#: (``tags != "x"``) treat every blob alike.
BLOB_LISTS = frozenset({"tags", "owners", "readers", "writers"})

#: Numeric fields that are floats even when their value is whole (instants, cpus).
FLOAT_FIELDS = frozenset({
    "cpus", "creation_date", "modified_date", "last_execution_date", "last_completion_date",
    "queued_date", "lease_expires", "created", "modified", "expires",
})

