"""Finding the Python interpreter of an image (``python3.X[:latest]``) on this machine."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The oldest Python the skyrun runtime runs on (pyproject's requires-python).
MIN_PYTHON = (3, 10)
_PROBE = "import sys, venv; print('%d.%d' % sys.version_info[:2])"
_probed: dict[str, str | None] = {}


def running_version() -> str:
    """``major.minor`` of this interpreter."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _probe(executable: str) -> str | None:
    """The ``major.minor`` an executable really runs, or None if it does not run (a
    pyenv shim for a version that is not selected fails here, for example)."""
    if executable not in _probed:
        try:
            out = subprocess.run([executable, "-c", _PROBE], capture_output=True, text=True,
                                 timeout=20, stdin=subprocess.DEVNULL)
            _probed[executable] = out.stdout.strip() if out.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            _probed[executable] = None
    return _probed[executable]


def _candidates(version: str) -> list[str]:
    found = []
    which = shutil.which(f"python{version}")
    if which:
        found.append(which)
    for folder in ("/usr/bin", "/usr/local/bin"):
        found.append(os.path.join(folder, f"python{version}"))
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    # Newest patch release first: 3.12.10 sorts after 3.12.9.
    for folder in sorted(glob.glob(str(pyenv / f"{version}*")), reverse=True,
                         key=lambda p: [int(x) if x.isdigit() else -1
                                        for x in Path(p).name.split(".")]):
        if Path(folder).name.split(".")[:2] == version.split("."):
            found.append(os.path.join(folder, "bin", f"python{version}"))
    return [c for c in dict.fromkeys(found) if os.access(c, os.X_OK)]


def find_interpreter(version: str) -> str | None:
    """A Python executable of ``major.minor``: the running one if it matches, else
    ``python<major>.<minor>`` on PATH, in /usr/bin or /usr/local/bin, or a pyenv version."""
    if version == running_version():
        return sys.executable
    if tuple(int(x) for x in version.split(".")) < MIN_PYTHON:
        return None
    for candidate in _candidates(version):
        if _probe(candidate) == version:
            return candidate
    return None


def available_versions() -> list[str]:
    """Every ``major.minor`` an image can use on this machine, oldest first."""
    versions = {running_version()}
    names = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/local/bin"]:
        for path in glob.glob(os.path.join(folder, "python3.*")):
            names.add(Path(path).name[len("python"):])
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    names.update(".".join(Path(p).name.split(".")[:2]) for p in glob.glob(str(pyenv / "3.*")))
    for name in names:
        parts = name.split(".")
        if len(parts) == 2 and all(p.isdigit() for p in parts) and find_interpreter(name):
            versions.add(name)
    return sorted(versions, key=lambda v: tuple(int(x) for x in v.split(".")))


def available_images() -> list[str]:
    """The images this machine can run, as ``python3.X:latest``."""
    return [f"python{v}:latest" for v in available_versions()]
