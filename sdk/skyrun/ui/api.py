"""The JSON API of the web monitor: every endpoint is one or two SDK calls on the caller's
client, so the monitor works on any backend.

Each endpoint takes the path's parameters, ``query`` and ``body`` and returns a
``Reply`` (``Api.routes`` lists them; ``skyrun.ui.server`` routes requests to them, and
``skyrun.ui.events`` streams their changes). SDK errors become JSON error replies:
``ValidationError`` 422 (with ``errors``, the per-field messages), ``NotFoundError``
404, ``ConflictError`` 409, ``ForbiddenError`` 403, other client errors and
``ValueError`` 400, anything else 500; the body always carries the message.

Endpoints (``{fid}`` a Function id, ``{jid}`` a Job id):

- ``GET /api/info`` — backend and namespace
- ``GET /api/functions`` — the caller's Functions with job counts, newest first
- ``GET /api/functions/{fid}`` — one Function · ``PATCH`` it to change settings
- ``POST /api/functions/{fid}/start|stop|enable|disable`` · ``DELETE /api/functions/{fid}``
- ``GET /api/functions/{fid}/build-log``
- ``GET /api/functions/{fid}/jobs`` — a page of the job table (filters, sort, paging)
- ``GET /api/functions/{fid}/summary`` — the charts' aggregates, usage and cost
- ``GET /api/functions/{fid}/timeline`` — every started job's bar, in columns
  (``ids=1`` adds the job ids; ``offset`` and ``limit`` select bars by start)
- ``POST /api/functions/{fid}/jobs/cancel|rerun|delete`` — selected (``job_ids``) or all
  matching (``all`` with ``filters``) jobs
- ``GET /api/jobs/{jid}`` · ``POST /api/jobs/{jid}/cancel|rerun`` · ``DELETE /api/jobs/{jid}``
- ``GET /api/jobs/{jid}/log?offset=N`` — log lines from line N on
- ``GET /api/jobs/{jid}/result`` — a preview · ``GET /api/jobs/{jid}/result/download``
- ``GET /api/functions/{fid}/events`` · ``GET /api/jobs/{jid}/log/events?offset=N`` —
  server-sent event streams of the Function's and the log's changes (``skyrun.ui.events``)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from skyrun.common.timeutil import now
from skyrun.exceptions import (
    ClientError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)
from skyrun.ui import charts, views


@dataclass
class Reply:
    """An HTTP answer: a JSON payload, or raw bytes with their content type."""

    status: int
    payload: object = None
    body: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(exc: BaseException) -> Reply:
    """The JSON error reply for an exception raised by an endpoint."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, ValidationError):
        return Reply(422, {"error": message, "type": "ValidationError", "errors": exc.errors})
    for kind, status in ((NotFoundError, 404), (ConflictError, 409), (ForbiddenError, 403),
                         (ClientError, 400), (ValueError, 400)):
        if isinstance(exc, kind):
            return Reply(status, {"error": message, "type": type(exc).__name__})
    return Reply(500, {"error": f"{type(exc).__name__}: {message}", "type": type(exc).__name__})


def _flag(query: dict, name: str) -> bool:
    return (query.get(name) or [""])[-1].lower() in ("1", "true", "yes", "on")


