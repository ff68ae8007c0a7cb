"""``Function``: a Python entrypoint with its bundle and run settings."""

from __future__ import annotations

import sys
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator

from skyrun.backends.ports import FUNCTION, JOB
from skyrun.common.document import Attribute, Document
from skyrun.common.search import BOOL, DATETIME, JSON, NUM, STR
from skyrun.common.timeutil import now
from skyrun.compute import bundle as packaging
from skyrun.compute import lifecycle
from skyrun.compute.bulk import JobBulkCreateError, JobBulkCreateResult
from skyrun.compute.client import ComputeClient
from skyrun.compute.inputs import as_args, as_mapping, encode_inputs
from skyrun.compute.job import (
    Job,
    JobSearch,
    check_accepts_jobs,
    new_job_record,
)
from skyrun.compute.progress import make_bar
from skyrun.compute.resources import (
    DEFAULT_CPUS,
    DEFAULT_MAXIMUM_CONCURRENCY,
    DEFAULT_MEMORY,
    DEFAULT_RETRY_COUNT,
    DEFAULT_TIMEOUT,
    Cpus,
    Memory,
    default_image,
    parse_image,
    validate_settings,
)
from skyrun.compute.search import Search, scope_namespace
from skyrun.compute.statuses import ACTIVE, TERMINAL, FunctionStatus, JobStatus
from skyrun.exceptions import ConflictError, NotFoundError, ValidationError

_SETTINGS = ("name", "cpus", "memory", "maximum_concurrency", "timeout", "retry_count",
             "enabled", "auto_start", "environment")
_WAITING = (JobStatus.PENDING.value, *ACTIVE)


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
    modified_date = Attribute(DATETIME, filterable=True, sortable=True, readonly=True,
                              doc="Last change or job submission")
    job_statistics = Attribute(JSON, readonly=True,
                               doc="Job count per status (with include=['job.statistics'])")

    def __init__(self, function=None, requirements=None, include_data=None,
                 include_modules=None, name: str | None = None, image: str | None = None,
                 cpus=None, memory=None, maximum_concurrency: int | None = None,
                 timeout: int | None = None, retry_count: int | None = None,
                 client: ComputeClient | None = None, **extra):
        super().__init__(name=name, image=image, cpus=cpus, memory=memory,
                         maximum_concurrency=maximum_concurrency, timeout=timeout,
                         retry_count=retry_count, **extra)
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
        packaging.check_entrypoint(self._function)
        values = {
            "name": self._get("name") or packaging.default_name(self._function),
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
        python = self._check_image(values["image"], errors)
        requirements: list[str] = []
        try:
            requirements = packaging.parse_requirements(self._requirements)
        except ValidationError as exc:
            for field, msgs in exc.errors.items():
                errors.setdefault(field, []).extend(msgs)
        backend = self._backend
        builder_errors = backend.builder.check(values["image"], requirements) \
            if hasattr(backend.builder, "check") else {}
        for field, msgs in builder_errors.items():
            errors.setdefault(field, []).extend(msgs)
        if errors:
            raise ValidationError(errors=errors)
        files = packaging.build_bundle(self._function, requirements, self._include_modules,
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
            progress: bool | None = None, iterargs: Iterable | None = None
            ) -> JobBulkCreateResult:
        """Submit one job per item of ``args``; see the reference for the item rules."""
        self._require_saved("Cannot execute")
        if iterargs is not None:
            warnings.warn("The `iterargs` parameter is deprecated; use `kwargs` instead.",
                          DeprecationWarning, stacklevel=2)
            if kwargs is None:
                kwargs = iterargs
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
                or not 1 <= batch_size <= 1000:
            raise ValueError("Batch size must between 1 and 1000")
        all_args = [as_args(item) for item in args]
        n = len(all_args)
        all_kwargs = self._per_job(kwargs, n, "kwargs")
        all_envs = self._per_job(environments, n, "environments")
        tag_list = list(tags) if tags else []
        encoded = [encode_inputs(i, all_args[i], all_kwargs[i] if all_kwargs else None,
                                 all_envs[i] if all_envs else None) for i in range(n)]
        function = self._backend.store.get_function(self.id)
        if function is None:
            raise NotFoundError(f"Function {self.id} not found")
        check_accepts_jobs(function)
        result = JobBulkCreateResult()
        bar = make_bar(progress, n, f"Submitting jobs to {self.name}")
        started_workers = False
        try:
            for start in range(0, n, batch_size):
                batch = encoded[start:start + batch_size]
                reference_id = uuid.uuid4().hex
                t = now()
                records = [new_job_record(f"{reference_id}-{i}", function, reference_id, t,
                                          a, k, e, tag_list)
                           for i, (a, k, e) in enumerate(batch)]
                try:
                    stored = self._backend.store.insert_jobs(reference_id, records)
                except NotFoundError:
                    raise
                except Exception as exc:
                    if start == 0:
                        raise
                    end = start + len(batch)
                    result.append_error(JobBulkCreateError(
                        self, all_args[start:end],
                        all_kwargs[start:end] if all_kwargs else None,
                        all_envs[start:end] if all_envs else None, exc, reference_id))
                    continue
                result.extend(Job._from_record(r, _client=self._client) for r in stored)
                if bar is not None:
                    bar.update(len(stored))
                if not started_workers:
                    # Start workers after the first batch so they run while we insert.
                    lifecycle.ensure_workers(self._backend, function)
                    started_workers = True
        finally:
            if bar is not None:
                bar.close()
        self._backend.store.update_function(self.id, {"modified_date": now()})
        lifecycle.ensure_workers(self._backend, function)
        return result

    @staticmethod
    def _per_job(values, n: int, what: str) -> list | None:
        if values is None:
            return None
        items = [as_mapping(v, what, i) for i, v in enumerate(values)]
        if len(items) != n:
            raise ValueError(f"The number of {what} must match the number of args. Got {n} "
                             f"args and {len(items)} {what}.")
        return items

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
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        try:
            while True:
                self.refresh(includes=["job.statistics"])
                self._check_build()
                counts = self._record["job_statistics"]
                waiting = sum(counts[s] for s in _WAITING)
                status = self._get("status")
                if bar is None:
                    bar = make_bar(progress, 1 + sum(counts.values()),
                                   f"Waiting for {self.name}", unit="step")
                if bar is not None:
                    _update_bar(bar, counts, status)
                if status in (FunctionStatus.READY.value, FunctionStatus.STOPPED.value) \
                        and waiting == 0:
                    return
                lifecycle.ensure_workers(self._backend, self._record)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"Function {self.name} did not complete before timeout!")
                time.sleep(interval if left is None else min(interval, left))
        finally:
            if bar is not None:
                bar.close()

    def as_completed(self, jobs: Iterable[Job], timeout: float | None = None,
                     interval: float = 10, progress: bool | None = None) -> Iterator[Job]:
        """Yield each Job once, refreshed, as it reaches a terminal status."""
        self._require_saved("Cannot retrieve jobs for")
        jobs = list(jobs)
        for job in jobs:
            if job.function_id != self.id:
                raise ValueError(f"Job {job.id} is not associated with Function {self.id}")
        return self._as_completed(jobs, timeout, interval, progress)

    def _as_completed(self, jobs, timeout, interval, progress) -> Iterator[Job]:
        deadline = None if timeout is None else time.monotonic() + timeout
        waiting = {job.id: job for job in jobs}
        bar = make_bar(progress, len(waiting), f"Jobs of {self.name}")
        delay = interval
        try:
            while waiting:
                self.refresh()
                self._check_build()
                hits = 0
                for record in self._backend.store.get_jobs(list(waiting)):
                    if record["status"] in TERMINAL:
                        job = waiting.pop(record["id"])
                        job._load(record)
                        hits += 1
                        if bar is not None:
                            bar.update(1)
                        yield job
                if not waiting:
                    return
                delay = interval if hits else min(delay * 2, max(interval, 60))
                lifecycle.ensure_workers(self._backend, self._record)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"Function {self.name} did not complete before timeout!")
                time.sleep(delay if left is None else min(delay, left))
        finally:
            if bar is not None:
                bar.close()

    def iter_results(self, cast_type=None) -> Iterator:
        """``job.result(cast_type)`` of every ``success`` job."""
        self._require_saved("Cannot retrieve results for")  # at the call, not the first next()
        jobs = self.jobs.filter(Job.status == JobStatus.SUCCESS)
        return (job.result(cast_type) for job in jobs)

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


