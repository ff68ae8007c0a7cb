"""Fixtures of the embedded backend's own tests: the Functions whose builds install
packages are saved once per run, together, so their builds overlap (the local builder's
shared environment cache and detached build processes); tests wait for the one they need."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from skyrun.auth import Auth
from skyrun.compute import ComputeClient, Function
from tests.environment_support import (
    FAILING,
    OTHER_PYTHON,
    PACKAGE,
    always_one,
    make_package,
    uses_idna,
)


class Builds:
    """The Functions built once for the whole run, in their own namespace."""

    def __init__(self, client: ComputeClient, package_dir: Path):
        self.client = client
        self.package_dir = package_dir
        self.home = Path(client.backend.home)
        # Two Functions with the same requirements at once: one build waits for the other.
        self.first = Function(uses_idna, requirements=[PACKAGE], client=client)
        self.first.save()
        self.first_save_status = self.first.status
        self.first_log_at_save = self.first.build_log()
        pid_file = client.backend.builder.pid_path(self.first.id)
        self.first_pid = int(pid_file.read_text()) if pid_file.exists() else None
        self.during_build = self.first(tags=["during"])
        self.twin = Function(uses_idna, requirements=[PACKAGE], auto_start=False, client=client)
        self.twin.save()
        self.failing = Function(always_one, requirements=[FAILING], client=client)
        self.failing.save()
        self.failing_job = self.failing()
        # A dotted entrypoint on another Python version, from a bundled package.
        self.other = Function("xvpkg.where.where", image=f"python{OTHER_PYTHON}:latest",
                              include_modules=["xvpkg"], client=client)
        self.other.save()


@pytest.fixture(scope="session")
def builds(skyrun_home, tmp_path_factory):
    """Start the slow builds of the run once."""
    package_dir = tmp_path_factory.mktemp("xv")
    make_package(package_dir, "xvpkg", {"where.py": """
        import sys

        def where():
            return ["%d.%d" % sys.version_info[:2], sys.executable]
        """})
    sys.path.insert(0, str(package_dir))
    try:
        client = ComputeClient(auth=Auth(org="test", user=f"envs{uuid.uuid4().hex[:6]}"))
        yield Builds(client, package_dir)
    finally:
        sys.path.remove(str(package_dir))


