"""``Function``: a Python entrypoint with its bundle and run settings."""

from __future__ import annotations

import logging
import sys
import uuid
import warnings
from collections.abc import Iterable, Iterator

from skyrun.backends.ports import FUNCTION, chunks
from skyrun.client import ComputeClient
from skyrun.common.document import Attribute, Document
from skyrun.common.search import BOOL, DATETIME, JSON, NUM, STR
from skyrun.common.timeutil import now
from skyrun.compute import bundle, submission, waiting
from skyrun.compute.bulk import JobBulkCreateResult
from skyrun.compute.job import (
    Job,
    JobSearch,
)
from skyrun.compute.operations import build_log_text, delete_function
from skyrun.compute.search import Search, scope_namespace
from skyrun.compute.settings import parse_image, validate_settings
from skyrun.domain import targets
from skyrun.domain.keys import bundle_key
from skyrun.domain.limits import (
    DEFAULT_CPUS,
    DEFAULT_MAXIMUM_CONCURRENCY,
    DEFAULT_MEMORY,
    DEFAULT_RETRY_COUNT,
    DEFAULT_TIMEOUT,
    Cpus,
    Memory,
    default_image,
)
from skyrun.domain.statuses import FunctionStatus, JobStatus
from skyrun.engine import lifecycle
from skyrun.exceptions import ConflictError, NotFoundError, ValidationError

_SETTINGS = ("name", "cpus", "memory", "maximum_concurrency", "timeout", "retry_count",
             "enabled", "auto_start", "environment", "compute_target")
#: The settings the AWS compute target depends on.
_TARGET_SETTINGS = ("compute_target", "timeout", "cpus", "memory")

logger = logging.getLogger(__name__)


def _assign(parse, field):
    def coerce(value):
        try:
            return float(parse(value)) if parse is Cpus else int(parse(value))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"Unable to assign {field}: {exc}")
    return coerce


