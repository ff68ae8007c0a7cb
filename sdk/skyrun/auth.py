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

    def __init__(self, org: str | None = None, user: str | None = None):
        if org is None:
            org = os.environ.get("SKYRUN_ORG") or "local"
        if user is None:
            user = os.environ.get("SKYRUN_USER") or _login_name()
        self._org = sanitize(org)
        self._user = sanitize(user)

    @classmethod
    def get_default_auth(cls) -> Auth:
        """The current identity, read from the environment at each call."""
        return cls._default or cls()

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


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return f"uid{os.getuid()}"
