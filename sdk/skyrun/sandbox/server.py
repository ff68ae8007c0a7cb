"""A moto server on loopback, in a child process, with the few gaps of moto filled in.

moto keeps its state in module globals. Running it in a process of its own gives every
sandbox its own fake AWS, untouched by ``moto.mock_aws`` in the caller's process, and
leaves the caller's interpreter lock to the caller; the stand-ins and the worker
processes reach it over HTTP like any AWS client. The child leaves when told to, or when
its parent is gone.

Gaps filled here, in the server and never in the SDK (which stays correct for AWS):

* CodeBuild: moto's StartBuild drops ``environmentVariablesOverride`` and records no log
  location. A small WSGI layer copies the project's variables, with the overrides on top,
  into the stored build, and names the log group and stream CodeBuild would use, so that
  ``BatchGetBuilds`` answers as AWS does.
* Concurrency: moto's services are not safe under concurrent requests (a DynamoDB
  transaction that fails restores a copy of whole tables, undoing what other requests
  wrote meanwhile), while DynamoDB's transactions are serializable. Requests are served
  one at a time, as :mod:`skyrun.backends.aws.motoserver` does.
* Batch: the server runs without Docker (moto's "simple" Batch), which marks every job
  finished at once; the Batch stand-in (``skyrun.sandbox.batch``) runs the workers.
* Lambda: without Docker too (moto's "simple" Lambda answers every invocation at once
  and runs nothing). An asynchronous invocation of a function that does not exist is
  refused as Lambda refuses it, and every accepted one is recorded (``GET``
  :data:`INVOCATIONS_PATH` ``?after=N`` lists them).

What the stand-ins must act on (a Batch job submitted or terminated, a build started, a
Lambda invoked) is recorded as it happens, and they wait for it at ``GET``
:data:`EVENTS_PATH` ``?after=N&kinds=a,b&wait=S``, which answers as soon as there is one
(or after ``S`` seconds with none). That request is served outside the one-at-a-time
lock and costs moto nothing: an idle sandbox makes no moto requests at all, where polling
``ListJobs``, ``DescribeJobs`` and ``ListBuildsForProject`` five times a second each kept
the server busy (their answers grow with every job and build of the run), and a new job's
worker starts without waiting for the next poll.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from skyrun.sandbox.faults import CONTROL_PATH, INTERNAL_AGENT, FaultInjector

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
               "AWS_SESSION_TOKEN": "sandbox"}
_START_BUILD = "CodeBuild_20161006.StartBuild"
#: Where the server lists the asynchronous Lambda invocations it accepted.
INVOCATIONS_PATH = "/_sandbox/lambda/invocations"
#: Where the stand-ins wait for what they must act on (see :class:`Activity`).
EVENTS_PATH = "/_sandbox/events"
#: The kinds of :class:`Activity` events.
BATCH_SUBMIT, BATCH_STOP, BUILD, INVOKE = "batch-submit", "batch-stop", "build", "invoke"
#: Where the server tells how many moto requests it served, by service and operation.
REQUESTS_PATH = "/_sandbox/requests"
#: The longest wait one events request may ask for.
MAX_WAIT_SECONDS = 30.0
_BATCH_PATHS = {"/v1/submitjob": BATCH_SUBMIT, "/v1/terminatejob": BATCH_STOP,
                "/v1/canceljob": BATCH_STOP}
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")


#: :meth:`SandboxServer.events` (after, kinds, wait) → (events, next index): what the
#: stand-ins wait on.
Events = Callable[[int, list[str], float], tuple[list[dict], int]]


class Activity:
    """What the stand-ins act on, in the order it happened: ``{"kind", "index", ...}``
    each (``job_id`` for Batch, ``build_id`` and ``project`` for a build, ``function``
    and ``payload`` for an invocation)."""

    def __init__(self):
        self.events: list[dict] = []
        self._changed = threading.Condition()

    def record(self, kind: str, **fields) -> None:
        with self._changed:
            self.events.append({"kind": kind, "index": len(self.events), **fields})
            self._changed.notify_all()

    def since(self, after: int, kinds: set[str] | None, wait: float) -> tuple[list[dict], int]:
        """The events of ``kinds`` (all if None) from the ``after``-th on, waiting up to
        ``wait`` seconds for one; and the index to ask from next."""
        def found() -> list[dict]:
            return [e for e in self.events[after:] if kinds is None or e["kind"] in kinds]

        with self._changed:
            self._changed.wait_for(lambda: found() or False, timeout=max(0.0, wait))
            return found(), len(self.events)


def _query(environ) -> dict[str, str]:
    from urllib.parse import unquote

    return {k: unquote(v) for k, _, v in (p.partition("=") for p in
            (environ.get("QUERY_STRING") or "").split("&") if p)}


def _json_reply(start_response, payload: dict) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _service(environ) -> str | None:
    """The AWS service a signed request is for (its credential scope names it)."""
    scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split(",")[0]
    parts = scope.split("/")
    return parts[3] if len(parts) > 3 else None


class _ActivityWaits:
    """WSGI middleware, outside the one-at-a-time lock: answers :data:`EVENTS_PATH` and
    :data:`REQUESTS_PATH`, and counts the requests that reach moto."""

    def __init__(self, app, activity: Activity):
        self.app = app
        self.activity = activity
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path == REQUESTS_PATH:
            with self._lock:
                return _json_reply(start_response, {"by_operation": dict(self.requests)})
        if path != EVENTS_PATH:
            service = _service(environ)
            if service:
                # JSON protocols name the operation in a header, REST ones in the path.
                target = environ.get("HTTP_X_AMZ_TARGET") or ""
                operation = target.rpartition(".")[2] if target else \
                    (path or "").rstrip("/").rpartition("/")[2]
                with self._lock:
                    self.requests[f"{service} {operation}"] += 1
            return self.app(environ, start_response)
        query = _query(environ)
        kinds = set(query["kinds"].split(",")) if query.get("kinds") else None
        wait = min(float(query.get("wait") or 0), MAX_WAIT_SECONDS)
        events, after = self.activity.since(int(query.get("after") or 0), kinds, wait)
        return _json_reply(start_response, {"events": events, "next": after})


def _call(app, environ) -> tuple[dict, bytes]:
    """Run ``app`` on ``environ``; its status line, headers and whole body."""
    captured: dict[str, Any] = {}

    def capture(status, headers, exc_info=None):
        captured.update(status=status, headers=headers, exc_info=exc_info)
        return lambda data: None

    chunks = b"".join(app(environ, capture))
    return captured, chunks


def _request_body(environ) -> bytes:
    """The request's body, left readable for the next layer."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class _BatchActivity:
    """WSGI middleware that records the Batch jobs submitted, terminated or canceled."""

    def __init__(self, app, activity: Activity):
        self.app = app
        self.activity = activity

    def __call__(self, environ, start_response):
        kind = _BATCH_PATHS.get(environ.get("PATH_INFO", "").rstrip("/"))
        if kind is None or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        body = _request_body(environ)
        captured, chunks = _call(self.app, environ)
        if captured.get("status", "").startswith("200"):
            try:
                source = json.loads(chunks if kind == BATCH_SUBMIT else body)
                self.activity.record(kind, job_id=source["jobId"])
            except (ValueError, KeyError):
                logging.getLogger(__name__).exception("could not record a Batch %s", kind)
        start_response(captured["status"], captured["headers"], captured.get("exc_info"))
        return [chunks]


