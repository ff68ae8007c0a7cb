"""A Function's limits: ``Cpus``, ``Memory``, the allowed combinations, the defaults and
the bounds of every setting, and the image names (``python3.X:latest``).

Pure rules with no I/O, shared by the SDK's checks, the adapters (an image's Python
version; the namespace's active limit) and the worker.
"""

from __future__ import annotations

import re
import sys

DEFAULT_CPUS = 1.0
DEFAULT_MEMORY = 2048
DEFAULT_MAXIMUM_CONCURRENCY = 10
DEFAULT_TIMEOUT = 3600
DEFAULT_RETRY_COUNT = 0
MAX_CONCURRENCY = 1000
MAX_TIMEOUT = 14 * 24 * 3600
MAX_RETRY_COUNT = 10
NAMESPACE_ACTIVE_LIMIT = 1000
MAX_ARGS_BYTES = 262_144


def _steps(lo: int, hi: int, step: int) -> list[int]:
    return list(range(lo, hi + 1, step))


# The Fargate task sizes: every cpus value with the memory (MB) it may be paired with.
ALLOWED_MEMORY: dict[float, list[int]] = {
    0.25: [512, 1024, 2048],
    0.5: [1024, 2048, 3072, 4096],
    1.0: _steps(2048, 8192, 1024),
    2.0: _steps(4096, 16384, 1024),
    4.0: _steps(8192, 30720, 1024),
    8.0: _steps(16384, 61440, 4096),
    16.0: _steps(32768, 122880, 8192),
}


def _fmt(value: float) -> str:
    """``value`` written short ("1", "0.25") but exactly: an error message must name the
    value given, and ``1.0000001`` is not ``1``."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


class Cpus(float):
    """vCPUs: ``Cpus("8VCPUs") == 8.0``; strings keep only their digits and dots."""

    def __new__(cls, value: str | float) -> Cpus:
        if isinstance(value, str):
            digits = re.sub(r"[^0-9.]", "", value)
            try:
                return super().__new__(cls, float(digits))
            except ValueError:
                raise ValueError(f"Unable to convert cpus to a number: {value}")
        return super().__new__(cls, float(value))


_MB = re.compile(r"^\s*([0-9]+)\s*(mb|mi|mib)?\s*$", re.IGNORECASE)
_GB = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(gb|gi|gib)\s*$", re.IGNORECASE)


class Memory(int):
    """Memory in MB (1 GB = 1024 MB): ``Memory("1.5GB") == 1536``."""

    def __new__(cls, value: str | float) -> Memory:
        if isinstance(value, bool):
            raise ValueError(f"Unable to convert memory to megabytes: {value}")
        try:
            if isinstance(value, (int, float)):
                return super().__new__(cls, int(value))
            if isinstance(value, str):
                m = _MB.match(value)
                if m:
                    return super().__new__(cls, int(m.group(1)))
                m = _GB.match(value)
                if m:
                    return super().__new__(cls, int(float(m.group(1)) * 1024))
        except (ValueError, OverflowError):
            pass  # NaN, or infinite: no number of megabytes
        raise ValueError(f"Unable to convert memory to megabytes: {value}")


def check_resources(cpus: float, memory: int, errors: dict[str, list[str]]) -> None:
    """Add the problems with a (cpus, memory) pair to ``errors``."""
    allowed = ALLOWED_MEMORY.get(float(cpus))
    if allowed is None:
        errors.setdefault("cpus", []).append(
            f"{_fmt(cpus)} is not an allowed value; allowed: "
            + ", ".join(_fmt(c) for c in ALLOWED_MEMORY))
        return
    if int(memory) not in allowed:
        errors.setdefault("memory", []).append(
            f"{int(memory)} MB is not allowed with cpus={_fmt(cpus)}; allowed for "
            f"cpus={_fmt(cpus)}: " + ", ".join(str(m) for m in allowed))


def check_int(field: str, value: object, lo: int, hi: int, errors: dict[str, list[str]],
              unit: str = "") -> None:
    """Add a problem to ``errors`` unless ``value`` is an int within ``lo``..``hi``."""
    if isinstance(value, bool) or not isinstance(value, int):
        errors.setdefault(field, []).append(
            f"{value!r} is not an integer; allowed: {lo} to {hi}{unit}")
    elif not lo <= value <= hi:
        errors.setdefault(field, []).append(f"{value} is out of range; allowed: {lo} to {hi}{unit}")


#: What an image name looks like, as an error message says it.
IMAGE_FORMAT = "python<major>.<minor>[:latest]"
_IMAGE = re.compile(r"^python(\d+)\.(\d+)(:latest)?$")


def image_python(image: str) -> tuple[int, int] | None:
    """``(major, minor)`` of ``python3.X[:latest]``; None for any other name."""
    m = _IMAGE.match(image) if isinstance(image, str) else None
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def default_image() -> str:
    """The image of the running interpreter."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}:latest"
