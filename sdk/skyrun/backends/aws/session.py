"""boto3 clients with skyrun's retry policy.

Every client retries throttling and transient errors in botocore's ``standard`` mode,
up to :data:`MAX_ATTEMPTS` attempts with exponential backoff and jitter; only what
outlasts them reaches the caller (as ``RateLimitError`` and friends). ``AWS_ENDPOINT_URL``
(and the per-service ``AWS_ENDPOINT_URL_<SERVICE>``) is honoured by botocore itself.

With ``SKYRUN_COUNT_AWS_REQUESTS=<directory>`` (off by default; ``bench/aws_requests.py``
sets it), every client also counts the HTTP requests it sends (retries included) by
service and operation, and the DynamoDB items each request writes by key (see
``writekeys``); the process keeps its counts in ``<directory>/<pid>.json``, rewritten at
most once a second and at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

MAX_ATTEMPTS = 10
#: Enough connections for the parallel requests of bulk calls (see ``dynamo.FAN_OUT``).
MAX_POOL_CONNECTIONS = 50
DEFAULT_REGION = "us-east-1"
#: A directory to count every AWS request into (see the module docstring).
COUNT_VARIABLE = "SKYRUN_COUNT_AWS_REQUESTS"


def client_config() -> Any:
    """The botocore configuration of skyrun's clients."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
                  max_pool_connections=MAX_POOL_CONNECTIONS,
                  connect_timeout=10, read_timeout=60)


def region(session: Any = None) -> str:
    """The region: the session's, else ``AWS_REGION``/``AWS_DEFAULT_REGION``, else
    us-east-1 (as the AWS CLI would fail without one, we pick the default)."""
    name = session.region_name if session is not None else None
    return (name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION)


def new_client(service: str, session: Any = None) -> Any:
    """A new client of ``service`` from ``session`` (default: this process's session for
    its current AWS settings, see :func:`default_session`)."""
    if session is None:
        session = default_session()
    with _client_lock:  # a boto3 session is not thread-safe; its clients are
        client = session.client(service, region_name=region(session),
                                config=client_config())
    directory = os.environ.get(COUNT_VARIABLE)
    if directory:
        client.meta.events.register("before-send", _RequestCounter.of(directory).count)
    return client


_client_lock = threading.Lock()
_sessions: dict[tuple[Any, ...], Any] = {}
#: Sessions kept for settings seen before (tests switch endpoints; a process seldom does).
_MAX_SESSIONS = 8


def default_session() -> Any:
    """The boto3 session of this process for its current ``AWS_*`` variables.

    One session serves every client made with the same settings: a new session reads
    botocore's data files again (the endpoint rules, the partitions, each service's
    model), which cost 100-250 ms a client, so a worker's or a Lambda handler's five or
    six clients took about a second to make; from one session the second and later take
    15-20 ms. A change of the ``AWS_*`` variables (another endpoint, profile or keys)
    or of the AWS config or credentials file (keys rewritten by ``aws configure`` or a
    login tool) gets a session of its own, as a fresh one would; a forked child makes
    its own. Use the session under ``_client_lock`` only (boto3 sessions are not
    thread-safe), as :func:`new_client` does.
    """
    import boto3

    key = (os.getpid(), tuple(sorted((k, v) for k, v in os.environ.items()
                                     if k.startswith("AWS_"))), _files_seen())
    with _client_lock:
        session = _sessions.get(key)
        if session is None:
            if len(_sessions) >= _MAX_SESSIONS:  # settings that keep changing: keep a few
                _sessions.clear()
            session = _sessions[key] = boto3.session.Session()
        return session


def _files_seen() -> tuple[Any, ...]:
    """When the AWS config and credentials files last changed (and their sizes): a
    session reads them once, so new contents need a new session."""
    seen: list[tuple[int, int] | None] = []
    for variable, default in (("AWS_CONFIG_FILE", "~/.aws/config"),
                              ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")):
        try:
            stat = os.stat(os.path.expanduser(os.environ.get(variable) or default))
            seen.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            seen.append(None)
    return tuple(seen)


def _forget_in_child() -> None:
    # A fork may copy the lock held by another thread, which no thread of the child
    # would release; the child makes its own sessions anyway (their key has its pid).
    global _client_lock
    _client_lock = threading.Lock()
    _sessions.clear()


os.register_at_fork(after_in_child=_forget_in_child)


class _RequestCounter:
    """This process's request counts, kept in ``<directory>/<pid>.json``."""

    _instance: _RequestCounter | None = None
    _create = threading.Lock()

    def __init__(self, directory: str):
        self.path = os.path.join(directory, f"{os.getpid()}.json")
        self.counts: Counter[str] = Counter()
        #: Writes per DynamoDB item (``writekeys.written_keys``).
        self.writes: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.saved = 0.0
        atexit.register(self.save)

    @classmethod
    def of(cls, directory: str) -> _RequestCounter:
        with cls._create:
            if cls._instance is None or cls._instance.path != os.path.join(
                    directory, f"{os.getpid()}.json"):  # a forked child counts apart
                cls._instance = cls(directory)
            return cls._instance

    def count(self, event_name: str, **kwargs: Any) -> None:
        # event_name is "before-send.<service id>.<operation>"; returning None lets the
        # request go out.
        _, service, operation = event_name.split(".", 2)
        written = []
        if service == "dynamodb":
            from skyrun.backends.aws.writekeys import written_keys

            request = kwargs.get("request")
            written = written_keys(operation, getattr(request, "body", None))
        with self.lock:
            self.counts[f"{service}.{operation}"] += 1
            self.writes.update(written)
            due = time.monotonic() - self.saved >= 1.0
        if due:
            self.save()

    def save(self) -> None:
        with self.lock:
            self.saved = time.monotonic()
            text = json.dumps({"pid": os.getpid(), "argv": sys.argv, "counts": self.counts,
                               "writes": self.writes})
            tmp = f"{self.path}.tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, self.path)
