"""The sandbox server's fault injection: each kind fails as AWS fails, narrowed rules
apply to their operation only, the sandbox's own clients are spared, and a transaction
retried after a lost response is not applied twice."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from skyrun.backends.aws.session import client_config
from skyrun.sandbox.faults import parse
from skyrun.sandbox.server import SandboxServer

TABLE = "faults"


@pytest.fixture(scope="module")
def server():
    srv = SandboxServer().start()
    srv.client("dynamodb").create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    srv.client("s3").create_bucket(Bucket="faults")
    yield srv
    srv.stop()


@pytest.fixture
def faults(server):
    def set_spec(spec):
        return server.set_faults(spec)

    yield set_spec
    server.set_faults(None)


def user_client(server, service, attempts=1):
    """A client as the SDK's, not one of the sandbox's own; no retries by default."""
    settings = {k: v for k, v in server.client_settings().items() if k != "config"}
    config = (Config(retries={"mode": "standard", "total_max_attempts": attempts},
                     read_timeout=10, connect_timeout=5) if attempts else client_config())
    return boto3.client(service, config=config, **settings)


def put(client, item_id, **extra):
    client.put_item(TableName=TABLE, Item={"id": {"S": item_id}}, **extra)


def stored(server, item_id) -> bool:
    return "Item" in server.client("dynamodb").get_item(TableName=TABLE,
                                                        Key={"id": {"S": item_id}})


def transaction(item_id):
    return [{"Put": {"TableName": TABLE, "Item": {"id": {"S": item_id}},
                     "ConditionExpression": "attribute_not_exists(id)"}}]


def test_the_spec_syntax():
    spec = parse("throttle=0.05,conflict=0.05,5xx=0.02,lost-response=0.01,"
                 "throttle@s3:PutObject=0.5,seed=7")
    assert spec.seed == 7
    assert spec.shares("dynamodb", "PutItem") == {"throttle": 0.05, "conflict": 0.05,
                                                  "5xx": 0.02, "lost-response": 0.01}
    assert spec.shares("s3", "putobject")["throttle"] == 0.5  # the most specific rule wins
    assert str(parse(str(spec))) == str(spec)
    for bad, message in [("throttle", "has no '=<share>'"),
                         ("slow=0.1", "'slow' is not a fault; allowed: throttle, conflict"),
                         ("5xx=2", "the share must be a number from 0 to 1"),
                         ("5xx=abc", "the share must be a number from 0 to 1"),
                         ("throttle=0.7,5xx=0.6", "add up to 1.3; at most 1"),
                         ("seed=x", "seed 'x' is not an integer")]:
        with pytest.raises(ValueError, match=message):
            parse(bad)


def test_throttles_as_dynamodb_s3_and_batch_do(server, faults):
    faults("throttle=1")
    codes = set()
    for _ in range(12):
        with pytest.raises(ClientError) as caught:
            put(user_client(server, "dynamodb"), "t")
        codes.add(caught.value.response["Error"]["Code"])
    assert codes == {"ThrottlingException", "ProvisionedThroughputExceededException"}
    with pytest.raises(ClientError) as caught:
        user_client(server, "s3").put_object(Bucket="faults", Key="k", Body=b"x")
    assert caught.value.response["Error"]["Code"] == "SlowDown"
    with pytest.raises(ClientError) as caught:
        user_client(server, "batch").describe_job_queues()
    assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert not stored(server, "t")
    report = server.fault_report()
    assert report["injected"] == {"throttle": 14}
    assert report["by_operation"]["throttle dynamodb.PutItem"] == 12


def test_conflicts_only_transactions(server, faults):
    faults("conflict=1")
    client = user_client(server, "dynamodb")
    put(client, "plain")  # not a transaction: never conflicts
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=transaction("tx") + transaction("tx2"))
    error = caught.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert sorted(r["Code"] for r in error["CancellationReasons"]) == ["None",
                                                                       "TransactionConflict"]
    assert stored(server, "plain") and not stored(server, "tx")


def test_server_errors_and_resets(server, faults):
    faults("5xx@dynamodb:PutItem=1")
    with pytest.raises(ClientError) as caught:
        put(user_client(server, "dynamodb"), "e")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] in (500, 503)
    user_client(server, "dynamodb").get_item(TableName=TABLE, Key={"id": {"S": "e"}})
    faults("reset@dynamodb=1")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        put(user_client(server, "dynamodb"), "r")
    assert not stored(server, "r")  # reset before it was served
    # The sandbox's own clients are spared.
    put(server.client("dynamodb"), "own")
    assert stored(server, "own")


def test_a_lost_response_is_served_and_a_retried_transaction_applies_once(server, faults):
    faults("lost-response@dynamodb=1")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        put(user_client(server, "dynamodb"), "lost")
    assert stored(server, "lost")  # done on the server, the answer lost
    # The SDK's client retries; botocore sends the same ClientRequestToken again, and
    # the transaction, already applied, answers success instead of a failed condition.
    faults("lost-response@dynamodb:TransactWriteItems=0.5,seed=3")
    client = user_client(server, "dynamodb", attempts=0)
    for _ in range(10):
        item_id = uuid.uuid4().hex
        client.transact_write_items(TransactItems=transaction(item_id))
        assert stored(server, item_id)
    assert server.fault_report()["injected"]["lost-response"] >= 1
    token = uuid.uuid4().hex
    plain = user_client(server, "dynamodb", attempts=1)
    faults(None)
    plain.transact_write_items(TransactItems=transaction("once"), ClientRequestToken=token)
    plain.transact_write_items(TransactItems=transaction("once"), ClientRequestToken=token)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        plain.transact_write_items(TransactItems=transaction("once"))


def test_the_sdk_clients_ride_out_the_default_rates(server, faults):
    report = faults("throttle=0.05,conflict=0.05,5xx=0.02,lost-response=0.01,seed=11")
    assert report["spec"].startswith("throttle=0.05")
    client = user_client(server, "dynamodb", attempts=0)
    s3 = user_client(server, "s3", attempts=0)
    for i in range(60):
        client.put_item(TableName=TABLE, Item={"id": {"S": f"many-{i}"}})
        s3.put_object(Bucket="faults", Key=f"k{i}", Body=b"x")
    assert server.fault_report()["requests"] >= 120
    assert sum(server.fault_report()["injected"].values()) >= 3


def test_the_sandbox_command_refuses_a_bad_spec_naming_it():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "skyrun.cli", "sandbox", "--faults",
                           "throttle=0.1,slow=1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--faults: faults: 'slow' is not a fault; allowed: throttle" in done.stderr