class _CodeBuildFixes:
    """WSGI middleware that completes the builds moto's StartBuild stores, and records
    each build started."""

    def __init__(self, app, activity: Activity):
        self.app = app
        self.activity = activity

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET") != _START_BUILD:
            return self.app(environ, start_response)
        body = _request_body(environ)
        captured, chunks = _call(self.app, environ)
        if captured.get("status", "").startswith("200"):
            try:
                request, response = json.loads(body), json.loads(chunks)
                _complete_build(request, response)
                self.activity.record(BUILD, build_id=response["build"]["id"],
                                     project=request["projectName"])
            except Exception:  # leave moto's answer as it is
                logging.getLogger(__name__).exception("could not complete a StartBuild")
        start_response(captured["status"], captured["headers"], captured.get("exc_info"))
        return [chunks]


class _LambdaInvocations:
    """WSGI middleware that records the asynchronous Lambda invocations moto accepts."""

    def __init__(self, app, activity: Activity):
        self.app = app
        self.activity = activity

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == INVOCATIONS_PATH:
            after = int(_query(environ).get("after") or 0)
            invokes, _ = self.activity.since(0, {INVOKE}, 0)
            listed = [{"function": e["function"], "payload": e["payload"], "time": e["time"],
                       "index": i} for i, e in enumerate(invokes)]
            return _json_reply(start_response, {"invocations": listed[after:]})
        match = _INVOKE_PATH.match(path)
        if (not match or environ.get("REQUEST_METHOD") != "POST"
                or environ.get("HTTP_X_AMZ_INVOCATION_TYPE") != "Event"):
            return self.app(environ, start_response)
        from urllib.parse import unquote

        name = unquote(match.group(1)).split(":function:")[-1].split(":")[0]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(payload)
        if not _lambda_function_exists(name):
            body = json.dumps({"Type": "User",
                               "message": f"Function not found: {name}"}).encode()
            start_response("404 Not Found", [
                ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                ("x-amzn-ErrorType", "ResourceNotFoundException")])
            return [body]
        self.activity.record(INVOKE, function=name, payload=payload.decode(), time=time.time())
        return self.app(environ, start_response)


