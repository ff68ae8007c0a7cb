"""AWS errors reach callers as skyrun exceptions."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, NoCredentialsError, ReadTimeoutError

from skyrun import exceptions
from skyrun.backends.aws.errors import translate, translated
from skyrun.backends.aws.store import DynamoStore


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "AnyOperation")


@pytest.mark.parametrize("code, kind", [
    ("AccessDenied", exceptions.ForbiddenError),
    ("AccessDeniedException", exceptions.ForbiddenError),
    ("ExpiredToken", exceptions.UnauthorizedError),
    ("ExpiredTokenException", exceptions.UnauthorizedError),
    ("UnrecognizedClientException", exceptions.UnauthorizedError),
    ("InvalidClientTokenId", exceptions.UnauthorizedError),
    ("ThrottlingException", exceptions.RateLimitError),
    ("ProvisionedThroughputExceededException", exceptions.RateLimitError),
    ("SlowDown", exceptions.RateLimitError),
    ("ConditionalCheckFailedException", exceptions.ConflictError),
    ("InternalServerError", exceptions.ServerError),
    ("ResourceNotFoundException", exceptions.ServerError),
])
def test_codes(code, kind):
    error = translate(client_error(code))
    assert type(error) is kind
    assert code in str(error)


def test_other_failures():
    assert isinstance(translate(NoCredentialsError()), exceptions.UnauthorizedError)
    assert isinstance(translate(ReadTimeoutError(endpoint_url="http://x")),
                      exceptions.GatewayTimeoutError)
    assert isinstance(translate(client_error("Gateway", 504)), exceptions.GatewayTimeoutError)
    assert translate(client_error("SlowDown")).retry_after is None
    plain = ValueError("x")
    assert translate(plain) is plain


def test_adapters_raise_skyrun_exceptions(aws_outputs):
    from skyrun.backends.aws.session import new_client

    store = DynamoStore(new_client("dynamodb"), "no-such-table", "no-such-table",
                        "no-such-table", "no-such-table")
    with pytest.raises(exceptions.ServerError, match="ResourceNotFoundException"):
        store.get_function("x")

    @translated
    def gen():
        yield 1
        raise client_error("AccessDenied")

    with pytest.raises(exceptions.ForbiddenError):
        list(gen())
