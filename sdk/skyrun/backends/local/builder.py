"""The local ``Builder``: the environment a Function's jobs run in.

A Function without requirements runs on the interpreter of its image, so it is ready at
once.
"""

from __future__ import annotations

import platform
import shutil
import sys

from skyrun.compute import lifecycle


def find_interpreter(version: str) -> str | None:
    """A Python executable of ``major.minor``: the running one if it matches, else
    ``python<major>.<minor>`` on PATH."""
    if version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return sys.executable
    return shutil.which(f"python{version}")


class LocalBuilder:
    """Environments on this machine."""

    def __init__(self, backend):
        self.backend = backend

    def check(self, image: str, requirements: list[str]) -> dict[str, list[str]]:
        """Problems known before anything is stored."""
        errors: dict[str, list[str]] = {}
        if requirements:
            errors["requirements"] = [
                "installing requirements is not supported by this version of the local "
                "backend; remove them, or install the packages where the worker's Python "
                "finds them"]
        return errors

    def start(self, function: dict, requirements: list[str]) -> None:
        """Finish the build: with no requirements there is nothing to install."""
        python = find_interpreter(function["python"])
        if python is None:
            lifecycle.finish_build(self.backend, function, False,
                                   f"Python {function['python']} was not found: no "
                                   f"python{function['python']} on PATH.\n")
            return
        log = (f"Image {function['image']}: Python {function['python']} at {python} "
               f"({platform.python_implementation()} {platform.python_version()})\n"
               "No requirements to install.\nEnvironment ready.\n")
        lifecycle.finish_build(self.backend, function, True, log,
                               changes={"env_hash": "base"})

    def executable(self, function: dict) -> str:
        """The interpreter that runs the Function's jobs."""
        return find_interpreter(function["python"]) or sys.executable

    def remove(self, function: dict) -> None:
        """Nothing to remove for the base environment."""