class Api:
    """The endpoints, bound to one ``ComputeClient``."""

    def __init__(self, client):
        self.client = client
        # (method, path, endpoint): the server routes them (Starlette's path syntax).
        fn, job = "/api/functions/{function_id}", "/api/jobs/{job_id}"
        self.routes = [
            ("GET", "/api/info", self.info),
            ("GET", "/api/functions", self.list_functions),
            ("GET", fn, self.get_function),
            ("PATCH", fn, self.update_function),
            ("DELETE", fn, self.delete_function),
            *[("POST", f"{fn}/{action}", _bind(self.function_action, action))
              for action in ("start", "stop", "enable", "disable")],
            ("GET", f"{fn}/build-log", self.build_log),
            ("GET", f"{fn}/jobs", self.list_jobs),
            ("GET", f"{fn}/summary", self.summary),
            ("GET", f"{fn}/timeline", self.timeline),
            *[("POST", f"{fn}/jobs/{action}", _bind(self.bulk, action))
              for action in ("cancel", "rerun", "delete")],
            ("GET", job, self.get_job),
            ("DELETE", job, self.delete_job),
            *[("POST", f"{job}/{action}", _bind(self.job_action, action))
              for action in ("cancel", "rerun")],
            ("GET", f"{job}/log", self.job_log),
            ("GET", f"{job}/result", self.job_result),
            ("GET", f"{job}/result/download", self.download_result),
        ]

    def paths(self) -> list[tuple[str, dict]]:
        """The routes grouped by path: ``(path, {method: endpoint})``, in order."""
        grouped: dict[str, dict] = {}
        for method, path, endpoint in self.routes:
            grouped.setdefault(path, {})[method] = endpoint
        return list(grouped.items())

    @staticmethod
    def call(endpoint, *params, query: dict, body) -> Reply:
        """Run an endpoint; every failure becomes an error reply, never a dropped
        request."""
        try:
            return endpoint(*params, query=query, body=body)
        except Exception as exc:
            return error_reply(exc)

    # -- lookups, limited to the caller's namespace ---------------------------------------
    def _function(self, function_id: str, statistics: bool = True):
        from skyrun.compute import Function

        fn = Function.get(function_id, client=self.client,
                          **({"include": ["job.statistics"]} if statistics else {}))
        if fn.namespace != self.client.namespace:
            raise NotFoundError(f"Function {function_id} not found")
        return fn

    def _job(self, job_id: str):
        from skyrun.compute import Job

        # Job.search covers the caller's namespace only.
        found = list(Job.search(client=self.client).filter(Job.id == job_id).limit(1))
        if not found:
            raise NotFoundError(f"Job {job_id} not found")
        return found[0]

    # -- endpoints ------------------------------------------------------------------------
    def info(self, query, body) -> Reply:
        """The backend and namespace the monitor shows."""
        return Reply(200, {"backend": self.client.backend_name,
                           "namespace": self.client.namespace})

    def list_functions(self, query, body) -> Reply:
        """The caller's Functions, newest first, with job counts."""
        from skyrun.compute import Function

        search = Function.search(client=self.client).param(include=["job.statistics"])
        found = [views.function_view(fn) for fn in search.sort(-Function.creation_date)]
        return Reply(200, {"functions": found, "live": any(f["live"] for f in found)})

    def get_function(self, function_id, query, body) -> Reply:
        """One Function with its job counts."""
        return Reply(200, views.function_view(self._function(function_id)))

    def update_function(self, function_id, query, body) -> Reply:
        """Change settings through ``save()``; a 422 names each invalid field."""
        fn = self._function(function_id)
        views.apply_settings(fn, body)
        fn.refresh(includes=["job.statistics"])
        return Reply(200, views.function_view(fn))

    def function_action(self, function_id, action, query, body) -> Reply:
        """``start``, ``stop``, ``enable`` or ``disable``."""
        fn = self._function(function_id)
        getattr(fn, action)()
        fn.refresh(includes=["job.statistics"])
        return Reply(200, views.function_view(fn))

    def delete_function(self, function_id, query, body) -> Reply:
        """``fn.delete(delete_results)``; 409 while jobs are active."""
        fn = self._function(function_id, statistics=False)
        fn.delete(delete_results=_flag(query, "delete_results"))
        return Reply(200, {"deleted": function_id})

    def build_log(self, function_id, query, body) -> Reply:
        """The build log so far."""
        fn = self._function(function_id, statistics=False)
        return Reply(200, {"text": fn.build_log(), "status": str(fn.status)})

    def list_jobs(self, function_id, query, body) -> Reply:
        """One page of the Function's jobs."""
        fn = self._function(function_id, statistics=False)
        return Reply(200, views.job_page(fn, query))

    def summary(self, function_id, query, body) -> Reply:
        """The aggregates the charts draw, computed in the store, with usage and cost."""
        fn = self._function(function_id, statistics=False)
        return Reply(200, charts.summary_view(fn, self.client.backend, now()))

    def timeline(self, function_id, query, body) -> Reply:
        """The started jobs as timeline bars, by start: ``limit`` at most that many,
        ``offset`` from that bar on, ``ids=1`` with their job ids."""
        fn = self._function(function_id, statistics=False)
        limit = views._int_param(query, "limit", charts.TIMELINE_LIMIT, 1, charts.TIMELINE_LIMIT)
        offset = views._int_param(query, "offset", 0, 0, charts.TIMELINE_LIMIT - 1)
        ids = views._int_param(query, "ids", 0, 0, 1) == 1
        return Reply(200, body=charts.timeline_json(self.client.backend.store, fn.id, now(),
                                                    limit, ids=ids, offset=offset))

    def bulk(self, function_id, action, query, body) -> Reply:
        """Cancel, rerun or delete the selected jobs (``{"job_ids": [...]}``) or every job
        matching the filters (``{"all": true, "filters": {...}}``)."""
        fn = self._function(function_id, statistics=False)
        body = body or {}
        if not isinstance(body, dict):
            raise ValidationError.single("body", "expected a JSON object")
        if body.get("all"):
            filters = body.get("filters") or {}
            params = {k: v if isinstance(v, list) else [v] for k, v in filters.items()
                      if v is not None}
            search, job_ids = views.filtered_jobs(fn, params), None
        else:
            job_ids = body.get("job_ids")
            if not isinstance(job_ids, list) or not job_ids or \
                    not all(isinstance(i, str) for i in job_ids):
                raise ValidationError.single("job_ids", "select at least one job, or act on "
                                                        "all matching jobs")
            search = None
        if action == "cancel":
            ids = [j.id for j in fn.cancel_jobs(query=search, job_ids=job_ids)]
        elif action == "rerun":
            ids = [j.id for j in fn.rerun(query=search, job_ids=job_ids)]
        else:
            ids = list(fn.delete_jobs(query=search, job_ids=job_ids,
                                      delete_results=bool(body.get("delete_results"))))
        return Reply(200, {"action": action, "count": len(ids), "ids": ids})

    def get_job(self, job_id, query, body) -> Reply:
        """One Job in full."""
        job = self._job(job_id)
        try:
            function = self._function(job.function_id, statistics=False)
        except NotFoundError:
            function = None
        return Reply(200, views.job_view(job, function))

    def job_action(self, job_id, action, query, body) -> Reply:
        """``job.cancel()``, or a rerun of this one job through its Function."""
        job = self._job(job_id)
        if action == "cancel":
            job.cancel()
        else:
            fn = self._function(job.function_id, statistics=False)
            if not fn.rerun(job_ids=[job.id]):
                raise ConflictError(f"Job {job.id} is {job.status}; only failure, timeout "
                                    "and canceled jobs can be rerun")
            job.refresh()
        return self.get_job(job.id, query=query, body=body)

    def delete_job(self, job_id, query, body) -> Reply:
        """``job.delete(delete_result)``; 409 while it is active."""
        self._job(job_id).delete(delete_result=_flag(query, "delete_result"))
        return Reply(200, {"deleted": job_id})

    def job_log(self, job_id, query, body) -> Reply:
        """The log lines from line ``offset`` on, and where the next read starts."""
        job = self._job(job_id)
        offset = views._int_param(query, "offset", 0, 0, 10**12)
        lines = list(job.iter_log(timestamps=True))
        return Reply(200, {"lines": lines[offset:], "next": len(lines),
                           "status": str(job.status),
                           "live": str(job.status) in views.LIVE_STATUSES})

    def job_result(self, job_id, query, body) -> Reply:
        """A preview of the result (JSON or text), or its size when it is binary."""
        return Reply(200, views.result_view(self._job(job_id)))

    def download_result(self, job_id, query, body) -> Reply:
        """The stored result bytes, as a file download."""
        job = self._job(job_id)
        blob = job.result_blob()
        if blob is None:
            raise NotFoundError(f"Job {job_id} has no result")
        return Reply(200, body=blob.data(), content_type="application/octet-stream",
                     headers={"Content-Disposition":
                              f'attachment; filename="result-{_safe_name(job_id)}.bin"'})


def _bind(endpoint, action: str):
    """``endpoint`` with its action (the last path segment) filled in."""
    def bound(*params, query, body):
        return endpoint(*params, action, query=query, body=body)
    return bound


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)
