"""Fixtures of the environment tests: Functions whose builds install packages are saved
once per run, together, so their builds overlap; tests wait for the one they need."""

from __future__ import annotations

import io
import sys
import textwrap
import uuid
import zipfile
from pathlib import Path

import cloudpickle
import pytest

from skyrun.auth import Auth
from skyrun.compute import ComputeClient, Function, FunctionStatus
from tests.conftest import wait_until

# A small pure-Python package that the host has installed but that is not one of the
# runtime's packages: visible in a job only when it is a requirement.
PACKAGE = "idna"
FAILING = "this-package-does-not-exist-skyrun==1.0"
OTHER_PYTHON = "3.12"
BUILD_TIMEOUT = 240


def uses_idna():
    import idna

    return [idna.__file__, idna.encode("example.com").decode()]


def always_one():
    return 1


def finished(fn: Function) -> Function:
    """Wait until the Function's build has ended."""
    def done():
        fn.refresh()
        return fn.status not in (FunctionStatus.BUILDING, FunctionStatus.AWAITING_BUNDLE)
    wait_until(done, timeout=BUILD_TIMEOUT, interval=0.2, message=f"the build of {fn.name}")
    return fn


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
        # The entrypoints above live here, which jobs cannot import: ship them by value.
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    except ValueError:
        pass
    try:
        client = ComputeClient(auth=Auth(org="test", user=f"envs{uuid.uuid4().hex[:6]}"))
        yield Builds(client, package_dir)
    finally:
        sys.path.remove(str(package_dir))


def make_package(root: Path, name: str, modules: dict[str, str], init: str = "") -> Path:
    """Write package ``name`` under ``root`` with ``modules`` (file name → source)."""
    pkg = root / name
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(init))
    for file, source in modules.items():
        path = pkg / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return pkg


def bundle_names(fn: Function) -> list[str]:
    """The file names in the Function's stored bundle."""
    data = fn._client.backend.blobs.get_object(f"bundles/{fn.id}.zip")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return sorted(zf.namelist())


def unique(prefix: str) -> str:
    """A module name no other test uses (modules stay in sys.modules)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
