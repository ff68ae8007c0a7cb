"""Fault injection in the sandbox's server: a chosen share of AWS requests fails the way
AWS fails.

A spec is a comma-separated list of ``kind[@service[:Operation]]=share``, for example
``throttle=0.05,conflict=0.05,5xx=0.02,lost-response=0.01`` or
``throttle@dynamodb:TransactWriteItems=0.2,5xx@s3=0.1``; ``seed=N`` makes the draws
repeatable. A share is of all requests (of the service or operation named); the most
specific rule of each kind wins, and the shares of one request add up to at most 1.

=================  ==========================================================================
kind               what the client sees
=================  ==========================================================================
``throttle``       HTTP 400 ``ThrottlingException`` (DynamoDB: also
                   ``ProvisionedThroughputExceededException``); S3: 503 ``SlowDown``;
                   REST services (Batch, Lambda): 429 ``TooManyRequestsException``
``conflict``       DynamoDB ``TransactWriteItems`` only: 400 ``TransactionCanceledException``
                   with a ``TransactionConflict`` reason on one item
``5xx``            HTTP 500 ``InternalServerError`` or 503 ``ServiceUnavailable``
``reset``          the connection is closed before the request is served
``lost-response``  the request is served (its changes are made), then the connection is
                   closed before the response: the client retries what already happened
=================  ==========================================================================

Requests of the sandbox's own clients (provisioning, the stand-ins, a test's inspection)
carry ``skyrun-sandbox`` in their user agent and never fail. The server also answers
``GET /_skyrun/faults`` (the spec and the faults injected so far, by kind and by
``service.Operation``) and ``POST /_skyrun/faults`` (``{"spec": "..."}`` replaces the
spec and resets the counts).

Besides the faults, the server keeps what moto lacks for them to be survivable as on AWS:
DynamoDB's ``TransactWriteItems`` is idempotent on its ``ClientRequestToken`` (which
botocore fills in) for ten minutes, so a transaction retried after a lost response is
not applied twice.
"""

from __future__ import annotations

import io
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass

KINDS = ("throttle", "conflict", "5xx", "reset", "lost-response")
#: The user agent mark of the sandbox's own clients, which faults spare.
INTERNAL_AGENT = "skyrun-sandbox"
CONTROL_PATH = "/_skyrun/faults"
TOKEN_SECONDS = 600.0
_RULE = re.compile(r"(?P<kind>[a-z0-9-]+)(@(?P<service>[a-z0-9-]+)(:(?P<operation>[A-Za-z0-9]+))?)?")


@dataclass(frozen=True)
class Rule:
    """One ``kind[@service[:Operation]]=share``."""

    kind: str
    share: float
    service: str | None = None
    operation: str | None = None

    def matches(self, service: str, operation: str) -> bool:
        return ((self.service is None or self.service == service)
                and (self.operation is None or self.operation.lower() == operation.lower()))

    @property
    def specificity(self) -> int:
        return (self.service is not None) + (self.operation is not None)

    def __str__(self) -> str:
        where = f"@{self.service}" if self.service else ""
        where += f":{self.operation}" if self.operation else ""
        return f"{self.kind}{where}={self.share:g}"


@dataclass(frozen=True)
class Spec:
    """Parsed fault rules and an optional seed."""

    rules: tuple[Rule, ...] = ()
    seed: int | None = None

    def shares(self, service: str, operation: str) -> dict[str, float]:
        """The share of each kind for one request (the most specific rule of a kind)."""
        best: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.matches(service, operation):
                if rule.kind not in best or rule.specificity > best[rule.kind].specificity:
                    best[rule.kind] = rule
        return {kind: rule.share for kind, rule in best.items()}

    def __str__(self) -> str:
        parts = [str(r) for r in self.rules]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)


