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
  refused as Lambda refuses it, and every accepted one is recorded; the Lambda stand-in
  (``skyrun.sandbox.lambda_workers``) reads them at ``GET`` :data:`INVOCATIONS_PATH`
  ``?after=N`` and runs them.
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
from typing import Any

from skyrun.sandbox.faults import CONTROL_PATH, INTERNAL_AGENT, FaultInjector

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
               "AWS_SESSION_TOKEN": "sandbox"}
_START_BUILD = "CodeBuild_20161006.StartBuild"
#: Where the server lists the asynchronous Lambda invocations it accepted.
INVOCATIONS_PATH = "/_sandbox/lambda/invocations"
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")


class _CodeBuildFixes:
    """WSGI middleware that completes the builds moto's StartBuild stores."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET") != _START_BUILD:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        captured: dict[str, Any] = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return lambda data: None

        chunks = b"".join(self.app(environ, capture))
        if captured.get("status", "").startswith("200"):
            try:
                _complete_build(json.loads(body), json.loads(chunks))
            except Exception:  # leave moto's answer as it is
                logging.getLogger(__name__).exception("could not complete a StartBuild")
        start_response(captured["status"], captured["headers"], captured.get("exc_info"))
        return [chunks]


class _LambdaInvocations:
    """WSGI middleware that records the asynchronous Lambda invocations moto accepts."""

    def __init__(self, app):
        self.app = app
        self.invocations: list[dict] = []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == INVOCATIONS_PATH:
            query = dict(p.partition("=")[::2] for p in
                         (environ.get("QUERY_STRING") or "").split("&") if p)
            after = int(query.get("after") or 0)
            body = json.dumps({"invocations": self.invocations[after:]}).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
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
        self.invocations.append({"function": name, "payload": payload.decode(),
                                 "time": time.time(), "index": len(self.invocations)})
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

    # Batch and Lambda without Docker: jobs and invocations are recorded, never run
    # (our stand-ins run them).
    default_user_config.setdefault("batch", {})["use_docker"] = False
    default_user_config.setdefault("lambda", {})["use_docker"] = False

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):  # one line per request is noise
            pass

    moto_app = _LambdaInvocations(
        _CodeBuildFixes(DomainDispatcherApplication(create_backend_app)))
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            # Read the whole response under the lock: moto builds it lazily.
            return list(moto_app(environ, start_response))

    app = FaultInjector(serialized, faults)
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
