"""AWS service errors as ``skyrun.exceptions``.

The adapters handle the errors that are part of their logic (a failed condition means
"no match" or a conflict, a missing object means None) where they occur; everything else
that escapes a public method goes through :func:`translate`, so callers only ever see
skyrun's exceptions (API 13).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from skyrun import exceptions

FORBIDDEN = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden",
    "AuthorizationError", "AllAccessDisabled",
})
UNAUTHORIZED = frozenset({
    "ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException",
    "InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "MissingAuthenticationToken", "IncompleteSignature", "TokenRefreshRequired",
    "InvalidToken",
})
THROTTLED = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "TooManyRequestsException", "SlowDown",
    "RequestThrottled", "RequestThrottledException", "LimitExceededException",
    "TransactionInProgressException",
})
CONDITION_FAILED = frozenset({"ConditionalCheckFailedException", "PreconditionFailed"})
#: DynamoDB's code for a write whose condition did not hold (``…Exception`` on a single
#: request; a cancelled transaction gives ``ConditionalCheckFailed`` per item).
CONDITION_CHECK_FAILED = "ConditionalCheckFailedException"


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def condition_failed(exc: BaseException) -> bool:
    """Whether a DynamoDB request failed because its condition did not hold."""
    return error_code(exc) == CONDITION_CHECK_FAILED


def unless_condition_fails(call: Callable[..., dict[str, Any]],
                           **request: Any) -> dict[str, Any] | None:
    """The reply of a conditional DynamoDB request, or None when its condition did not
    hold; any other error is raised. (Replies are dicts, so None says only that.)"""
    try:
        return call(**request)
    except ClientError as exc:
        if condition_failed(exc):
            return None
        raise


def cancellation_codes(exc: BaseException) -> list[str]:
    """The per-item reasons of a cancelled DynamoDB transaction ("None" where the item
    was fine)."""
    if not isinstance(exc, ClientError):
        return []
    reasons = exc.response.get("CancellationReasons") or []
    return [str(r.get("Code") or "None") for r in reasons]


def translate(exc: BaseException) -> BaseException:
    """The skyrun exception for an AWS error (``exc`` itself when it is not one)."""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return exceptions.UnauthorizedError(
            f"AWS credentials are missing: {exc}. Configure them as for the AWS CLI "
            "(environment variables, a profile, or an instance role)")
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return exceptions.GatewayTimeoutError(f"AWS request timed out: {exc}")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = f"{code}: {exc.response.get('Error', {}).get('Message', exc)}"
        if code in FORBIDDEN:
            return exceptions.ForbiddenError(message)
        if code in UNAUTHORIZED:
            return exceptions.UnauthorizedError(message)
        if code in THROTTLED:
            return exceptions.RateLimitError(message, retry_after=None)
        if code in CONDITION_FAILED:
            return exceptions.ConflictError(message)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 504:
            return exceptions.GatewayTimeoutError(message)
        return exceptions.ServerError(message)
    if isinstance(exc, BotoCoreError):
        return exceptions.ServerError(f"AWS request failed: {exc}")
    return exc


F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


def translated(fn: F) -> F:
    """Decorate a method so that AWS errors leave it as skyrun exceptions."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc) from exc
        return cast(F, generator)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
    return cast(F, wrapper)


def translate_errors(cls: C) -> C:
    """Class decorator: :func:`translated` on every public method."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, translated(member))
    return cls
