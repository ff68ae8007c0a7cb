"""The layers hold at run time: what a module loads when imported in a fresh interpreter.

``lint-imports`` (pyproject's [tool.importlinter]) checks the import graph statically;
these tests check the modules a process actually ends up with, which is what the worker's
start-up time pays for.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_LOADED = ("import json, sys, {module}; "
           "print(json.dumps(sorted(m for m in sys.modules "
           "if m.split('.')[0] in ('skyrun', 'skyrun_runtime', 'cloudpickle'))))")


def loaded_by(module: str) -> set[str]:
    """The skyrun, skyrun_runtime and cloudpickle modules that importing ``module``
    loads in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", _LOADED.format(module=module)],
                         capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout))


def test_the_worker_loads_neither_cloudpickle_nor_the_sdk():
    loaded = loaded_by("skyrun_runtime.worker")
    assert "skyrun_runtime.worker" in loaded and "skyrun.engine.lifecycle" in loaded
    assert "cloudpickle" not in loaded
    assert "skyrun.compute.function" not in loaded
    assert not {m for m in loaded if m == "skyrun.compute" or m.startswith("skyrun.compute.")}


@pytest.mark.parametrize("module", ["skyrun.backends.local", "skyrun.backends.aws.backend"])
def test_adapters_load_no_sdk(module):
    loaded = loaded_by(module)
    assert module in loaded
    above = {m for m in loaded
             if m.split(".")[:2] in (["skyrun", "compute"], ["skyrun", "catalog"],
                                     ["skyrun", "cli"], ["skyrun", "ui"])}
    assert not above
    assert "cloudpickle" not in loaded


def test_the_domain_loads_nothing_else_of_skyrun():
    modules = ["skyrun.domain.statuses", "skyrun.domain.limits", "skyrun.domain.transitions",
               "skyrun.domain.slots", "skyrun.domain.targets", "skyrun.domain.environments",
               "skyrun.domain.keys"]
    loaded = loaded_by(", ".join(modules))
    assert set(modules) <= loaded
    assert loaded - set(modules) == {"skyrun", "skyrun.domain"}
