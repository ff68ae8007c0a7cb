"""Identity: the org and user parts of the namespace that owns Functions, Jobs and Blobs."""

from __future__ import annotations

import getpass
import os
import re

_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]")


def sanitize(part: str) -> str:
    """Replace every character outside ``[a-zA-Z0-9._-]`` with ``_``."""
    return _UNSAFE.sub("_", part)


class Auth:
    """The caller's identity.

    ``payload["org"]`` is the org and ``namespace`` the user part; objects live in
    namespace ``f"{payload['org']}:{namespace}"``. On the local backend they come from
    ``SKYRUN_ORG`` (default ``local``) and ``SKYRUN_USER`` (default the OS login name).
    """

    _default: Auth | None = None

    def __init__(self, org: str | None = None, user: str | None = None,
                 backend: str | None = None):
        if org is None:
            org = os.environ.get("SKYRUN_ORG") or None
        if user is None:
            user = os.environ.get("SKYRUN_USER") or None
        if (org is None or user is None) and _backend(backend) == "aws":
            # On AWS the caller is who the credentials say: the account and the IAM
            # principal (an explicit org or user still wins, as inside a job).
            from skyrun.backends.aws.identity import cached_caller_identity

            account, name = cached_caller_identity()
            org = org if org is not None else account
            user = user if user is not None else name
        if org is None:
            org = "local"
        if user is None:
            user = _login_name()
        self._org = sanitize(org)
        self._user = sanitize(user)

    @classmethod
    def get_default_auth(cls, backend: str | None = None) -> Auth:
        """The current identity, read from the environment at each call (for
        ``backend``, default ``$SKYRUN_BACKEND``)."""
        return cls._default or cls(backend=backend)

    @property
    def payload(self) -> dict:
        """Claims of the identity; ``payload["org"]`` is always present."""
        return {"org": self._org, "sub": self._user}

    @property
    def namespace(self) -> str:
        """The user part of the namespace."""
        return self._user

    @property
    def full_namespace(self) -> str:
        """``"{org}:{user}"``, the namespace that owns the caller's objects."""
        return f"{self._org}:{self._user}"

    def __repr__(self) -> str:
        return f"Auth(org={self._org!r}, namespace={self._user!r})"


def _backend(explicit: str | None) -> str:
    from skyrun import config

    try:
        return config.backend_name(explicit)
    except ValueError:
        return "local"  # the client reports a bad SKYRUN_BACKEND; identity stays local


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return f"uid{os.getuid()}"
