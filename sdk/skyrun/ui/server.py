"""The HTTP server of the web monitor: a Starlette application served by uvicorn on
127.0.0.1, with the static pages in ``static/``, the JSON API of ``skyrun.ui.api`` and
its server-sent event streams (``skyrun.ui.events``).

Requests run concurrently: the API's endpoints are blocking SDK calls, which Starlette
runs in its thread pool, so the Function page's chart requests at 100,000 jobs are
answered side by side rather than one after the other.

The server binds to the loopback interface only, and (unless started without one) every
request must carry the server's login token: a random string made per start, given once
in the URL (``?token=...``) and then kept in a cookie, or sent as ``Authorization: token
...``. Without it another user of the machine, who can reach 127.0.0.1 too, gets 403.

Two checks keep other web sites that the user visits from driving it: the ``Host``
header must name the loopback address (against DNS rebinding), and requests that change
anything must carry the ``X-Skyrun-UI`` header, which a cross-site form cannot send and a
cross-site script can only send after a CORS preflight that this server never approves.
Every answer carries the security headers of ``SECURITY_HEADERS`` (a Content-Security-
Policy of ``self`` only among them).
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import mimetypes
import re
import secrets
import socket
import threading
import time
from http.cookies import SimpleCookie
from importlib import resources
from urllib.parse import parse_qs, quote, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from skyrun.ui import events
from skyrun.ui.api import Api, Reply
from skyrun.ui.responses import to_response

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: The header that requests changing state must carry.
WRITE_HEADER = "X-Skyrun-UI"
#: The pages: route → static file.
PAGES = (("/", "index.html"), ("/functions/{function_id}", "function.html"),
         ("/jobs/{job_id}", "job.html"))
#: What a page's scripts fetch first, announced in its head (``<link rel=preload>``) so
#: that the browser asks while it still loads the scripts: at 100,000 jobs the charts'
#: requests are most of the page's time, and they start a few hundred ms sooner.
PRELOADS = {"function.html": ("/api/functions/{function_id}/summary",
                              "/api/functions/{function_id}/timeline")}
SECURITY_HEADERS = {
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
#: How long a stopping server waits for open requests (event streams end sooner).
_GRACE_SECONDS = 3


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


def _text(status: int, message: str) -> Response:
    return Response(message.encode(), status_code=status,
                    media_type="text/plain; charset=utf-8")


class Guard:
    """The checks every request passes before routing (an ASGI middleware): the Host
    header, the login token, and the write header on requests that change state; and
    the security headers (and the login cookie) on every answer."""

    def __init__(self, app, server: UIServer):
        self.app = app
        self.server = server

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        cookie: list[str] = []
        denied = self.check(request, cookie)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                for value in cookie:
                    headers.append("Set-Cookie", value)
            await send(message)

        await (denied or self.app)(scope, receive, send_with_headers)

    def check(self, request: Request, cookie: list[str]) -> Response | None:
        """None when the request may go on, else the answer that refuses it. A valid
        ``?token=`` appends the login cookie to ``cookie``."""
        server = self.server
        host = (request.headers.get("host") or "").lower()
        if host not in (f"{HOST}:{server.port}", f"localhost:{server.port}"):
            return to_response(Reply(403, {"error": "unexpected Host header; open the "
                                                    f"monitor at {server.url}"}))
        path = request.url.path
        denied = self._login(request, path, cookie)
        if denied is not None:
            return denied
        if path.startswith("/api/") and request.method not in ("GET", "HEAD") \
                and request.headers.get(WRITE_HEADER) != "1":
            return to_response(Reply(403, {"error": f"the {WRITE_HEADER} header is required"}))
        return None

    def _login(self, request: Request, path: str, cookie: list[str]) -> Response | None:
        """403 without the token; for a page opened with ``?token=``, a redirect to the
        same page without it that sets the cookie (so the token leaves the address bar
        and the history)."""
        token = self.server.token
        if token is None:
            return None
        query = parse_qs(request.url.query)
        given = (query.get("token") or [""])[-1]
        if given and hmac.compare_digest(given.encode(), token.encode()):
            value = f"{self.server.cookie_name}={token}; Path=/; HttpOnly; SameSite=Strict"
            if request.method == "GET" and not path.startswith(("/api/", "/static/")):
                rest = {k: v for k, v in query.items() if k != "token"}
                target = path + ("?" + urlencode(rest, doseq=True) if rest else "")
                return to_response(Reply(303, {"location": target},
                                         headers={"Location": target, "Set-Cookie": value}))
            cookie.append(value)
            return None
        if hmac.compare_digest(self._sent_token(request).encode(), token.encode()):
            return None
        message = ("a login token is required: open the URL that `skyrun ui` printed (it "
                   "ends with ?token=...)")
        if path.startswith("/api/"):
            return to_response(Reply(403, {"error": message}))
        return _text(403, f"403 Forbidden: {message}\n")

    def _sent_token(self, request: Request) -> str:
        """The token of the cookie or the ``Authorization: token ...`` header, or ""."""
        auth = request.headers.get("authorization") or ""
        if auth[:6].lower() == "token ":
            return auth[6:].strip()
        jar = SimpleCookie()
        try:
            jar.load(request.headers.get("cookie") or "")
        except Exception:  # a malformed cookie header is just no token
            return ""
        morsel = jar.get(self.server.cookie_name)
        return morsel.value if morsel is not None else ""


async def _read_json(request: Request) -> tuple[object, str | None]:
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        return None, "invalid Content-Length"
    if declared > _MAX_BODY:
        return None, "request body too large"
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_BODY:
            return None, "request body too large"
    if not raw.strip():
        return None, None
    try:
        return json.loads(raw), None
    except ValueError as exc:
        return None, f"request body is not JSON: {exc}"


def _api_route(path: str, methods: dict) -> Route:
    """One API path: ``methods`` maps each HTTP method to its endpoint, a blocking
    function of the path parameters, ``query`` and ``body`` that returns a Reply."""

    async def endpoint(request: Request) -> Response:
        body = None
        if request.method not in ("GET", "HEAD"):
            body, problem = await _read_json(request)
            if problem:
                return to_response(Reply(400, {"error": problem}))
        call = methods[request.method if request.method != "HEAD" else "GET"]
        query = parse_qs(request.url.query)
        reply = await run_in_threadpool(Api.call, call, *request.path_params.values(),
                                        query=query, body=body)
        return to_response(reply)

    return Route(path, endpoint, methods=list(methods))


def _page(name: str):
    async def page(request: Request) -> Response:
        body = static_file(name) or b""
        if name in PRELOADS:
            # The same URL as the script's fetch (encodeURIComponent of the id), so the
            # browser hands the preloaded answer to it instead of asking twice.
            params = {k: quote(v, safe="-_.!~*'()") for k, v in request.path_params.items()}
            links = "".join(f'  <link rel="preload" href="{html.escape(p.format(**params))}" '
                            'as="fetch" crossorigin>\n' for p in PRELOADS[name])
            body = body.replace(b"</head>", links.encode() + b"</head>", 1)
        return Response(body, media_type="text/html; charset=utf-8")
    return page


async def _static(request: Request) -> Response:
    name = request.path_params["name"]
    data = static_file(name)
    if data is None:
        return to_response(Reply(404, {"error": f"no such file: /static/{name}"}))
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind.endswith("javascript"):
        kind += "; charset=utf-8"
    return Response(data, media_type=kind)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """404 and 405 from the router, as JSON under /api/ and text elsewhere."""
    headers = dict(exc.headers or {})
    path = request.url.path
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {path}"
        if "Allow" in headers:
            message += "; allowed: " + headers["Allow"]
    elif exc.status_code == 404:
        message = (f"no such endpoint: {request.method} {path}" if path.startswith("/api/")
                   else "Not found")
    else:
        message = exc.detail
    if path.startswith("/api/"):
        return to_response(Reply(exc.status_code, {"error": message}, headers=headers))
    response = _text(exc.status_code, message)
    response.headers.update(headers)
    return response


def build_app(server: UIServer) -> Guard:
    """The monitor's application for ``server`` (its API, token and stop flag)."""
    routes = [Route(path, _page(name)) for path, name in PAGES]
    routes.append(Route("/static/{name:path}", _static))
    routes += events.routes(server)
    for path, methods in server.api.paths():
        routes.append(_api_route(path, methods))
    # Starlette types a handler's exception as Exception, though it passes the one
    # registered for (HTTPException here).
    app = Starlette(routes=routes,
                    exception_handlers={HTTPException: _http_error})  # type: ignore[dict-item]
    return Guard(app, server)


