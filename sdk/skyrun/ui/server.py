"""The HTTP server of the web monitor: the standard library's ``ThreadingHTTPServer`` on
127.0.0.1, serving the static pages in ``static/`` and the JSON API of ``skyrun.ui.api``.

There is no login: the server binds to the loopback interface only. Two checks keep other
web sites that the user visits from driving it: the ``Host`` header must name the
loopback address (against DNS rebinding), and requests that change anything must carry
the ``X-Skyrun-UI`` header, which a cross-site form cannot send and a cross-site script
can only send after a CORS preflight that this server never approves.
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from skyrun.ui.api import Api, Reply

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: The header that requests changing state must carry.
WRITE_HEADER = "X-Skyrun-UI"
#: The pages: URL pattern → static file.
PAGES = ((re.compile(r"/"), "index.html"),
         (re.compile(r"/functions/[^/]+"), "function.html"),
         (re.compile(r"/jobs/[^/]+"), "job.html"))
_SECURITY_HEADERS = {
    # Scripts only from our own files: injected markup could not run script anyway.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MAX_BODY = 1 << 20


def static_file(name: str) -> bytes | None:
    """The bytes of a file in the package's ``static`` directory, or None."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+\.(html|css|js|svg)", name):
        return None
    path = resources.files("skyrun.ui").joinpath("static", name)
    return path.read_bytes() if path.is_file() else None


class Handler(BaseHTTPRequestHandler):
    """One request: a page, a static file, or an API call."""

    server: UIServer
    server_version = "skyrun-ui"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            reply = self._reply(method)
        except Exception as exc:  # a bug in the server itself: still answer
            reply = Reply(500, {"error": f"{type(exc).__name__}: {exc}"})
        self._send(reply)

    def _reply(self, method: str) -> Reply:
        if not self._host_allowed():
            return Reply(403, {"error": "unexpected Host header; open the monitor at "
                                        f"http://{HOST}:{self.server.port}/"})
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        if path.startswith("/api/"):
            body = None
            if method != "GET":
                if self.headers.get(WRITE_HEADER) != "1":
                    return Reply(403, {"error": f"the {WRITE_HEADER} header is required"})
                body, problem = self._read_json()
                if problem:
                    return Reply(400, {"error": problem})
            return self.server.api.handle(method, path, parse_qs(url.query), body)
        if method != "GET":
            return Reply(405, {"error": f"{method} is not allowed on {path}"},
                         headers={"Allow": "GET"})
        if path.startswith("/static/"):
            data = static_file(path[len("/static/"):])
            if data is None:
                return Reply(404, {"error": f"no such file: {path}"})
            kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            return Reply(200, body=data, content_type=kind)
        for pattern, name in PAGES:
            if pattern.fullmatch(path):
                return Reply(200, body=static_file(name), content_type="text/html; charset=utf-8")
        return Reply(404, body=b"Not found", content_type="text/plain; charset=utf-8")

    def _host_allowed(self) -> bool:
        host = (self.headers.get("Host") or "").lower()
        port = self.server.port
        return host in (f"{HOST}:{port}", f"localhost:{port}")

    def _read_json(self) -> tuple[object, str | None]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            return None, "request body too large"
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None, None
        try:
            return json.loads(raw), None
        except ValueError as exc:
            return None, f"request body is not JSON: {exc}"

    def _send(self, reply: Reply) -> None:
        if reply.body is not None:
            data = reply.body
        else:
            data = json.dumps(reply.payload, ensure_ascii=False).encode("utf-8")
        content_type = reply.content_type
        if content_type == "application/json":
            content_type += "; charset=utf-8"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in {**_SECURITY_HEADERS, **reply.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class UIServer(ThreadingHTTPServer):
    """The monitor's server, bound to 127.0.0.1. ``port=0`` picks a free port; ``url``
    says where it listens."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, client, port: int = DEFAULT_PORT, verbose: bool = False):
        super().__init__((HOST, port), Handler)
        self.api = Api(client)
        self.verbose = verbose
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self.server_address[1]

    @property
    def url(self) -> str:
        """The address of the functions list."""
        return f"http://{HOST}:{self.port}/"

    def start(self) -> UIServer:
        """Serve in a background thread (for tests and embedding); ``stop()`` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="skyrun-ui",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()


def serve(client, port: int = DEFAULT_PORT, open_browser: bool = True, out=None) -> None:
    """Serve the monitor until interrupted, printing its URL and opening a browser."""
    import sys
    import webbrowser

    server = UIServer(client, port)
    out = out or sys.stdout
    print(f"skyrun ui: serving {client.namespace} on {server.url} (no login; "
          "127.0.0.1 only). Press Ctrl-C to stop.", file=out, flush=True)
    try:
        if open_browser:
            webbrowser.open(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
