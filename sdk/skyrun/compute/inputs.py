"""Checking and encoding job inputs: JSON only, 256 KiB of args and kwargs at most."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from skyrun.backends.ports import JSONText
from skyrun.compute.environment import reserved_in, reserved_message
from skyrun.compute.resources import MAX_ARGS_BYTES
from skyrun.exceptions import ValidationError

_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=True, separators=(",", ":")).encode


def _encode(index: int, what: str, value) -> JSONText:
    try:
        return JSONText(_dumps(value))
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        msg = f"job {index}: {what} are not JSON serializable: {exc}"
        raise ValidationError(msg, errors={what: [msg]})


def encode_inputs(index: int, args, kwargs, environment) -> tuple:
    """``(args, kwargs, environment)`` encoded for storage; ``ValidationError`` naming
    the job's index when one breaks the rules."""
    args_json = _encode(index, "args", args) if args is not None else None
    kwargs_json = _encode(index, "kwargs", kwargs) if kwargs is not None else None
    chars = (len(args_json) if args_json else 0) + (len(kwargs_json) if kwargs_json else 0)
    # A character takes at most 4 bytes in UTF-8: only long inputs need an exact count.
    size = chars if chars * 4 <= MAX_ARGS_BYTES else \
        (len(args_json.encode()) if args_json else 0) + \
        (len(kwargs_json.encode()) if kwargs_json else 0)
    if size > MAX_ARGS_BYTES:
        msg = (f"job {index}: args and kwargs take {size} bytes, more than the "
               f"{MAX_ARGS_BYTES}-byte (256 KiB) limit; store large inputs as Blobs and pass "
               "their names instead")
        raise ValidationError(msg, errors={"args": [msg]})
    if environment is not None:
        if not isinstance(environment, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in environment.items()):
            msg = (f"job {index}: environment are not JSON serializable: it must map str to "
                   f"str, got {environment!r}")
            raise ValidationError(msg, errors={"environment": [msg]})
        reserved = reserved_in(environment)
        if reserved:
            msg = f"job {index}: environment {reserved_message(reserved)}"
            raise ValidationError(msg, errors={"environment": [msg]})
        environment = dict(environment)
    return args_json, kwargs_json, environment


def as_args(item) -> list:
    """A ``map`` item as positional arguments: sequences and iterators spread, anything
    else is the single argument."""
    if isinstance(item, (list, tuple, range)) or isinstance(item, Iterator):
        return list(item)
    return [item]


def as_mapping(item, what: str, index: int) -> dict | None:
    """A ``map`` kwargs/environments item as a dict."""
    if item is None:
        return None
    if isinstance(item, Mapping):
        return dict(item)
    try:
        return dict(item)
    except (TypeError, ValueError):
        msg = f"job {index}: {what} must be a mapping or (key, value) pairs, got {item!r}"
        raise ValidationError(msg, errors={what: [msg]})
