"""``Job``: one call of a Function."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from skyrun.backends.ports import JOB
from skyrun.client import ComputeClient
from skyrun.common.document import Attribute, Document
from skyrun.common.search import (
    DATETIME,
    JSON,
    LIST,
    NUM,
    STR,
)
from skyrun.common.timeutil import from_epoch, now
from skyrun.compute.inputs import encode_inputs
from skyrun.compute.jobsearch import JobSearch
from skyrun.compute.operations import (
    cancel_record,
    check_accepts_jobs,
    delete_job_records,
    new_job_record,
)
from skyrun.compute.search import scope_namespace, warn_deprecated
from skyrun.compute.statistics import JobStatistics
from skyrun.compute.waiting import ENSURE_EVERY
from skyrun.domain import transitions
from skyrun.domain.statuses import ACTIVE, TERMINAL, FunctionStatus, JobStatus
from skyrun.engine import lifecycle
from skyrun.exceptions import ConflictError, NotFoundError


class Job(Document):
    """One call of a Function with JSON arguments."""

    id = Attribute(STR, filterable=True, sortable=True, readonly=True, doc="The job id")
    function_id = Attribute(STR, filterable=True, immutable=True, doc="The owning Function")
    creation_date = Attribute(DATETIME, filterable=True, sortable=True, readonly=True,
                              doc="Submission time")
    args = Attribute(JSON, doc="Positional arguments (JSON)")
    kwargs = Attribute(JSON, doc="Keyword arguments (JSON)")
    environment = Attribute(JSON, doc="Variables laid over the Function's environment")
    error_reason = Attribute(STR, filterable=True, readonly=True,
                             doc="Why the last attempt failed (filterable: an addition)")
    execution_count = Attribute(NUM, filterable=True, sortable=True, readonly=True,
                                doc="Attempts in the current run")
    exit_code = Attribute(NUM, filterable=True, sortable=True, readonly=True,
                          doc="Exit status of the last attempt")
    last_completion_date = Attribute(DATETIME, filterable=True, sortable=True, readonly=True,
                                     doc="Last end or cancel")
    last_execution_date = Attribute(DATETIME, filterable=True, sortable=True, readonly=True,
                                    doc="Start of the last attempt")
    runtime = Attribute(NUM, filterable=True, sortable=True, readonly=True,
                        doc="Seconds the last attempt ran (rounded)")
    status = Attribute(STR, filterable=True, sortable=True, readonly=True,
                       present=JobStatus, doc="The JobStatus")
    statistics = Attribute(JSON, readonly=True, present=JobStatistics,
                           doc="Measured usage of the last attempt")
    tags = Attribute(LIST, filterable=True, doc="Tags")
    provisioning_time = Attribute(NUM, readonly=True,
                                  doc="Seconds from dispatch to process start")
    pull_time = Attribute(NUM, readonly=True, doc="Seconds spent loading the user code")

    def __init__(self, function_id: str | None = None, args=None, kwargs=None,
                 client: ComputeClient | None = None, environment=None, **extra):
        super().__init__(**extra)
        self._client = ComputeClient.resolve(client)
        if function_id is not None:
            self.function_id = function_id
        if args is not None:
            self._set("args", list(args) if isinstance(args, tuple) else args)
        if kwargs is not None:
            self._set("kwargs", kwargs)
        if environment is not None:
            self._set("environment", environment)

    @classmethod
    def _from_search(cls, record: dict, client, includes=()) -> Job:
        return cls._from_record(record, _client=client)

    def __hash__(self) -> int:
        return hash(self._get("id"))

    def __eq__(self, other) -> bool:
        return isinstance(other, Job) and other._get("id") == self._get("id") and \
            self._get("id") is not None

    @property
    def _backend(self):
        return self._client.backend

    # -- saving -------------------------------------------------------------------------
    def save(self) -> None:
        """Store a new job (``pending``), or write the changes of a saved one."""
        self._check_deleted()
        if not self._saved:
            self._create()
            return
        changes = self._changed()
        if not changes:
            return
        inputs = {k: changes[k] for k in ("args", "kwargs", "environment") if k in changes}
        if inputs:
            current = self._backend.store.get_job(self.id)
            if current is None:
                raise NotFoundError(f"Job {self.id} not found")
            if current["status"] in ACTIVE:
                raise ConflictError(f"Job {self.id} is {current['status']}: its args, kwargs "
                                    "and environment cannot change while it is active")
            a, k, e = encode_inputs(0, self._get("args"), self._get("kwargs"),
                                    self._get("environment"))
            changes.update(args=a, kwargs=k, environment=e)
            record, change = lifecycle.transition(
                self._backend, current, lambda job: transitions.edit_inputs(job, changes))
            if record is not None and change is None:
                raise ConflictError(f"Job {self.id} became active while it was being changed")
        else:
            record = self._backend.store.update_job(self.id, changes)
        if record is None:
            raise NotFoundError(f"Job {self.id} not found")
        self._load(record)

    def _create(self) -> None:
        fid = self._get("function_id")
        if not fid:
            raise ValueError("Job needs a function_id")
        args, kwargs, env = encode_inputs(0, self._get("args"), self._get("kwargs"),
                                          self._get("environment"))
        function = self._backend.store.get_function(fid)
        if function is None:
            raise NotFoundError(f"Function {fid} not found")
        check_accepts_jobs(function)
        t = now()
        reference_id = uuid.uuid4().hex
        record = new_job_record(f"{reference_id}-0000", function, reference_id, t, args, kwargs,
                                env, list(self._get("tags") or []))
        stored = self._backend.store.insert_jobs(reference_id, [record])
        self._load(stored[0])
        lifecycle.ensure_workers(self._backend, function)

    # -- reading ------------------------------------------------------------------------
    def refresh(self, client: ComputeClient | None = None) -> None:
        """Reload the job; ``NotFoundError`` if it is gone."""
        self._check_deleted()
        if client is not None:
            self._client = ComputeClient.resolve(client)
        record = self._backend.store.get_job(self.id)
        if record is None:
            raise NotFoundError(f"Job {self.id} not found")
        self._load(record)

    @property
    def function(self):
        """The owning Function, read with this Job's client."""
        from skyrun.compute.function import Function

        return Function.get(self.function_id, client=self._client)

    def _namespace(self) -> str:
        ns = self._record.get("namespace")
        if ns is None:
            function = self._backend.store.get_function(self.function_id)
            ns = function["namespace"] if function else self._client.namespace
        return ns

    def _ensure_success(self) -> None:
        if self._get("status") != JobStatus.SUCCESS.value:
            self.refresh()
            status = self._get("status")
            if status != JobStatus.SUCCESS.value:
                if status in TERMINAL:
                    raise ValueError(f"Job {self.id} has not completed successfully, status "
                                     f"is {status}")
                raise ValueError(f"Job {self.id} has not completed, status is {status}. "
                                 "Please wait for the job to complete.")

    def result(self, cast_type=None, catalog_client=None):
        """The job's return value: ``cast_type.deserialize(data)`` if given, else JSON if
        it parses, else bytes; None when the job returned nothing."""
        self._ensure_success()
        blob_id = lifecycle.result_blob_id(self._namespace(), self.function_id, self.id)
        try:
            data = self._backend.blobs.get_data(blob_id)
        except NotFoundError:
            data = None
        return self._decode_result(data, cast_type)

    @staticmethod
    def _decode_result(data: bytes | None, cast_type=None):
        if cast_type is not None:
            deserialize = getattr(cast_type, "deserialize", None)
            if not callable(deserialize):
                raise ValueError(f"Type {cast_type} must implement Serializable.")
            return deserialize(data) if data else None
        return lifecycle.decode_result(data)

    def result_blob(self, catalog_client=None):
        """The result Blob, or None when the job stored no result."""
        self._ensure_success()
        from skyrun.catalog import Blob

        # By id: the Function's namespace is already whole, and a caller of another org
        # must not have its own org put in front of it.
        blob_id = lifecycle.result_blob_id(self._namespace(), self.function_id, self.id)
        return Blob.get(id=blob_id, client=catalog_client or self._client)

    def iter_log(self, timestamps: bool = True) -> Iterator[str]:
        """The log lines of every attempt, ``"<local datetime> <text>"`` or just text."""
        self._check_deleted()
        if not self._saved:
            raise ValueError("Cannot retrieve logs for a Job that has not been saved")
        for t, text in self._backend.logs.read(self._namespace(), self.function_id, self.id):
            yield f"{from_epoch(t)} {text}" if timestamps else text

    def log(self, timestamps: bool = True) -> str:
        """The log as one string (``""`` when empty)."""
        return "\n".join(self.iter_log(timestamps))

    def wait_for_completion(self, timeout: float | None = None, interval: float = 10) -> None:
        """Refresh until the job is terminal; ``TimeoutError`` past ``timeout`` seconds."""
        if not self._saved:
            raise ValueError("Cannot wait for a Job that has not been saved")
        deadline = None if timeout is None else time.monotonic() + timeout
        function = None
        ensured = 0.0
        while True:
            self.refresh()
            if self._get("status") in TERMINAL:
                return
            if time.monotonic() - ensured >= ENSURE_EVERY:
                function = self._ask_for_workers(function)
                ensured = time.monotonic()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"Job {self.id} did not complete before timeout!")
            time.sleep(interval if left is None else min(interval, left))

    def _ask_for_workers(self, function: dict | None) -> dict | None:
        # A waiting loop's ensure_workers: a ready Function is read once (ensure_workers
        # reads it again before it launches), and only the waiting statuses are counted.
        if function is None or function.get("status") != FunctionStatus.READY.value:
            function = self._backend.store.get_function(self.function_id)
        if function is not None and function.get("status") == FunctionStatus.READY.value:
            counts = self._backend.store.count_by_status(
                [self.function_id], (JobStatus.PENDING.value, *ACTIVE)).get(self.function_id, {})
            lifecycle.ensure_workers(self._backend, function, counts)
        return function

    # -- managing -----------------------------------------------------------------------
    def cancel(self) -> None:
        """Cancel: pending → ``canceled`` at once; active → ``cancel``, then the worker
        kills the attempt."""
        self._check_deleted()
        if not self._saved:
            raise ValueError("Cannot cancel a Job that has not been saved")
        record = cancel_record(self._backend, self._backend.store.get_job(self.id))
        if record is None:
            raise NotFoundError(f"Job {self.id} not found")
        self._load(record)

    def delete(self, delete_result: bool = False) -> None:
        """Delete the job and its log (and its result if asked); ``ConflictError`` while
        it is active."""
        self._check_deleted()
        if not self._saved:
            raise ValueError("Cannot delete a Job that has not been saved")
        record = self._backend.store.get_job(self.id)
        if record is None:
            raise NotFoundError(f"Job {self.id} not found")
        if record["status"] not in ACTIVE and \
                delete_job_records(self._backend, [record], delete_result):
            self._deleted = True
            return
        current = self._backend.store.get_job(self.id)
        if current is None:
            raise NotFoundError(f"Job {self.id} not found")
        raise ConflictError(f"Job {self.id} is {current['status']}; cancel it or wait for "
                            "it to end before deleting it")

    # -- class methods ------------------------------------------------------------------
    @classmethod
    def get(cls, id: str, client: ComputeClient | None = None, **params) -> Job:
        """A saved Job; ``NotFoundError`` for an unknown id."""
        client = ComputeClient.resolve(client)
        record = client.backend.store.get_job(id)
        if record is None:
            raise NotFoundError(f"Job {id} not found")
        return cls._from_record(record, _client=client)

    @classmethod
    def search(cls, client: ComputeClient | None = None) -> JobSearch:
        """Jobs of the caller's namespace."""
        client = ComputeClient.resolve(client)
        return JobSearch(cls, client, JOB, scope=scope_namespace(client.namespace))

    @classmethod
    def list(cls, page_size: int = 100, client: ComputeClient | None = None,
             **params) -> JobSearch:
        """Deprecated: ``search().param(**params)``."""
        for name in ("function_id", "status"):
            if name in params:
                warn_deprecated(name)
        return cls.search(client).param(page_size=page_size, **params)