def _lambda_function_exists(name: str) -> bool:
    from moto.awslambda.utils import get_backend

    try:
        get_backend(ACCOUNT_ID, REGION).get_function(name)
    except Exception:
        return False
    return True


def _complete_build(request: dict, response: dict) -> None:
    from moto.codebuild.models import codebuild_backends

    build_id = response["build"]["id"]
    for regions in codebuild_backends.values():
        for backend in regions.values():
            project = backend.codebuild_projects.get(request["projectName"])
            for history in backend.build_metadata_history.values():
                for build in history:
                    if build["id"] != build_id:
                        continue
                    assert project is not None  # a build of this project was found
                    metadata = project.project_metadata
                    variables = {v["name"]: v for v in
                                 (metadata.get("environment") or {}).get(
                                     "environmentVariables") or []}
                    for v in request.get("environmentVariablesOverride") or []:
                        variables[v["name"]] = dict(v, type=v.get("type", "PLAINTEXT"))
                    build["environment"]["environmentVariables"] = list(variables.values())
                    cloudwatch = (metadata.get("logsConfig") or {}).get("cloudWatchLogs") or {}
                    group = cloudwatch.get("groupName")
                    if group:
                        stream = build_id.split(":", 1)[1]
                        build["logs"].update(groupName=group, streamName=stream)
                    return