def parse(spec: str | None) -> Spec:
    """Parse a fault spec; ``ValueError`` naming the bad item and what is allowed."""
    if not spec or not spec.strip():
        return Spec()
    rules, seed = [], None
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"faults: {item!r} has no '=<share>'; expected "
                             "kind[@service[:Operation]]=share, e.g. throttle=0.05")
        name = name.strip()
        if name == "seed":
            try:
                seed = int(value)
            except ValueError:
                raise ValueError(f"faults: seed {value!r} is not an integer")
            continue
        match = _RULE.fullmatch(name)
        if not match or match["kind"] not in KINDS:
            raise ValueError(f"faults: {name!r} is not a fault; allowed: "
                             f"{', '.join(KINDS)}, optionally @service or @service:Operation")
        try:
            share = float(value)
        except ValueError:
            share = float("nan")
        if not 0 <= share <= 1:
            raise ValueError(f"faults: {item!r}: the share must be a number from 0 to 1")
        rules.append(Rule(match["kind"], share, match["service"], match["operation"]))
    parsed = Spec(tuple(rules), seed)
    for rule in parsed.rules:
        total = sum(parsed.shares(rule.service or "*", rule.operation or "*").values())
        if total > 1 + 1e-9:
            raise ValueError(f"faults: the shares for {rule.service or 'all services'} add up "
                             f"to {total:g}; at most 1 is allowed")
    return parsed


