"""Fixtures of the CLI tests: run the real ``skyrun`` command in a subprocess, in the
test's SKYRUN_HOME (given with ``--home``) and namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest


@dataclass
class Result:
    """What one run of the command gave."""

    code: int
    out: str
    err: str

    def json(self):
        """stdout parsed as JSON."""
        return json.loads(self.out)


def cli_env(client) -> dict[str, str]:
    """The environment of a CLI run: the test client's identity, and no SKYRUN_HOME, so
    that the commands find the state only through ``--home``."""
    env = dict(os.environ)
    env.pop("SKYRUN_HOME", None)
    env["SKYRUN_ORG"] = client.auth.payload["org"]
    env["SKYRUN_USER"] = client.auth.namespace
    env["COLUMNS"] = "200"  # help and usage text unwrapped
    return env


@pytest.fixture
def cli(namespace, skyrun_home):
    """``cli(*args)`` runs ``skyrun --home <home> *args`` and returns a ``Result``."""
    env = cli_env(namespace)

    def run(*args: str, timeout: float = 120) -> Result:
        proc = subprocess.run([sys.executable, "-m", "skyrun.cli", "--home", str(skyrun_home),
                               *args], env=env, capture_output=True, text=True,
                              timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
