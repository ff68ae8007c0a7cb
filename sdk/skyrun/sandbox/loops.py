"""The polling loop of the sandbox's stand-ins (Batch, Lambda, CodeBuild): each runs in a
thread of the process that started the sandbox until the sandbox stops; and ``Starts``,
what a stand-in has yet to start."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)


def poll_until_stopped(stop: threading.Event, interval: float, what: str,
                       clients: Callable[[], Sequence[Any]],
                       poll: Callable[..., None]) -> None:
    """Call ``poll(*clients())`` until ``stop`` is set, the clients made once.

    An error, in a poll or in making the clients, is logged and tried again after
    ``interval`` seconds: a stand-in that stopped for good would leave every job of its
    kind pending without a word. Making a client reads this process's environment, which
    the process may change meanwhile (a test run sets each test's variables), and the
    server may be going away."""
    made: Sequence[Any] | None = None
    while not stop.is_set():
        try:
            if made is None:
                made = clients()
            poll(*made)
        except Exception:
            if not stop.is_set():
                logger.exception("%s stand-in", what)
                stop.wait(interval)


#: How many times a stand-in tries to start one Batch job or Lambda invocation.
START_TRIES = 5


class Starts:
    """What a stand-in has been asked to start (a Batch job, a Lambda invocation) and
    has not started yet: an event is read from the server's feed once, so a start that
    fails (moto busy, the environment changing under botocore) is kept and tried again
    at the next poll, up to ``START_TRIES`` times, instead of being lost with its job."""

    def __init__(self, what: str):
        self.what = what
        self._waiting: dict[str, tuple[Any, int]] = {}

    def add(self, key: str, item: Any) -> None:
        """Something new to start."""
        self._waiting.setdefault(key, (item, 0))

    def waiting(self) -> list[tuple[str, Any]]:
        """``(key, item)`` of what is yet to start, oldest first."""
        return [(key, item) for key, (item, _) in self._waiting.items()]

    def done(self, key: str) -> None:
        """Started, or nothing to start after all."""
        self._waiting.pop(key, None)

    def attempt(self, key: str, start: Callable[[], Any]) -> None:
        """Call ``start()``; forget ``key`` once it returns, count a failure if it raises."""
        try:
            start()
        except Exception:
            item, failures = self._waiting.get(key, (None, 0))
            failures += 1
            if failures >= START_TRIES:
                logger.exception("%s stand-in: %s did not start after %d tries; given up",
                                 self.what, key, failures)
                self._waiting.pop(key, None)
            else:
                logger.exception("%s stand-in: %s did not start (try %d of %d)", self.what,
                                 key, failures, START_TRIES)
                self._waiting[key] = (item, failures)
        else:
            self._waiting.pop(key, None)
