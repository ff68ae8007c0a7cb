"""boto3 clients with skyrun's retry policy.

Every client retries throttling and transient errors in botocore's ``standard`` mode,
up to :data:`MAX_ATTEMPTS` attempts with exponential backoff and jitter; only what
outlasts them reaches the caller (as ``RateLimitError`` and friends). ``AWS_ENDPOINT_URL``
(and the per-service ``AWS_ENDPOINT_URL_<SERVICE>``) is honoured by botocore itself.
"""

from __future__ import annotations

import os

MAX_ATTEMPTS = 10
#: Enough connections for the parallel requests of bulk calls (see ``dynamo.FAN_OUT``).
MAX_POOL_CONNECTIONS = 50
DEFAULT_REGION = "us-east-1"


def client_config():
    """The botocore configuration of skyrun's clients."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
                  max_pool_connections=MAX_POOL_CONNECTIONS,
                  connect_timeout=10, read_timeout=60)


def region(session=None) -> str:
    """The region: the session's, else ``AWS_REGION``/``AWS_DEFAULT_REGION``, else
    us-east-1 (as the AWS CLI would fail without one, we pick the default)."""
    name = session.region_name if session is not None else None
    return (name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION)


def new_client(service: str, session=None):
    """A new client of ``service`` from ``session`` (default: a fresh boto3 session)."""
    import boto3

    session = session or boto3.session.Session()
    return session.client(service, region_name=region(session), config=client_config())
