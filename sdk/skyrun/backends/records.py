"""The fields of the stored records, shared by every backend's adapters.

A record is a plain dict with exactly these keys (``None`` where unset); see the ports
module for the stored form of the values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from skyrun.common.jsontext import JSONText

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


class NewJobs(Sequence[dict[str, Any]]):
    """A batch of new job records, held as what its jobs share and what differs (their
    ids, args, kwargs and environments) instead of one dict per job: ``map()``'s batches.

    A sequence of records like any other (``insert_jobs`` takes either): a record is
    made, as a new dict, when it is read, with its args and kwargs as
    :class:`~skyrun.common.jsontext.JSONText`. An adapter may read the columns instead,
    and never make the records (the embedded store builds its rows from them): ``args``
    and ``kwargs`` hold each job's JSON text (or None), ``environments`` its variables
    (a dict, or None).
    """

    __slots__ = ("shared", "ids", "args", "kwargs", "environments")

    def __init__(self, shared: dict[str, Any], ids: list[str], args: list[Any],
                 kwargs: list[Any], environments: list[Any]):
        if not len(ids) == len(args) == len(kwargs) == len(environments):
            raise ValueError("a batch's columns must have one value per job")
        #: Every field of a record, with the values of the fields that differ unset; its
        #: key order is the records' key order.
        self.shared = shared
        self.ids, self.args, self.kwargs, self.environments = ids, args, kwargs, environments

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        record = self.shared.copy()
        record["id"] = self.ids[index]
        args, kwargs = self.args[index], self.kwargs[index]
        record["args"] = None if args is None else JSONText(args)
        record["kwargs"] = None if kwargs is None else JSONText(kwargs)
        record["environment"] = self.environments[index]
        return record

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self.ids)):
            yield self[i]

    def __repr__(self) -> str:
        return f"NewJobs({len(self)} jobs of reference {self.shared.get('reference_id')!r})"
