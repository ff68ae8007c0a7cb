"""``ComputeClient``: the handle to one backend, for compute and blobs alike.

It sits below both the compute and the catalog APIs, and is where a process opens its
backends (``open_backend``): the only module above the adapters that names them.
"""

from __future__ import annotations

import threading

from skyrun import config
from skyrun.auth import Auth

_backends: dict = {}
_lock = threading.Lock()


def open_backend(name: str, auth: Auth | None = None):
    """The backend object for ``name`` (shared by clients of the same place). It needs
    no identity (``auth`` is accepted and unused): a worker opens its backend without
    asking AWS who it is."""
    if name == "local":
        from skyrun.backends.local import LocalBackend

        home = config.home()
        key = ("local", str(home))
        with _lock:
            if key not in _backends:
                _backends[key] = LocalBackend(home)
            return _backends[key]
    if name == "aws":
        from skyrun.backends.aws.backend import AwsBackend

        key = aws_backend_key()
        with _lock:
            if key not in _backends:
                _backends[key] = AwsBackend.from_environment()
            return _backends[key]
    from skyrun.exceptions import ValidationError

    raise ValidationError.single("backend", f"{name!r} is not a backend; allowed: "
                                            f"{', '.join(config.BACKENDS)}")


def aws_backend_key() -> tuple:
    """What tells AWS deployments apart in this process: the deployment name, where the
    requests go, and any outputs given as variables."""
    import os

    from skyrun.backends.aws import resources
    from skyrun.backends.aws.backend import deployment_name

    outputs = tuple(os.environ.get(resources.environment_variable(k)) for k in resources.OUTPUTS)
    return ("aws", deployment_name(), os.environ.get("AWS_ENDPOINT_URL"),
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"), outputs)


class ComputeClient:
    """The handle to one backend.

    ``backend`` is ``"local"`` or ``"aws"`` (``None``: ``$SKYRUN_BACKEND``); ``auth``
    defaults to ``Auth.get_default_auth()``.
    """

    _default: ComputeClient | None = None

    def __init__(self, backend: str | None = None, auth: Auth | None = None):
        self.backend_name = config.backend_name(backend)
        self.auth = auth or Auth.get_default_auth(self.backend_name)
        self.backend = open_backend(self.backend_name)

    @property
    def namespace(self) -> str:
        """``"{org}:{user}"`` of the caller."""
        return self.auth.full_namespace

    @classmethod
    def get_default_client(cls) -> ComputeClient:
        """The default client, created on first use."""
        if cls._default is None:
            cls._default = cls()
        return cls._default

    @classmethod
    def set_default_client(cls, client: ComputeClient | None) -> None:
        """Replace the default client."""
        if client is not None and not isinstance(client, ComputeClient):
            raise ValueError("client must be an instance of ComputeClient")
        cls._default = client

    @staticmethod
    def resolve(client: ComputeClient | None) -> ComputeClient:
        """``client``, or the default client."""
        if client is None:
            return ComputeClient.get_default_client()
        if not isinstance(client, ComputeClient):
            raise ValueError("client must be an instance of ComputeClient")
        return client

    def __repr__(self) -> str:
        return f"ComputeClient(backend={self.backend_name!r}, namespace={self.namespace!r})"
