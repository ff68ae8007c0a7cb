"""Virtual environments of the local backend, one per environment hash, cached under
``$SKYRUN_HOME/envs``.

Layout::

    envs/<hash>/                a virtual environment (no pip, no system site-packages)
    envs/<hash>/skyrun-env.json written last: the environment is complete
    envs/<hash>.lock            held while the environment is built, reused or removed
    envs/_runtime/<py>-<digest> the skyrun runtime's packages for one Python version

An environment sees the standard library, its requirements, and the runtime packages
(cloudpickle and the SDK's other dependencies), added through a ``.pth`` file after the
requirements are installed, so a requirement's own version of such a package wins. The
SDK and the worker runtime themselves come from the worker's ``PYTHONPATH``, so the
executor runs the same skyrun as its worker. Packages of the submitting host are not
visible.

``prune()`` removes the environments no Function uses.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from skyrun.backends.local.interpreters import running_version
from skyrun.common.sources import source_paths
from skyrun.domain.environments import environment_hash, normalize_requirements

if TYPE_CHECKING:
    import importlib.metadata

    from skyrun.backends.local.backend import LocalBackend

# The distributions the runtime needs inside every environment (with their dependencies):
# the SDK's own dependencies, and boto3 when the host has it, so jobs can reach the AWS
# backend too.
RUNTIME_DISTRIBUTIONS = ("cloudpickle", "psutil", "packaging", "tqdm")
OPTIONAL_RUNTIME_DISTRIBUTIONS = ("boto3",)
MARKER = "skyrun-env.json"
PTH_NAME = "_skyrun_runtime.pth"


class BuildError(Exception):
    """A step of a build failed; the message says which."""


# -- the runtime packages ---------------------------------------------------------------
def _closure(names: Iterable[str]) -> dict[str, importlib.metadata.Distribution]:
    # Loaded here, not with the module: only builds need it, and a worker's start would
    # pay for it (20 ms with the email package it loads).
    import importlib.metadata

    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    # A TypedDict of str values; evaluate() takes a plain mapping with "extra" added.
    marker_env: dict[str, str] = dict(cast("dict[str, str]", default_environment()), extra="")
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[key] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(marker_env):
                todo.append(req.name)
    return found


def runtime_distributions() -> dict[str, importlib.metadata.Distribution]:
    """The host's distributions that make up the runtime, by normalized name."""
    optional = [n for n in OPTIONAL_RUNTIME_DISTRIBUTIONS if _installed(n)]
    return _closure([*RUNTIME_DISTRIBUTIONS, *optional])


def _installed(name: str) -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def runtime_pins() -> list[str]:
    """``name==version`` of every runtime distribution, sorted."""
    return sorted(f"{d.metadata['Name']}=={d.version}" for d in runtime_distributions().values())


