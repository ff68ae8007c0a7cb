"""The checks of a Function's settings before anything is stored: every run setting
against its bounds (:mod:`skyrun.domain.limits`), the image name and the environment."""

from __future__ import annotations

from skyrun.compute.environment import reserved_in, reserved_message
from skyrun.domain.limits import (
    IMAGE_FORMAT,
    MAX_CONCURRENCY,
    MAX_RETRY_COUNT,
    MAX_TIMEOUT,
    check_int,
    check_resources,
    image_python,
)
from skyrun.exceptions import ValidationError


def parse_image(image: str) -> tuple[int, int]:
    """``(major, minor)`` of ``python3.X[:latest]``; ``ValidationError`` otherwise."""
    version = image_python(image)
    if version is None:
        raise ValidationError.single("image", f"must be {IMAGE_FORMAT}")
    return version


def validate_settings(values: dict, errors: dict[str, list[str]]) -> None:
    """Check the run settings of a Function record (every field present in ``values``)."""
    if "cpus" in values or "memory" in values:
        check_resources(values["cpus"], values["memory"], errors)
    if "maximum_concurrency" in values:
        check_int("maximum_concurrency", values["maximum_concurrency"], 1, MAX_CONCURRENCY,
                  errors)
    if "timeout" in values:
        check_int("timeout", values["timeout"], 1, MAX_TIMEOUT, errors, " seconds")
    if "retry_count" in values:
        check_int("retry_count", values["retry_count"], 0, MAX_RETRY_COUNT, errors)
    if "name" in values and (not isinstance(values["name"], str) or not values["name"]):
        errors.setdefault("name", []).append(f"{values['name']!r} is not a non-empty string")
    for flag in ("enabled", "auto_start"):
        if flag in values and not isinstance(values[flag], bool):
            errors.setdefault(flag, []).append(f"{values[flag]!r} is not a bool")
    if "environment" in values:
        env = values["environment"]
        if env is not None and not (isinstance(env, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
            errors.setdefault("environment", []).append(
                f"{env!r} is not a mapping of str to str")
        elif reserved_in(env):
            errors.setdefault("environment", []).append(reserved_message(reserved_in(env)))