class Function(Document):
    """A Python entrypoint, its code bundle and its run settings."""

    id = Attribute(STR, filterable=True, sortable=True, readonly=True, doc="The Function id")
    creation_date = Attribute(DATETIME, filterable=True, sortable=True, readonly=True,
                              doc="When it was first saved")
    name = Attribute(STR, filterable=True, sortable=True, doc="The name")
    image = Attribute(STR, filterable=True, immutable=True, doc="python<major>.<minor>:latest")
    cpus = Attribute(NUM, filterable=True, sortable=True, coerce=_assign(Cpus, "cpus"),
                     present=Cpus, doc="vCPUs per job")
    memory = Attribute(NUM, filterable=True, sortable=True, coerce=_assign(Memory, "memory"),
                       present=Memory, doc="Memory per job in MB")
    maximum_concurrency = Attribute(NUM, filterable=True, sortable=True,
                                    doc="The most active jobs at once")
    namespace = Attribute(STR, filterable=True, readonly=True, doc="The owning namespace")
    owner = Attribute(STR, filterable=True, readonly=True, doc="The creator")
    status = Attribute(STR, filterable=True, sortable=True, readonly=True,
                       present=FunctionStatus, doc="The FunctionStatus")
    timeout = Attribute(NUM, filterable=True, sortable=True, doc="Seconds an attempt may run")
    retry_count = Attribute(NUM, filterable=True, sortable=True,
                            doc="Retries after a failed attempt")
    enabled = Attribute(BOOL, filterable=True, sortable=True,
                        doc="Whether submissions and reruns are accepted")
    auto_start = Attribute(BOOL, filterable=True, sortable=True,
                           doc="Whether a successful build ends ready (else stopped)")
    environment = Attribute(JSON, doc="Variables for every job")
    compute_target = Attribute(STR, filterable=True, sortable=True,
                               doc="Where jobs run on AWS: 'auto' (Lambda when the Function "
                                   "fits, else Batch), 'lambda' or 'batch'; ignored by the "
                                   "embedded backend")
    modified_date = Attribute(DATETIME, filterable=True, sortable=True, readonly=True,
                              doc="Last change or job submission")
    job_statistics = Attribute(JSON, readonly=True,
                               doc="Job count per status (with include=['job.statistics'])")

    def __init__(self, function=None, requirements=None, include_data=None,
                 include_modules=None, name: str | None = None, image: str | None = None,
                 cpus=None, memory=None, maximum_concurrency: int | None = None,
                 timeout: int | None = None, retry_count: int | None = None,
                 compute_target: str | None = None,
                 client: ComputeClient | None = None, **extra):
        super().__init__(name=name, image=image, cpus=cpus, memory=memory,
                         maximum_concurrency=maximum_concurrency, timeout=timeout,
                         retry_count=retry_count, compute_target=compute_target, **extra)
        self._client = ComputeClient.resolve(client)
        self._function = function
        self._requirements = requirements
        self._include_data = include_data
        self._include_modules = include_modules
        self._includes: set[str] = set()

    @classmethod
    def _from_search(cls, record: dict, client, includes=()) -> Function:
        obj = cls._from_record(record, _client=client, _function=None, _requirements=None,
                               _include_data=None, _include_modules=None, _includes=set())
        if "job.statistics" in includes:
            obj._load_statistics()
        return obj

    @property
    def _backend(self):
        return self._client.backend

    def _require_saved(self, text: str) -> None:
        self._check_deleted()
        if not self._saved:
            raise ValueError(f"{text} a Function that has not been saved")

    # -- saving -------------------------------------------------------------------------
    def save(self) -> None:
        """Create the Function (validate, bundle, store, build) or write its changes."""
        self._check_deleted()
        if not self._saved:
            self._create()
        elif self.is_modified:
            self._update()

    def _create(self) -> None:
        bundle.check_entrypoint(self._function)
        values = {
            "name": self._get("name") or bundle.default_name(self._function),
            "image": self._get("image") or default_image(),
            "cpus": self._get("cpus", DEFAULT_CPUS),
            "memory": self._get("memory", DEFAULT_MEMORY),
            "maximum_concurrency": self._get("maximum_concurrency",
                                             DEFAULT_MAXIMUM_CONCURRENCY),
            "timeout": self._get("timeout", DEFAULT_TIMEOUT),
            "retry_count": self._get("retry_count", DEFAULT_RETRY_COUNT),
            "enabled": self._get("enabled", True),
            "auto_start": self._get("auto_start", True),
            "environment": self._get("environment") or {},
            "compute_target": self._get("compute_target") or targets.DEFAULT_TARGET,
        }
        for key in ("cpus", "memory", "maximum_concurrency", "timeout", "retry_count",
                    "enabled", "auto_start"):
            if values[key] is None:
                values[key] = {"cpus": DEFAULT_CPUS, "memory": DEFAULT_MEMORY,
                               "maximum_concurrency": DEFAULT_MAXIMUM_CONCURRENCY,
                               "timeout": DEFAULT_TIMEOUT, "retry_count": DEFAULT_RETRY_COUNT,
                               "enabled": True, "auto_start": True}[key]
        errors: dict[str, list[str]] = {}
        validate_settings(values, errors)
        targets.check_target(values, errors)
        python = self._check_image(values["image"], errors)
        requirements: list[str] = []
        try:
            requirements = bundle.parse_requirements(self._requirements)
        except ValidationError as exc:
            for field, msgs in exc.errors.items():
                errors.setdefault(field, []).extend(msgs)
        backend = self._backend
        builder_errors = backend.builder.check(values["image"], requirements)
        for field, msgs in builder_errors.items():
            errors.setdefault(field, []).extend(msgs)
        if errors:
            raise ValidationError(errors=errors)
        files = bundle.build_bundle(self._function, requirements, self._include_modules,
                                       self._include_data)
        t = now()
        fid = uuid.uuid4().hex
        record = dict(values, id=fid, namespace=self._client.namespace,
                      owner=self._client.auth.namespace,
                      status=FunctionStatus.AWAITING_BUNDLE.value, creation_date=t,
                      modified_date=t, python=python, requirements=requirements,
                      entrypoint=files.entrypoint.get("kind"))
        stored_record = False
        try:
            backend.store.create_function(record)
            stored_record = True
            backend.blobs.put_object(bundle_key(fid), files.zip())
            record = backend.store.update_function(
                fid, {"status": FunctionStatus.BUILDING.value}) or record
            self._load(record)
            if backend.name == "aws":
                # Said where users look: an untouched timeout (3,600 s) means Batch.
                logger.log(logging.WARNING if targets.only_timeout_misfits(record)
                           else logging.INFO, targets.save_message(record))
            backend.builder.start(record, requirements)
        except BaseException:
            # Leave nothing half-made behind (best effort), and stay new.
            if stored_record:
                try:
                    backend.blobs.delete_object(bundle_key(fid))
                    backend.store.delete_function(fid)
                except Exception:
                    pass
            self._record, self._saved = {}, False
            self._changes.update(values)
            raise
        self.refresh()

    def _check_image(self, image, errors: dict[str, list[str]]) -> str | None:
        try:
            major, minor = parse_image(image)
        except ValidationError as exc:
            for field, msgs in exc.errors.items():
                errors.setdefault(field, []).extend(msgs)
            return None
        running = (sys.version_info.major, sys.version_info.minor)
        if not isinstance(self._function, str) and (major, minor) != running:
            errors.setdefault("image", []).append(
                f"{image} runs Python {major}.{minor} but this interpreter is Python "
                f"{running[0]}.{running[1]}; a callable entrypoint needs the same Python minor "
                f"version (use image=\"python{running[0]}.{running[1]}:latest\" or a "
                f"dotted-name entrypoint)")
        return f"{major}.{minor}"

    def _update(self) -> None:
        changes = self._changed()
        stored = self._backend.store.get_function(self.id)
        if stored is None:
            raise NotFoundError(f"Function {self.id} not found")
        unknown = set(changes) - set(_SETTINGS)
        if unknown:
            raise ValidationError(errors={k: ["cannot be changed after save()"] for k in unknown})
        errors: dict[str, list[str]] = {}
        check = dict(changes)
        if "cpus" in changes or "memory" in changes:
            check.setdefault("cpus", stored["cpus"])
            check.setdefault("memory", stored["memory"])
        validate_settings(check, errors)
        if not errors and any(k in changes for k in _TARGET_SETTINGS):
            # A change of size or timeout must not leave a 'lambda' Function that no
            # longer fits, nor a target be set that the settings do not allow.
            merged = {k: check.get(k, stored.get(k)) for k in _TARGET_SETTINGS}
            merged["compute_target"] = merged["compute_target"] or targets.DEFAULT_TARGET
            targets.check_target(merged, errors)
        if errors:
            raise ValidationError(errors=errors)
        record = self._backend.store.update_function(self.id, dict(changes, modified_date=now()))
        if record is None:
            raise NotFoundError(f"Function {self.id} not found")
        self._load(record)
        lifecycle.ensure_workers(self._backend, record)

    # -- submitting ---------------------------------------------------------------------
    def __call__(self, *args, tags: list[str] | None = None,
                 environment: dict[str, str] | None = None, **kwargs) -> Job:
        """Save the Function if new, then submit one job and return it."""
        self.save()
        job = Job(function_id=self.id, args=list(args), kwargs=kwargs, environment=environment,
                  tags=tags, client=self._client)
        job.save()
        return job

    def map(self, args: Iterable, kwargs: Iterable | None = None, tags: list[str] | None = None,
            batch_size: int = 1000, environments: Iterable | None = None,
            progress: bool | None = None, iterargs: Iterable | None = None,
            reference_id: str | None = None) -> JobBulkCreateResult:
        """Submit one job per item of ``args``; see the reference for the item rules.

        ``reference_id`` names the submission: batch ``i`` is stored under
        ``{reference_id}-{i:05d}``, so the same ``map()`` sent again (same inputs and
        ``batch_size``, e.g. after the submitting process was killed) stores only the
        batches that are missing and creates no duplicate."""
        self._require_saved("Cannot execute")
        if iterargs is not None:
            warnings.warn("The `iterargs` parameter is deprecated; use `kwargs` instead.",
                          DeprecationWarning, stacklevel=2)
            if kwargs is None:
                kwargs = iterargs
        return submission.submit_map(self, args, kwargs, tags, batch_size, environments,
                                     progress, reference_id)

    # -- reading ------------------------------------------------------------------------
    def refresh(self, includes: str | list[str] | None = None) -> None:
        """Reload; ``includes="job.statistics"`` also loads ``job_statistics``."""
        self._require_saved("Cannot refresh")
        record = self._backend.store.get_function(self.id)
        if record is None:
            raise NotFoundError(f"Function {self.id} not found")
        if isinstance(includes, str):
            includes = [includes]
        self._includes.update(includes or [])
        self._load(record)
        if "job.statistics" in self._includes:
            self._load_statistics()

    def _load_statistics(self) -> None:
        counts = self._backend.store.count_by_status([self._record["id"]])[self._record["id"]]
        self._record["job_statistics"] = {s.value: counts.get(s.value, 0) for s in JobStatus}
        self._includes.add("job.statistics")

    def usage(self):
        """What the finished jobs used: a :class:`skyrun.compute.usage.Usage` with their
        runtime, CPU time and peak memory, and on AWS vCPU-seconds, GB-seconds and an
        estimated cost. (An addition to the Compute API.)"""
        from skyrun.compute.usage import function_usage

        self._require_saved("Cannot get the usage of")
        return function_usage(self)

    def build_log(self) -> str:
        """The build log (the output so far during a build)."""
        self._require_saved("Cannot retrieve logs for")
        return build_log_text(self._backend, self._record)

    # -- changing -----------------------------------------------------------------------
    def enable(self) -> None:
        """Accept job submissions and reruns again."""
        self._check_deleted()
        self.enabled = True
        if self._saved:
            self.save()

    def disable(self) -> None:
        """Refuse job submissions and reruns; pending jobs still run."""
        self._check_deleted()
        self.enabled = False
        if self._saved:
            self.save()

    def start(self) -> None:
        """``stopped`` → ``ready``: dispatch pending jobs."""
        self._set_running_status(FunctionStatus.READY)

    def stop(self) -> None:
        """``ready`` → ``stopped``: halt dispatch; active jobs continue."""
        self._set_running_status(FunctionStatus.STOPPED)

    def _set_running_status(self, status: FunctionStatus) -> None:
        self._require_saved("Cannot start")
        allowed = [FunctionStatus.READY.value, FunctionStatus.STOPPED.value]
        record = self._backend.store.update_function(
            self.id, {"status": status.value, "modified_date": now()}, expect={"status": allowed})
        if record is None:
            current = self._backend.store.get_function(self.id)
            if current is None:
                raise NotFoundError(f"Function {self.id} not found")
            raise ConflictError(f"Function {self.id} is {current['status']}; start() and stop() "
                                "work only when it is ready or stopped")
        self._load(record)
        lifecycle.ensure_workers(self._backend, record)

    def delete(self, delete_results: bool = False) -> None:
        """Delete the Function, its jobs, logs, build log and bundle (and results if
        asked); ``ConflictError`` while a job is active."""
        self._check_deleted()
        if not self._saved:
            raise ValueError("Cannot delete a Function that has not been saved")
        delete_function(self._backend, self.id, delete_results)
        self._deleted = True

    # -- jobs ---------------------------------------------------------------------------
    @property
    def jobs(self) -> JobSearch:
        """``Job.search().filter(Job.function_id == self.id)``."""
        self._require_saved("Cannot search for jobs for")
        return Job.search(self._client).filter(Job.function_id == self.id)

    def _job_query(self, query, job_ids) -> JobSearch:
        search = self.jobs if query is None else query.filter(Job.function_id == self.id)
        if job_ids is not None:
            search = search.filter(Job.id.in_(list(job_ids)))
        return search

    def cancel_jobs(self, query: JobSearch | None = None, job_ids=None) -> list[Job]:
        """Cancel this Function's matching jobs."""
        self._require_saved("Cannot cancel jobs for")
        return self._job_query(query, job_ids).cancel()

    def rerun(self, query: JobSearch | None = None, job_ids=None) -> list[Job]:
        """Requeue this Function's failed, timed-out and canceled matching jobs."""
        self._require_saved("Cannot execute")
        return self._job_query(query, job_ids).rerun()

    def delete_jobs(self, query: JobSearch | None = None, job_ids=None,
                    delete_results: bool = False) -> list[str]:
        """Delete this Function's non-active matching jobs."""
        self._require_saved("Cannot delete jobs for")
        return self._job_query(query, job_ids).delete(delete_results)

    # -- waiting ------------------------------------------------------------------------
    def _check_build(self) -> None:
        if self._get("status") == FunctionStatus.BUILD_FAILED.value:
            raise RuntimeError(f"Function {self.name} failed to build. Check the build log for "
                               "more details.")

    def wait_for_completion(self, timeout: float | None = None, interval: float = 10,
                            progress: bool | None = None) -> None:
        """Wait until the build is done and no job is pending or active."""
        self._require_saved("Cannot wait for")
        waiting.wait_for_function(self, timeout, interval, progress)

    def as_completed(self, jobs: Iterable[Job], timeout: float | None = None,
                     interval: float = 10, progress: bool | None = None) -> Iterator[Job]:
        """Yield each Job once, refreshed, as it reaches a terminal status."""
        self._require_saved("Cannot retrieve jobs for")
        jobs = list(jobs)
        for job in jobs:
            if job.function_id != self.id:
                raise ValueError(f"Job {job.id} is not associated with Function {self.id}")
        return waiting.as_completed(self, jobs, timeout, interval, progress)

    def iter_results(self, cast_type=None) -> Iterator:
        """``job.result(cast_type)`` of every ``success`` job."""
        self._require_saved("Cannot retrieve results for")  # at the call, not the first next()
        jobs = self.jobs.filter(Job.status == JobStatus.SUCCESS)
        return self._results(jobs, cast_type)

    def _results(self, jobs: JobSearch, cast_type) -> Iterator:
        # Only the jobs' ids and namespaces are read (not whole records, nor Job objects);
        # the result blobs' records 100 at a time (one BatchGetItem on AWS), then each
        # result's data alone.
        blobs = self._client.backend.blobs
        ns, fid = self._get("namespace"), self.id
        for part in chunks(jobs._field_records(("id", "namespace")), 100):
            ids = [lifecycle.result_blob_id(job["namespace"] or ns, fid, job["id"])
                   for job in part]
            records = blobs.get_records(ids)
            for blob_id in ids:
                record = records.get(blob_id)
                data = None
                if record is not None:
                    try:
                        data = blobs.get_data(blob_id, record=record)
                    except NotFoundError:
                        pass
                yield Job._decode_result(data, cast_type)

    def results(self, cast_type=None) -> list:
        """The results of every ``success`` job, as a list."""
        self._require_saved("Cannot retrieve results for")
        return list(self.iter_results(cast_type))

    # -- class methods ------------------------------------------------------------------
    @classmethod
    def get(cls, id: str, client: ComputeClient | None = None, **params) -> Function:
        """A saved Function; ``NotFoundError`` for an unknown id."""
        client = ComputeClient.resolve(client)
        record = client.backend.store.get_function(id)
        if record is None:
            raise NotFoundError(f"Function {id} not found")
        return cls._from_search(record, client, tuple(params.get("include") or ()))

    @classmethod
    def search(cls, client: ComputeClient | None = None) -> Search[Function]:
        """Functions of the caller's namespace."""
        client = ComputeClient.resolve(client)
        return Search(cls, client, FUNCTION, scope=scope_namespace(client.namespace))

    @classmethod
    def list(cls, page_size: int = 100, client: ComputeClient | None = None,
             **params) -> Search[Function]:
        """Deprecated: ``search().param(**params)``."""
        return cls.search(client).param(page_size=page_size, **params)

    @classmethod
    def update_credentials(cls, client: ComputeClient | None = None) -> None:
        """A no-op kept for porting."""
