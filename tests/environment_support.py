"""What the environment tests share: a package to require, a requirement that fails,
another Python, entrypoints that use them, and helpers to build packages and wait for
builds. Jobs cannot import this module: its functions travel by value."""

from __future__ import annotations

import io
import sys
import textwrap
import uuid
import zipfile
from pathlib import Path

import cloudpickle

from skyrun.compute import Function, FunctionStatus, JobStatus
from tests.conftest import wait_until

# A small pure-Python package that the host has installed but that is not one of the
# runtime's packages: visible in a job only when it is a requirement.
PACKAGE = "idna"
FAILING = "this-package-does-not-exist-skyrun==1.0"
OTHER_PYTHON = "3.12"
BUILD_TIMEOUT = 240

# The entrypoints below live here, which jobs cannot import: ship them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


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


def run(fn: Function, *args):
    """Run one job of ``fn`` and return its result (it must succeed)."""
    job = fn(*args)
    job.wait_for_completion(timeout=60, interval=0.1)
    assert job.status == JobStatus.SUCCESS, (job.error_reason, job.log())
    return job.result()
