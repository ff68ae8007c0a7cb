"""Staged copies of the repository's sources, for assets that need only part of it.

An asset of the whole repository would hash (and upload) tests, benchmarks, node_modules
and cdk.out itself; a staged copy holds just what the Lambda functions and the image
builds run, so an unrelated change does not redeploy them. Copies are taken once per
process and removed when it exits.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

#: The repository root: infra/skyrun_infra/sources.py is three levels below it.
REPO_ROOT = Path(__file__).resolve().parents[2]

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")


def _stage(kind: str, entries: dict[str, Path]) -> Path:
    target = Path(tempfile.mkdtemp(prefix=f"skyrun-{kind}-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    for name, source in entries.items():
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=_IGNORE)
        elif source.is_file():
            shutil.copy2(source, target / name)
    return target


@functools.cache
def lambda_code() -> Path:
    """The Lambda functions' code: the ``skyrun`` and ``skyrun_runtime`` packages, flat.

    Flat, so that both packages are importable from the Lambda task root without
    setting ``PYTHONPATH``.
    """
    return _stage(
        "lambda",
        {
            "skyrun": REPO_ROOT / "sdk" / "skyrun",
            "skyrun_runtime": REPO_ROOT / "runtime" / "skyrun_runtime",
        },
    )


@functools.cache
def build_context() -> Path:
    """The image build context: what ``runtime/Dockerfile`` copies, at the same paths."""
    return _stage(
        "build",
        {
            name: REPO_ROOT / name
            for name in ("pyproject.toml", "README.md", "LICENSE", "sdk", "runtime")
        },
    )
