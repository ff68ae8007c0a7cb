"""The polling loop of the sandbox's stand-ins (Batch, Lambda, CodeBuild): each runs in a
thread of the process that started the sandbox until the sandbox stops."""

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
