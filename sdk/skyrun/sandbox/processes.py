"""Environments and cleanup of the processes the sandbox starts (workers, handlers)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping

from skyrun.common.sources import source_paths

#: Settings of this process that its children keep: request counting
#: (``skyrun.backends.aws.session``) covers the workers and handlers too.
KEPT = ("SKYRUN_COUNT_AWS_REQUESTS",)


def environ_snapshot() -> dict[str, str]:
    """A copy of this process's environment, read again if another thread changed it
    while it was being read (``os.environ`` raises then; the stand-ins read it from
    their threads while the process that started the sandbox may set variables)."""
    while True:
        try:
            return dict(os.environ)
        except (KeyError, RuntimeError):
            continue


def child_environment(*layers: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its AWS and skyrun settings (but those in
    :data:`KEPT`), then ``layers`` in order, with the skyrun sources on ``PYTHONPATH``."""
    current = environ_snapshot()
    env = {k: v for k, v in current.items()
           if (k in KEPT or not k.startswith(("AWS_", "SKYRUN_"))) and k != "PYTHONPATH"}
    for layer in layers:
        env.update(layer)
    paths = source_paths()
    if current.get("PYTHONPATH"):
        paths.append(current["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """Stop a process started with ``start_new_session`` and everything in its group:
    SIGTERM, then SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # members of the group that outlived its leader
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