class UIServer:
    """The monitor's server, bound to 127.0.0.1. ``port=0`` picks a free port; ``url``
    says where it listens and ``login_url`` the same with the token. ``token``: a new
    random one by default, a given string, or None for no login at all.

    The socket is bound at once (so a taken port fails here); ``start()`` serves in a
    background thread until ``stop()``, ``serve_forever()`` in the calling thread until
    Ctrl-C."""

    def __init__(self, client, port: int = DEFAULT_PORT, verbose: bool = False,
                 token: str | None = NEW_TOKEN):
        import uvicorn

        self.token = new_token() if token == NEW_TOKEN else token
        self.verbose = verbose
        self.api = Api(client)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((HOST, port))
            # Listening already: a client told the URL before serving starts waits in
            # the backlog instead of being refused.
            self._socket.listen(2048)
        except OSError:
            self._socket.close()
            raise
        self._port = self._socket.getsockname()[1]
        # Cookies are shared by every port of a host: name ours after the port.
        self.cookie_name = f"skyrun-ui-{self.port}"
        #: Set when the server stops: event streams end on it.
        self.stopping = threading.Event()
        self.app = build_app(self)
        level = logging.INFO if verbose else logging.WARNING
        self._uvicorn = uvicorn.Server(uvicorn.Config(
            self.app, lifespan="off", log_config=None, log_level=level, access_log=verbose,
            timeout_graceful_shutdown=_GRACE_SECONDS, server_header=False))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self._port

    @property
    def url(self) -> str:
        """The address of the functions list."""
        return f"http://{HOST}:{self.port}/"

    @property
    def login_url(self) -> str:
        """``url`` with the token, the address to open first."""
        return self.url + (f"?token={self.token}" if self.token else "")

    def start(self) -> UIServer:
        """Serve in a background thread (for tests and embedding); ``stop()`` ends it.
        Returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.serve_forever, name="skyrun-ui",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the monitor's server did not start")
            time.sleep(0.01)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` (or, in the main thread, Ctrl-C)."""
        try:
            self._uvicorn.run(sockets=[self._socket])
        finally:
            self.stopping.set()

    def stop(self) -> None:
        """Stop serving: end the event streams, wait for open requests (a few seconds
        at most), and close the socket."""
        self.stopping.set()
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.server_close()

    def server_close(self) -> None:
        """Close the listening socket (of a server that was never started, too)."""
        self._socket.close()


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
        # uvicorn handles Ctrl-C in the main thread: it stops serving and returns.
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