def serve(port: int = 0, announce=print, faults: str | None = None) -> None:
    """Serve moto on ``127.0.0.1:port`` in this process until SIGTERM or the parent's
    death; ``announce`` gets ``"PORT <n>"`` once the socket listens. ``faults`` is a
    fault spec (:mod:`skyrun.sandbox.faults`)."""
    import signal

    from moto.core.models import default_user_config
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    from skyrun.backends.aws import motopatches

    # Batch and Lambda without Docker: jobs and invocations are recorded, never run
    # (our stand-ins run them).
    default_user_config.setdefault("batch", {})["use_docker"] = False
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    # Transactions back up the items they name, not whole tables, and queries do not
    # sort the whole table at every comparison (see motopatches).
    motopatches.apply()

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):  # one line per request is noise
            pass

    activity = Activity()
    moto_app = _LambdaInvocations(_BatchActivity(_CodeBuildFixes(
        DomainDispatcherApplication(create_backend_app), activity), activity), activity)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            # Read the whole response under the lock: moto builds it lazily.
            return list(moto_app(environ, start_response))

    app = _ActivityWaits(FaultInjector(serialized, faults), activity)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler)
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        server.shutdown()

    threading.Thread(target=watch_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    announce(f"PORT {server.server_address[1]}")
    server.serve_forever()
    server.server_close()


class SandboxServer:
    """A moto server on ``127.0.0.1`` and a free port, in a child process; ``faults``
    makes a share of its requests fail (:mod:`skyrun.sandbox.faults`)."""

    def __init__(self, port: int = 0, faults: str | None = None):
        self._port = port
        self._faults = faults
        self._proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server process's id, while it runs."""
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 60) -> SandboxServer:
        """Start the server; returns when it listens."""
        from skyrun.sandbox.processes import child_environment

        self._proc = subprocess.Popen(
            [sys.executable, "-m", "skyrun.sandbox.server", "--port", str(self._port),
             *(["--faults", self._faults] if self._faults else [])],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=child_environment())
        deadline = time.monotonic() + timeout
        lines = []
        assert self._proc.stdout is not None  # stdout=PIPE
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                break
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
                # Keep draining its output, so that the server never blocks on a pipe.
                threading.Thread(target=self._proc.stdout.read, daemon=True).start()
                return self
            lines.append(line)
        self.stop()
        raise RuntimeError("the moto server did not start:\n" + "".join(lines))

    def stop(self) -> None:
        """Stop the server and wait for its process."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(15)
        self._proc = None

    def client_settings(self) -> dict:
        """Keyword arguments of ``boto3.client`` that reach this server (as one of the
        sandbox's own clients, which injected faults spare)."""
        from botocore.config import Config

        return {"endpoint_url": self.endpoint, "region_name": REGION,
                "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": CREDENTIALS["AWS_SESSION_TOKEN"],
                "config": Config(user_agent_extra=INTERNAL_AGENT)}

    def set_faults(self, spec: str | None) -> dict:
        """Replace the fault spec (None or "" for none) and reset the counts; the
        report. ``ValueError`` for a bad spec."""
        return self._faults_request({"spec": spec or ""})

    def fault_report(self) -> dict:
        """The spec and the faults injected since it was set."""
        return self._faults_request(None)

    def _faults_request(self, payload: dict | None) -> dict:
        import urllib.error
        import urllib.request

        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.endpoint + CONTROL_PATH, data=data,
                                         method="POST" if data else "GET")
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            raise ValueError(json.loads(exc.read()).get("error", str(exc)))

    def client(self, service: str):
        """A boto3 client of ``service`` on this server."""
        import boto3

        return boto3.client(service, **self.client_settings())

    def lambda_invocations(self, after: int = 0) -> list[dict]:
        """The asynchronous Lambda invocations accepted so far, from the ``after``-th:
        ``{"function", "payload", "time", "index"}`` each."""
        from urllib.request import urlopen

        with urlopen(f"{self.endpoint}{INVOCATIONS_PATH}?after={int(after)}", timeout=30) as r:
            return json.loads(r.read())["invocations"]

    def events(self, after: int, kinds: list[str] | None = None,
               wait: float = 0.0) -> tuple[list[dict], int]:
        """What happened from the ``after``-th event on (of ``kinds``, or all), waiting up
        to ``wait`` seconds for something; and the index to ask from next."""
        from urllib.request import urlopen

        query = f"after={int(after)}&wait={float(wait)}"
        if kinds:
            query += "&kinds=" + ",".join(kinds)
        with urlopen(f"{self.endpoint}{EVENTS_PATH}?{query}", timeout=wait + 30) as r:
            answer = json.loads(r.read())
        return answer["events"], answer["next"]

    def requests_served(self) -> dict[str, int]:
        """How many AWS requests the server has served so far, by ``"service operation"``
        (``"batch listjobs"``, ``"dynamodb Query"``)."""
        from urllib.request import urlopen

        with urlopen(f"{self.endpoint}{REQUESTS_PATH}", timeout=30) as r:
            return json.loads(r.read())["by_operation"]

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 (and so the SDK) at this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION, **CREDENTIALS}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m skyrun.sandbox.server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", help="a fault spec (see skyrun.sandbox.faults)")
    options = parser.parse_args()
    serve(options.port, announce=lambda text: print(text, flush=True), faults=options.faults)
