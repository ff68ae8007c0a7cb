"""The local ``Builder``: a cached virtual environment per (Python version, requirements).

A build whose environment already exists, or that has nothing to install (the running
Python and no requirements), finishes inside ``save()``. Any other build runs in a
detached process (``python -m skyrun.backends.local.build_process``) that outlives the
caller; its output goes to ``$SKYRUN_HOME/builds/<function id>.log`` until it ends, and
then to the Function's build log blob.
"""

from __future__ import annotations

import subprocess
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyrun.backends.local.envs import BuildError, EnvironmentCache
from skyrun.backends.local.interpreters import (
    available_images,
    find_interpreter,
    running_version,
)
from skyrun.backends.ports import FUNCTION, Builder
from skyrun.domain.limits import image_python
from skyrun.engine import lifecycle

if TYPE_CHECKING:
    from skyrun.backends.local.backend import LocalBackend

_children: list[subprocess.Popen[bytes]] = []


class LocalBuilder(Builder):
    """Environments on this machine, under ``$SKYRUN_HOME/envs``."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self.home = Path(backend.home)
        self.envs = EnvironmentCache(self.home)
        self.builds = self.home / "builds"

    # -- the port -----------------------------------------------------------------------
    def check(self, image: str, requirements: list[str]) -> dict[str, list[str]]:
        """Problems known before anything is stored: an image whose Python is not on
        this machine."""
        version = image_python(image)
        if version is None:
            return {}  # reported by the Function's own check
        major, minor = version
        wanted = f"{major}.{minor}"
        if find_interpreter(wanted) is not None:
            return {}
        return {"image": [
            f"{image} is not available on this machine: no Python {wanted} interpreter was "
            f"found (looked for python{wanted} on PATH, in /usr/bin and /usr/local/bin, and "
            f"in ~/.pyenv/versions); available: {', '.join(available_images())}"]}

    def start(self, function: dict[str, Any], requirements: list[str]) -> None:
        """Reuse the environment at once if it exists, build it here if there is nothing
        to install, else start a detached build process."""
        _reap()
        fid = function["id"]
        self.builds.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(fid), "w") as log:
            log.write(f"Build of Function {function.get('name')} ({fid})\n"
                      f"Image: {function['image']}\n")
        version = function["python"]
        env_hash = self.envs.hash_for(version, requirements)
        if self.envs.is_ready(env_hash) or (not requirements and version == running_version()):
            run_build(self.backend, function)
            return
        with open(self.log_path(fid), "a") as log:
            log.write("Starting the build process.\n")
            log.flush()
            from skyrun.backends.local.launcher import _worker_env

            # SKYRUN_HOME is on the command line so that whoever cleans up the processes
            # of a home finds this one too.
            proc = subprocess.Popen(
                [sys.executable, "-m", "skyrun.backends.local.build_process",
                 "--home", str(self.home), "--function", fid],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                close_fds=True, start_new_session=True, env=_worker_env())
        _children.append(proc)
        self.pid_path(fid).write_text(str(proc.pid))

    def live_log(self, function: dict[str, Any]) -> str:
        """The output of a build in progress (empty if there is none)."""
        try:
            return self.log_path(function["id"]).read_text(errors="replace")
        except OSError:
            return ""

    def executable(self, function: dict[str, Any]) -> str:
        """The interpreter of the Function's environment."""
        env_hash = function.get("env_hash")
        if not env_hash or env_hash == "base":  # recorded before environments existed
            return find_interpreter(function["python"]) or sys.executable
        python = self.envs.python(env_hash)
        if not python.exists():
            raise RuntimeError(f"the environment {env_hash} of Function {function['id']} is "
                               "missing (was it removed by hand?)")
        return str(python)

    def remove(self, function: dict[str, Any]) -> None:
        """Delete the Function's environment if no other Function uses it."""
        for path in (self.log_path(function["id"]), self.pid_path(function["id"])):
            path.unlink(missing_ok=True)
        env_hash = function.get("env_hash")
        if not env_hash or env_hash == "base":
            return
        others = [r for r in self.backend.store.query(FUNCTION, None, [])
                  if r.get("env_hash") == env_hash and r["id"] != function["id"]]
        if not others:
            self.envs.remove(env_hash)

    def prune(self) -> list[str]:
        """Delete the environments no Function uses; see ``envs.prune``."""
        from skyrun.backends.local.envs import prune

        return prune(self.backend)

    # -- files --------------------------------------------------------------------------
    def log_path(self, function_id: str) -> Path:
        """The live build log of a Function."""
        return self.builds / f"{function_id}.log"

    def pid_path(self, function_id: str) -> Path:
        """Where the pid of a Function's build process is recorded."""
        return self.builds / f"{function_id}.pid"


def run_build(backend: LocalBackend, function: dict[str, Any]) -> None:
    """Build or reuse the Function's environment, then record the outcome: the build log
    blob and ``ready``/``stopped`` or ``build_failed``."""
    builder: LocalBuilder = backend.builder
    log_path = builder.log_path(function["id"])
    version = function["python"]
    requirements = list(function.get("requirements") or [])
    with open(log_path, "a") as log:
        try:
            interpreter = find_interpreter(version)
            if interpreter is None:
                raise BuildError(f"Python {version} is not available on this machine; "
                                 f"available: {', '.join(available_images())}")
            env_hash = builder.envs.hash_for(version, requirements)
            log.write(f"Python {version}: {interpreter}\nEnvironment: {env_hash}\n")
            log.flush()
            # The lock is held until the Function records the environment, so that a
            # concurrent prune cannot remove it in between.
            with builder.envs.lock(env_hash):
                if builder.envs.is_ready(env_hash):
                    log.write(f"Reusing the existing environment {env_hash}; nothing to "
                              "install.\n")
                else:
                    builder.envs.build(env_hash, interpreter, version, requirements, log)
                log.write("Environment ready.\n")
                log.flush()
                _finish(backend, function, True, log_path, {"env_hash": env_hash})
                return
        except BuildError as exc:
            log.write(f"Build failed: {exc}.\n")
        except Exception as exc:
            log.write(traceback.format_exc())
            log.write(f"Build failed: unexpected error: {exc}.\n")
    _finish(backend, function, False, log_path, {})


def _finish(backend: LocalBackend, function: dict[str, Any], ok: bool, log_path: Path,
            changes: dict[str, Any]) -> None:
    text = log_path.read_text(errors="replace")
    if backend.store.get_function(function["id"]) is not None:  # not deleted meanwhile
        lifecycle.finish_build(backend, function, ok, text, changes=changes)
    log_path.unlink(missing_ok=True)


def _reap() -> None:
    # Build processes are our children until we exit: collect those that ended.
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)