def bundle_key(function_id: str) -> str:
    """Where a Function's bundle is stored."""
    return f"bundles/{function_id}.zip"


def build_log_text(backend, function: dict) -> str:
    """The gunzipped build log, or the live output of a build in progress."""
    import gzip

    blob_id = lifecycle.build_log_blob_id(function["namespace"], function["id"])
    try:
        return gzip.decompress(backend.blobs.get_data(blob_id)).decode()
    except NotFoundError:
        live = getattr(backend.builder, "live_log", None)
        return live(function) if live else ""


def delete_function(backend, function_id: str, delete_results: bool) -> None:
    """Stop dispatch, then delete jobs, logs, build log, bundle, environment and record."""
    from skyrun.compute.job import delete_job_records

    record = backend.store.get_function(function_id)
    if record is None:
        raise NotFoundError(f"Function {function_id} not found")
    if backend.store.active_jobs(function_id):
        raise ConflictError(f"Function {function_id} has active jobs; cancel them or wait for "
                            "them to end before deleting it")
    if record["status"] == FunctionStatus.READY.value:
        backend.store.update_function(function_id, {"status": FunctionStatus.STOPPED.value})
        if backend.store.active_jobs(function_id):  # a claim raced the stop
            backend.store.update_function(function_id, {"status": record["status"]})
            raise ConflictError(f"Function {function_id} has active jobs; cancel them or wait "
                                "for them to end before deleting it")
    backend.launcher.kill_workers(function_id)
    store = backend.store
    from skyrun.common.search import Compare

    # A page at a time: the deleted jobs drop out of the next query.
    where = Compare("function_id", "==", function_id, STR)
    while True:
        page = store.query(JOB, where, [], 1000, 0)
        if not page:
            break
        if not delete_job_records(backend, page, delete_results):
            raise ConflictError(f"Function {function_id} has active jobs; cancel them or "
                                "wait for them to end before deleting it")
    backend.blobs.delete([lifecycle.build_log_blob_id(record["namespace"], function_id)])
    backend.blobs.delete_object(bundle_key(function_id))
    backend.builder.remove(record)
    store.delete_function(function_id)


def _update_bar(bar, counts: dict, status: str) -> None:
    """The wait bar counts the build as its first step, then the terminal jobs."""
    built = status not in (FunctionStatus.AWAITING_BUNDLE.value, FunctionStatus.BUILDING.value)
    bar.total = 1 + sum(counts.values())
    bar.n = int(built) + sum(counts[s] for s in TERMINAL)
    bar.set_postfix_str(f"{status} " + " ".join(f"{k}={v}" for k, v in counts.items() if v),
                        refresh=False)
    bar.refresh()
