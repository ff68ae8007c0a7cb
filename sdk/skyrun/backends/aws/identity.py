"""The caller's identity on AWS: the org is the account id, the user the principal's name.

``arn:aws:iam::123456789012:user/dev/alice`` → ``alice``;
``arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com`` → the session name
``alice@example.com``; ``arn:aws:sts::123456789012:federated-user/bob`` → ``bob``;
``arn:aws:iam::123456789012:root`` → ``root``. :class:`skyrun.auth.Auth` sanitizes the
parts (``alice_example.com``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

_cache: dict[tuple[Any, ...], tuple[str, str]] = {}
_lock = threading.Lock()


def principal_name(arn: str) -> str:
    """The user part of the namespace for a caller ARN (GetCallerIdentity's ``Arn``)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    resource = parts[5]
    if resource == "root":
        return "root"
    kind, _, rest = resource.partition("/")
    segments = [s for s in rest.split("/") if s]
    if kind == "assumed-role" and len(segments) >= 2:
        return segments[-1]  # the role session name
    if kind in ("user", "federated-user") and segments:
        return segments[-1]  # the name after any path
    return segments[-1] if segments else resource


def account_of(arn: str) -> str:
    """The account id of an ARN."""
    return arn.split(":", 5)[4]


def caller_identity(sts: Any) -> tuple[str, str]:
    """``(account id, principal name)`` from STS GetCallerIdentity."""
    reply = sts.get_caller_identity()
    return str(reply["Account"]), principal_name(reply["Arn"])


def cached_caller_identity() -> tuple[str, str]:
    """:func:`caller_identity` with the default credentials, once per process and
    credential source."""
    from skyrun.backends.aws.errors import translate
    from skyrun.backends.aws.session import new_client

    source = tuple(os.environ.get(k) for k in (
        "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
        "AWS_ROLE_ARN", "AWS_DEFAULT_REGION", "AWS_REGION"))
    with _lock:
        if source in _cache:
            return _cache[source]
    try:
        identity = caller_identity(new_client("sts"))
    except Exception as exc:
        raise translate(exc) from exc
    with _lock:
        _cache[source] = identity
    return identity