def request_name(environ) -> tuple[str, str]:
    """``(service, operation)`` of a request, as well as the wire shows them."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    found = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", auth)
    service = found.group(1) if found else "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.rsplit(".", 1)[-1]
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
    if service == "s3":
        query = environ.get("QUERY_STRING", "")
        key = path.strip("/").count("/") >= 1
        if method == "PUT":
            return service, "PutObject" if key else "CreateBucket"
        if method == "GET":
            return service, "GetObject" if key else "ListObjects"
        if method == "HEAD":
            return service, "HeadObject" if key else "HeadBucket"
        if method == "DELETE":
            return service, "DeleteObject" if key else "DeleteBucket"
        return service, "DeleteObjects" if "delete" in query else "Post"
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    return service, segment or method


class FaultInjector:
    """WSGI middleware: draws a fault for each request by the current :class:`Spec`."""

    def __init__(self, app, spec: str | None = None):
        self.app = app
        self.lock = threading.Lock()
        self.tokens: dict[str, tuple[float, str, list, bytes]] = {}
        self.configure(spec)

    def configure(self, spec: str | None) -> None:
        """Replace the spec (``ValueError`` if it is bad) and reset the counts."""
        parsed = parse(spec)
        with self.lock:
            self.spec = parsed
            self.random = random.Random(parsed.seed)
            self.counts: Counter[str] = Counter()
            self.served = 0

    def report(self) -> dict:
        """The spec, the requests seen and the faults injected by kind and operation."""
        with self.lock:
            by_kind: Counter[str] = Counter()
            for name, n in self.counts.items():
                by_kind[name.split(" ", 1)[0]] += n
            return {"spec": str(self.spec), "requests": self.served,
                    "injected": dict(by_kind), "by_operation": dict(self.counts)}

    # -- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == CONTROL_PATH:
            return self._control(environ, start_response)
        transaction = environ.get("HTTP_X_AMZ_TARGET", "").endswith(".TransactWriteItems")
        if not self.spec.rules and not transaction:
            return self.app(environ, start_response)  # nothing to do: the plain path
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        service, operation = request_name(environ)
        token = self._token(service, operation, body)
        if token is not None:
            cached = self._cached(token)
            if cached is not None:  # a retry of an applied transaction: its answer again
                start_response(cached[0], cached[1])
                return [cached[2]]
        kind = None
        if INTERNAL_AGENT not in environ.get("HTTP_USER_AGENT", ""):
            kind = self._draw(service, operation)
        if kind == "throttle":
            return _throttle(service, start_response, self._coin())
        if kind == "conflict":
            return _conflict(body, start_response, self.random)
        if kind == "5xx":
            return _server_error(service, start_response, self._coin())
        if kind == "reset":
            return _drop(environ, start_response)
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=list(headers))
            return lambda data: None

        chunks = b"".join(self.app(environ, capture))
        if token is not None and captured["status"].startswith("200"):
            with self.lock:
                self.tokens[token] = (time.monotonic(), captured["status"],
                                      captured["headers"], chunks)
        if kind == "lost-response":
            return _drop(environ, start_response)
        start_response(captured["status"], captured["headers"])
        return [chunks]

    def _draw(self, service: str, operation: str) -> str | None:
        with self.lock:
            self.served += 1
            shares = self.spec.shares(service, operation)
            if not shares:
                return None
            if "conflict" in shares and not (service == "dynamodb"
                                             and operation == "TransactWriteItems"):
                del shares["conflict"]  # only transactions conflict
            draw = self.random.random()
            for kind in KINDS:
                share = shares.get(kind, 0.0)
                if draw < share:
                    self.counts[f"{kind} {service}.{operation}"] += 1
                    return kind
                draw -= share
            return None

    def _coin(self) -> bool:
        with self.lock:
            return self.random.random() < 0.5

    def _token(self, service: str, operation: str, body: bytes) -> str | None:
        if service != "dynamodb" or operation != "TransactWriteItems":
            return None
        try:
            return json.loads(body).get("ClientRequestToken")
        except ValueError:
            return None

    def _cached(self, token: str):
        with self.lock:
            cutoff = time.monotonic() - TOKEN_SECONDS
            # Entries are kept in the order they were stored: drop the expired ones
            # from the front, a few per request, so no request pays for a sweep.
            for _ in range(2):
                oldest = next(iter(self.tokens.items()), None)
                if oldest is None or oldest[1][0] >= cutoff:
                    break
                del self.tokens[oldest[0]]
            entry = self.tokens.get(token)
            if entry is None or entry[0] < cutoff:
                return None
            return entry[1:]

    def _control(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                self.configure(json.loads(environ["wsgi.input"].read(length) or b"{}")
                               .get("spec"))
            except ValueError as exc:
                return _json(start_response, "400 Bad Request", {"error": str(exc)})
        return _json(start_response, "200 OK", self.report())


# -- answers as AWS gives them ------------------------------------------------------------
def _json(start_response, status: str, payload: dict, content_type="application/json",
          extra=()):
    data = json.dumps(payload).encode()
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(data))), *extra])
    return [data]


def _xml(start_response, status: str, code: str, message: str):
    data = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
            f"<Message>{message}</Message><RequestId>sandbox</RequestId></Error>").encode()
    start_response(status, [("Content-Type", "application/xml"),
                            ("Content-Length", str(len(data)))])
    return [data]


_JSON_TYPE = "application/x-amz-json-1.0"


def _throttle(service: str, start_response, coin: bool):
    message = "Rate exceeded (injected by the sandbox)"
    if service == "s3":
        return _xml(start_response, "503 Slow Down", "SlowDown", message)
    if service == "dynamodb":
        code = ("ThrottlingException" if coin else "ProvisionedThroughputExceededException")
        return _json(start_response, "400 Bad Request",
                     {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message},
                     _JSON_TYPE)
    if service in ("batch", "lambda"):
        return _json(start_response, "429 Too Many Requests", {"message": message},
                     extra=[("x-amzn-ErrorType", "TooManyRequestsException")])
    return _json(start_response, "400 Bad Request",
                 {"__type": "ThrottlingException", "message": message}, _JSON_TYPE)


def _server_error(service: str, start_response, coin: bool):
    status, code = (("500 Internal Server Error", "InternalServerError") if coin
                    else ("503 Service Unavailable", "ServiceUnavailable"))
    message = "injected by the sandbox"
    if service == "s3":
        return _xml(start_response, status, "InternalError" if coin else "ServiceUnavailable",
                    message)
    return _json(start_response, status, {"__type": code, "message": message},
                 _JSON_TYPE, extra=[("x-amzn-ErrorType", code)])


def _conflict(body: bytes, start_response, rng: random.Random):
    try:
        items = len(json.loads(body).get("TransactItems") or []) or 1
    except ValueError:
        items = 1
    victim = rng.randrange(items)
    reasons = [{"Code": "TransactionConflict",
                "Message": "Transaction is ongoing for the item"} if i == victim
               else {"Code": "None"} for i in range(items)]
    codes = ", ".join(r["Code"] for r in reasons)
    return _json(start_response, "400 Bad Request", {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific "
                   f"reasons [{codes}]",
        "CancellationReasons": reasons}, _JSON_TYPE)


def _drop(environ, start_response):
    # Reset the connection: the client reads no response (a connection error it retries).
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    start_response("500 Internal Server Error", [("Content-Length", "0"),
                                                 ("Connection", "close")])
    return [b""]
