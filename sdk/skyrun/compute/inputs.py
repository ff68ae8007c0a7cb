"""Checking and encoding job inputs: JSON only, 256 KiB of args and kwargs at most."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping

from skyrun.common.jsontext import JSONText, many_encoder
from skyrun.compute.environment import reserved_in, reserved_message
from skyrun.domain.limits import MAX_ARGS_BYTES
from skyrun.exceptions import ValidationError

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=True, separators=(",", ":"))
_dumps = _ENCODER.encode


def _encode(index: int, what: str, value, dumps: Callable[[object], str] = _dumps,
            wrap: Callable[[str], str] = JSONText) -> str:
    try:
        text = dumps(value)
        # JSON turns dict keys 1, None, True into "1", "null", "true": the job would get
        # other inputs than were given, so such keys are refused. Only text with an
        # object in it can have one.
        if "{" in text:
            _check_keys(value)
        if not text.isascii():
            _check_text(text)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        msg = f"job {index}: {what} are not JSON serializable: {exc}"
        raise ValidationError(msg, errors={what: [msg]})
    return wrap(text)


def _check_keys(value) -> None:
    """``TypeError`` for a dict key that is not a str, anywhere in ``value``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"keys must be str, got {key!r} "
                                    f"({type(key).__name__}), which JSON would turn into "
                                    "a str")
                stack.append(inner)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _check_text(text: str) -> None:
    """``ValueError`` for a lone surrogate, which UTF-8 (and so the stores) cannot hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start:exc.end]
        raise ValueError(f"text holds the lone surrogate {bad!r}, which UTF-8 cannot "
                         "encode") from None


def encode_all(all_args: list, all_kwargs: list | None,
               all_environments: list | None) -> tuple[list, list, list]:
    """:func:`encode_inputs` of every job of a submission, in order, as three lists
    (args, kwargs, environments), the args and kwargs as plain JSON text (what a
    :class:`skyrun.backends.records.NewJobs` holds); the first job that breaks a rule
    raises."""
    dumps = many_encoder(_ENCODER)  # as _dumps, its C encoder made once for all jobs
    n = len(all_args)
    out_args: list = [None] * n
    out_kwargs: list = [None] * n
    out_envs: list = [None] * n
    for i in range(n):
        out_args[i], out_kwargs[i], out_envs[i] = encode_inputs(
            i, all_args[i], all_kwargs[i] if all_kwargs else None,
            all_environments[i] if all_environments else None, dumps, str)
    return out_args, out_kwargs, out_envs


def encode_inputs(index: int, args, kwargs, environment,
                  dumps: Callable[[object], str] = _dumps,
                  wrap: Callable[[str], str] = JSONText) -> tuple:
    """``(args, kwargs, environment)`` encoded for storage (the JSON text as ``wrap``
    makes it: :class:`JSONText`); ``ValidationError`` naming the job's index when one
    breaks the rules."""
    args_json = _encode(index, "args", args, dumps, wrap) if args is not None else None
    kwargs_json = (_encode(index, "kwargs", kwargs, dumps, wrap) if kwargs is not None
                   else None)
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
