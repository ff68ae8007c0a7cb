"""``skyrun ui`` as a command: it serves the monitor on 127.0.0.1 for the caller's
namespace, prints its URL, and stops on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from skyrun.compute import Function
from tests.cli.conftest import cli_env


def echo(x):
    return x


def test_skyrun_ui_serves_the_namespace(namespace, skyrun_home):
    fn = Function(echo, auto_start=False)
    fn.save()
    fn(1)
    proc = subprocess.Popen([sys.executable, "-m", "skyrun.cli", "--home", str(skyrun_home),
                             "ui", "--port", "0", "--no-browser"], env=cli_env(namespace),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:(\d+)/)\?token=([A-Za-z0-9_-]{40,})", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        assert namespace.namespace in line and "login token" in line
        base, token = match.group(1), match.group(3)
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(base + "api/functions", timeout=60)
        assert denied.value.code == 403
        request = urllib.request.Request(base + "api/functions",
                                         headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            [row] = json.loads(response.read())["functions"]
        assert row["id"] == fn.id and row["job_statistics"]["pending"] == 1
        # The printed URL logs in: a redirect to the page that sets the cookie.
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(match.group(0), timeout=60) as response:
            assert response.url == base
            assert b"<title>Functions" in response.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_skyrun_ui_usage(namespace, skyrun_home):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "skyrun.cli", "--home", str(skyrun_home),
                               "ui", *args], env=cli_env(namespace), capture_output=True,
                              text=True, timeout=60)

    res = run("--help")
    assert res.returncode == 0
    assert "--port PORT" in res.stdout and "--no-browser" in res.stdout
    assert "--no-token" in res.stdout
    assert "127.0.0.1" in res.stdout
    res = run("--port", "70000")
    assert res.returncode == 2 and "invalid port" in res.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        res = run("--port", str(taken.getsockname()[1]), "--no-browser")
    assert res.returncode == 1 and "skyrun: error:" in res.stderr


def test_skyrun_ui_no_token_warns(namespace, skyrun_home):
    proc = subprocess.Popen([sys.executable, "-m", "skyrun.cli", "--home", str(skyrun_home),
                             "ui", "--port", "0", "--no-browser", "--no-token"],
                            env=cli_env(namespace), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        warning = proc.stderr.readline()
        line = proc.stdout.readline()
        assert "warning" in warning and "other users" in warning
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match and "token" not in line.split("(")[0] and "NO LOGIN" in line, line
        with urllib.request.urlopen(match.group(0) + "api/info", timeout=60) as response:
            assert json.loads(response.read())["namespace"] == namespace.namespace
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