# -- the cache --------------------------------------------------------------------------
class EnvironmentCache:
    """The environments under one ``SKYRUN_HOME``."""

    def __init__(self, home: Path):
        self.root = Path(home) / "envs"

    def hash_for(self, python: str, requirements: list[str]) -> str:
        """The environment hash of a Python version and requirements on this host."""
        return environment_hash(python, requirements, runtime_pins())

    def path(self, env_hash: str) -> Path:
        """The environment's directory."""
        return self.root / env_hash

    def python(self, env_hash: str) -> Path:
        """The environment's interpreter."""
        return self.path(env_hash) / "bin" / "python"

    def is_ready(self, env_hash: str) -> bool:
        """Whether the environment was completely built."""
        return (self.path(env_hash) / MARKER).is_file()

    def info(self, env_hash: str) -> dict[str, Any] | None:
        """What the environment was built from, or None if it is not ready."""
        try:
            info: dict[str, Any] = json.loads((self.path(env_hash) / MARKER).read_text())
            return info
        except (OSError, ValueError):
            return None

    def hashes(self) -> list[str]:
        """The hashes of every environment directory, complete or not."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith("_"))

    @contextmanager
    def lock(self, name: str, blocking: bool = True) -> Iterator[bool]:
        """Hold the lock of environment ``name`` (an exclusive file lock, so builds of
        one hash in several processes wait for each other). Yields False if not
        ``blocking`` and someone else holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{name}.lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- building -----------------------------------------------------------------------
    def build(self, env_hash: str, interpreter: str, version: str, requirements: list[str],
              log: TextIO) -> None:
        """Create the environment (the caller holds its lock). Raises ``BuildError``."""
        target = self.path(env_hash)
        if target.exists():
            log.write(f"Removing the incomplete environment {env_hash} of an earlier build.\n")
            shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._build(target, env_hash, interpreter, version, requirements, log)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)  # a later build starts afresh
            raise

    def _build(self, target: Path, env_hash: str, interpreter: str, version: str,
               requirements: list[str], log: TextIO) -> None:
        started = time.monotonic()
        log.write(f"Creating the virtual environment {target} with {interpreter}\n")
        _run([interpreter, "-m", "venv", "--without-pip", str(target)], log,
             "creating the virtual environment")
        python = str(self.python(env_hash))
        requirements = normalize_requirements(requirements)
        if requirements:
            req_file = target / "requirements.txt"
            req_file.write_text("\n".join(requirements) + "\n")
            log.write(f"Installing {len(requirements)} requirement line(s):\n")
            for line in requirements:
                log.write(f"  {line}\n")
            _run(_pip(python) + ["install", "-r", str(req_file)], log,
                 "installing the requirements with pip")
        else:
            log.write("No requirements to install.\n")
        runtime = self.runtime_dir(version, interpreter, log)
        site = _site_packages(python)
        (Path(site) / PTH_NAME).write_text(str(runtime) + "\n")
        log.write("Checking that the skyrun runtime imports in the environment.\n")
        env = _clean_env(PYTHONPATH=os.pathsep.join(source_paths()))
        _run([python, "-c", "import cloudpickle, skyrun_runtime.executor, skyrun.compute.result"],
             log, "importing the skyrun runtime in the environment", env=env)
        (target / MARKER).write_text(json.dumps({
            "hash": env_hash, "python": version, "interpreter": interpreter,
            "requirements": requirements, "runtime": str(runtime), "created": time.time(),
        }))
        log.write(f"Environment {env_hash} built in {time.monotonic() - started:.1f} s.\n")

    def runtime_dir(self, version: str, interpreter: str, log: TextIO) -> Path:
        """The directory holding the runtime packages for ``version``, made if missing:
        links to the host's packages for the running version, a pip install otherwise."""
        pins = runtime_pins()
        digest = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
        target = self.root / "_runtime" / f"{version}-{digest}"
        with self.lock(f"_runtime-{version}-{digest}"):
            if (target / MARKER).is_file():
                return target
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            if version == running_version():
                log.write("Linking the runtime packages of this interpreter: "
                          f"{', '.join(pins)}\n")
                _link_distributions(target)
            else:
                log.write(f"Installing the runtime packages for Python {version}: "
                          f"{', '.join(pins)}\n")
                _run(_pip(interpreter) + ["install", "--target", str(target), *pins], log,
                     f"installing the skyrun runtime packages for Python {version}")
            (target / MARKER).write_text(json.dumps({"pins": pins, "python": version}))
        return target

    # -- removing -----------------------------------------------------------------------
    def remove(self, env_hash: str, blocking: bool = False) -> bool:
        """Delete an environment unless it is being built or used by a build right now.
        Returns whether it was removed."""
        with self.lock(env_hash, blocking=blocking) as held:
            if not held:
                return False
            shutil.rmtree(self.path(env_hash), ignore_errors=True)
        try:
            (self.root / f"{env_hash}.lock").unlink()
        except OSError:
            pass
        return True

    def prune_runtimes(self) -> list[str]:
        """Delete runtime directories that no remaining environment uses."""
        folder = self.root / "_runtime"
        if not folder.is_dir():
            return []
        used = {(self.info(h) or {}).get("runtime") for h in self.hashes()}
        removed = []
        for runtime in folder.iterdir():
            if runtime.is_dir() and str(runtime) not in used:
                with self.lock(f"_runtime-{runtime.name}", blocking=False) as held:
                    if held:
                        shutil.rmtree(runtime, ignore_errors=True)
                        removed.append(runtime.name)
                (self.root / f"_runtime-{runtime.name}.lock").unlink(missing_ok=True)
        return removed


def _link_distributions(target: Path) -> None:
    """Symlink the top-level files and folders of each runtime distribution (code and
    metadata) into ``target``, so exactly those packages become importable."""
    for dist in runtime_distributions().values():
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in sorted(tops):
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            source = Path(str(dist.locate_file(top)))
            link = target / top
            if source.exists() and not link.exists():
                link.symlink_to(source)


def _pip(python: str) -> list[str]:
    # The host's pip installs into the environment, which then needs no pip of its own.
    return [sys.executable, "-m", "pip", "--python", python, "--no-input",
            "--disable-pip-version-check"]


def _site_packages(python: str) -> str:
    out = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         capture_output=True, text=True, env=_clean_env(), check=True)
    return out.stdout.strip()


def _clean_env(**extra: str) -> dict[str, str]:
    # The build must not see the SDK user's Python settings.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PIP_USER")}
    env.update(PYTHONNOUSERSITE="1", **extra)
    return env


def _run(command: list[str], log: TextIO, what: str, env: dict[str, Any] | None = None) -> None:
    """Run a build step, its output going to the log as it comes."""
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=env if env is not None else _clean_env())
    assert proc.stdout is not None  # stdout=PIPE
    for line in proc.stdout:
        log.write(line)
        log.flush()
    code = proc.wait()
    if code != 0:
        raise BuildError(f"{what} failed (exit status {code})")


def prune(backend: LocalBackend | None = None) -> list[str]:
    """Delete the environments that no Function of this ``SKYRUN_HOME`` uses (any
    namespace), skipping those being built or reused right now; returns their hashes.
    ``backend`` defaults to the embedded backend of ``$SKYRUN_HOME``."""
    from skyrun.backends.ports import FUNCTION

    if backend is None:
        # Only the store is needed: open it, not a whole backend (whose builder is this).
        from skyrun import config
        from skyrun.backends.local.database import Database
        from skyrun.backends.local.store import SQLiteStore

        home = config.home()
        store = SQLiteStore(Database.in_home(home))
    else:
        home, store = backend.home, backend.store
    cache = EnvironmentCache(home)
    used = {record.get("env_hash") for record in store.query(FUNCTION, None, [])}
    removed = [h for h in cache.hashes() if h not in used and cache.remove(h)]
    cache.prune_runtimes()
    return removed
