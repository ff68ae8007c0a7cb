"""Scenario 42: progress bars of ``map``, ``as_completed`` and ``wait_for_completion``.

A bar is drawn on stderr when it is a terminal; ``progress=True`` forces one and
``progress=False`` hides it.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time

from skyrun.compute import Function
from tests.cli.conftest import cli_env

BARS = ("Submitting jobs to", "Jobs of", "Waiting for")


def square(x):
    return x * x


def _run_all(fn, progress):
    jobs = fn.map(range(3), progress=progress)
    done = list(fn.as_completed(jobs, timeout=120, interval=0.1, progress=progress))
    fn.wait_for_completion(timeout=120, interval=0.1, progress=progress)
    return done


def test_forced_and_hidden(capsys):
    fn = Function(square, name="sq")
    fn.save()

    assert len(_run_all(fn, True)) == 3
    err = capsys.readouterr().err
    assert "Submitting jobs to sq: 100%" in err and "3/3" in err
    assert "Jobs of sq: 100%" in err
    # The wait bar counts the build, then the terminal jobs, with per-status counts.
    assert "Waiting for sq: 100%" in err and "4/4" in err and "ready success=3" in err

    assert len(_run_all(fn, False)) == 3
    assert capsys.readouterr().err == ""
    # stderr is captured here, so not a terminal: the default draws nothing.
    assert len(_run_all(fn, None)) == 3
    assert capsys.readouterr().err == ""


SCRIPT = textwrap.dedent("""
    import sys
    from skyrun.compute import Function

    def square(x):
        return x * x

    fn = Function(square, name="sq")
    fn.save()
    for progress in (None, False):
        jobs = fn.map(range(3), progress=progress)
        list(fn.as_completed(jobs, timeout=120, interval=0.1, progress=progress))
        fn.wait_for_completion(timeout=120, interval=0.1, progress=progress)
        print("--- default done ---", file=sys.stderr, flush=True)
""")


def _read_pty(fd: int, proc: subprocess.Popen, timeout: float) -> str:
    """Everything written to the pty until ``proc`` ends (and the pty drains)."""
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks).decode(errors="replace")


def test_default_draws_on_a_terminal(namespace, skyrun_home):
    master, slave = os.openpty()
    # A fresh pty reports 0 columns, and tqdm draws nothing that narrow: size it like a
    # terminal window.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = cli_env(namespace)
    env["SKYRUN_HOME"] = str(skyrun_home)
    try:
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        text = _read_pty(master, proc, 120)
        proc.wait(timeout=60)
    finally:
        os.close(master)
    assert proc.returncode == 0, text
    with_default, with_false, rest = text.split("--- default done ---")
    for bar in BARS:
        assert f"{bar} sq" in with_default
    assert "100%" in with_default
    assert "\r" in with_default  # redrawn in place, as on a terminal
    assert with_false.strip() == ""
    assert rest.strip() == ""
