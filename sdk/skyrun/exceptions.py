"""Exceptions raised by skyrun, with the class names and hierarchy of the original client."""

from __future__ import annotations


class ClientError(Exception):
    """Base class of the errors caused by the caller or the stored state."""


class BadRequestError(ClientError):
    """A request cannot be carried out as given."""


class ValidationError(BadRequestError, ValueError):
    """Input rejected before anything was stored.

    The message holds one ``<field>: <message>`` line per problem; ``errors`` holds the
    same data as ``{field: [message, ...]}``.
    """

    def __init__(self, message: str | None = None, errors: dict[str, list[str]] | None = None):
        self.errors: dict[str, list[str]] = dict(errors or {})
        if message is None:
            message = "\n".join(
                f"{field}: {msg}" for field, msgs in self.errors.items() for msg in msgs
            )
        super().__init__(message)

    @classmethod
    def single(cls, field: str, message: str) -> ValidationError:
        """An error about one field, worded ``<field>: <message>``."""
        return cls(errors={field: [message]})


class NotFoundError(ClientError):
    """A Function, Job or Blob is missing."""


class ConflictError(ClientError):
    """The stored state forbids the operation."""


class ForbiddenError(ClientError):
    """The store denies access."""


class UnauthorizedError(ClientError):
    """Credentials are missing or expired (AWS)."""


class RateLimitError(ClientError):
    """Throttling continued after the SDK's retries."""

    def __init__(self, message: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(Exception):
    """An unexpected backend failure."""


class GatewayTimeoutError(ServerError):
    """A backend call timed out."""


# Kept so that imports written for the original keep working; skyrun never raises these.
class GoneError(ClientError):
    """Never raised; kept for porting."""


class MethodNotAllowedError(ClientError):
    """Never raised; kept for porting."""


class ProxyAuthenticationRequiredError(ClientError):
    """Never raised; kept for porting."""


__all__ = [
    "BadRequestError",
    "ClientError",
    "ConflictError",
    "ForbiddenError",
    "GatewayTimeoutError",
    "GoneError",
    "MethodNotAllowedError",
    "NotFoundError",
    "ProxyAuthenticationRequiredError",
    "RateLimitError",
    "ServerError",
    "UnauthorizedError",
    "ValidationError",
]
