"""A moto server on loopback, in this process, with the few gaps of moto filled in.

moto keeps its state in module globals, so the server thread and anything else in this
process that uses moto share one fake AWS; worker processes reach it over HTTP.

Gaps filled here, in the server and never in the SDK (which stays correct for AWS):

* CodeBuild: moto's StartBuild drops ``environmentVariablesOverride`` and records no log
  location. A small WSGI layer copies the project's variables, with the overrides on top,
  into the stored build, and names the log group and stream CodeBuild would use, so that
  ``BatchGetBuilds`` answers as AWS does.
* Batch: the server runs without Docker (moto's "simple" Batch), which marks every job
  finished at once; the Batch stand-in (``skyrun.sandbox.batch``) runs the workers.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
               "AWS_SESSION_TOKEN": "sandbox"}
_START_BUILD = "CodeBuild_20161006.StartBuild"


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


class SandboxServer:
    """A moto server on ``127.0.0.1`` and a free port, run by a thread of this process."""

    def __init__(self, port: int = 0):
        self._port = port
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        """Start serving; returns at once when the socket listens."""
        from moto.core.models import default_user_config
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        # Batch without Docker: jobs are recorded, never run (our stand-in runs them).
        default_user_config.setdefault("batch", {})["use_docker"] = False

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args, **kwargs):  # one line per request is noise
                pass

        app = _CodeBuildFixes(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", self._port, app, threaded=True,
                                   request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="skyrun-sandbox-moto", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = None

    def client_settings(self) -> dict[str, str]:
        """Keyword arguments of ``boto3.client`` that reach this server."""
        return {"endpoint_url": self.endpoint, "region_name": REGION,
                "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": CREDENTIALS["AWS_SESSION_TOKEN"]}

    def client(self, service: str):
        """A boto3 client of ``service`` on this server."""
        import boto3

        return boto3.client(service, **self.client_settings())

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 (and so the SDK) at this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION, **CREDENTIALS}
