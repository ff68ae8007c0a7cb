"""The HTTP server of the web monitor: the standard library's ``ThreadingHTTPServer`` on
127.0.0.1, serving the static pages in ``static/`` and the JSON API of ``skyrun.ui.api``.

The server binds to the loopback interface only, and (unless started without one) every
request must carry the server's login token: a random string made per start, given once
in the URL (``?token=...``) and then kept in a cookie, or sent as ``Authorization: token
...``. Without it another user of the machine, who can reach 127.0.0.1 too, gets 403.

Two checks keep other web sites that the user visits from driving it: the ``Host``
header must name the loopback address (against DNS rebinding), and requests that change
anything must carry the ``X-Skyrun-UI`` header, which a cross-site form cannot send and a
cross-site script can only send after a CORS preflight that this server never approves.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import re
import secrets
import threading
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlencode, urlsplit

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
#: ``UIServer(token=NEW_TOKEN)`` (the default) makes a random token for this start.
NEW_TOKEN = "new"


def new_token() -> str:
    """A random login token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def static_file(name: str) -> bytes | None:
    """The bytes of a file in the package's ``static`` directory (or one folder below it,
    such as ``vendor/uplot/``), or None."""
    if not re.fullmatch(r"([A-Za-z0-9_-]+/){0,2}[A-Za-z0-9_.-]+\.(html|css|js|svg|png)", name) \
            or ".." in name:
        return None
    path = resources.files("skyrun.ui").joinpath("static", *name.split("/"))
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
        self._set_cookie = None
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
        query = parse_qs(url.query)
        denied = self._login(method, path, query)
        if denied is not None:
            return denied
        if path.startswith("/api/"):
            body = None
            if method != "GET":
                if self.headers.get(WRITE_HEADER) != "1":
                    return Reply(403, {"error": f"the {WRITE_HEADER} header is required"})
                body, problem = self._read_json()
                if problem:
                    return Reply(400, {"error": problem})
            return self.server.api.handle(method, path, query, body)
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

    def _login(self, method: str, path: str, query: dict) -> Reply | None:
        """None when the request may go on; else the reply: 403 without the token, or,
        for a page opened with ``?token=``, a redirect to the same page without it that
        sets the cookie (so the token leaves the address bar and the history)."""
        token = self.server.token
        if token is None:
            return None
        given = (query.get("token") or [""])[-1]
        if given and hmac.compare_digest(given.encode(), token.encode()):
            cookie = (f"{self.server.cookie_name}={token}; Path=/; HttpOnly; "
                      "SameSite=Strict")
            if method == "GET" and not path.startswith(("/api/", "/static/")):
                rest = {k: v for k, v in query.items() if k != "token"}
                target = path + ("?" + urlencode(rest, doseq=True) if rest else "")
                return Reply(303, {"location": target},
                             headers={"Location": target, "Set-Cookie": cookie})
            self._set_cookie = cookie
            return None
        if hmac.compare_digest(self._sent_token().encode(), token.encode()):
            return None
        message = ("a login token is required: open the URL that `skyrun ui` printed (it "
                   "ends with ?token=...)")
        if path.startswith("/api/"):
            return Reply(403, {"error": message})
        return Reply(403, body=f"403 Forbidden: {message}\n".encode(),
                     content_type="text/plain; charset=utf-8")

    def _sent_token(self) -> str:
        """The token of the cookie or the ``Authorization: token ...`` header, or ""."""
        auth = self.headers.get("Authorization") or ""
        if auth[:6].lower() == "token ":
            return auth[6:].strip()
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie") or "")
        except Exception:  # a malformed cookie header is just no token
            return ""
        morsel = cookie.get(self.server.cookie_name)
        return morsel.value if morsel is not None else ""

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
        if self._set_cookie:
            self.send_header("Set-Cookie", self._set_cookie)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class UIServer(ThreadingHTTPServer):
    """The monitor's server, bound to 127.0.0.1. ``port=0`` picks a free port; ``url``
    says where it listens and ``login_url`` the same with the token. ``token``: a new
    random one by default, a given string, or None for no login at all."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, client, port: int = DEFAULT_PORT, verbose: bool = False,
                 token: str | None = NEW_TOKEN):
        super().__init__((HOST, port), Handler)
        self.token = new_token() if token == NEW_TOKEN else token
        # Cookies are shared by every port of a host: name ours after the port.
        self.cookie_name = f"skyrun-ui-{self.port}"
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

    @property
    def login_url(self) -> str:
        """``url`` with the token, the address to open first."""
        return self.url + (f"?token={self.token}" if self.token else "")

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


def serve(client, port: int = DEFAULT_PORT, open_browser: bool = True, out=None,
          token: bool = True) -> None:
    """Serve the monitor until interrupted, printing its URL (with a new login token
    unless ``token`` is false) and opening a browser at it."""
    import sys
    import webbrowser

    server = UIServer(client, port, token=NEW_TOKEN if token else None)
    out = out or sys.stdout
    if not token:
        print("skyrun ui: warning: --no-token: anyone who can connect to 127.0.0.1 on this "
              "machine (other users too) can use the monitor with your identity.",
              file=sys.stderr, flush=True)
    login = "login token in the URL" if token else "NO LOGIN"
    print(f"skyrun ui: serving {client.namespace} on {server.login_url} ({login}; "
          "127.0.0.1 only). Press Ctrl-C to stop.", file=out, flush=True)
    try:
        if open_browser:
            webbrowser.open(server.login_url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
