"""The sandbox's patch of moto's DynamoDB transactions (``skyrun.sandbox.moto_patches``):
a canceled transaction leaves every item as it was, a committed one writes them all,
and no table is copied whole any more."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from skyrun.sandbox.moto_patches import backup_only_the_named_items


@pytest.fixture
def dynamodb(monkeypatch):
    from moto.dynamodb.models.table import Table

    backup_only_the_named_items()

    def no_whole_copies(self, memo):
        raise AssertionError("a table was copied whole")

    # moto's own code copied every table a transaction names; the patch must not.
    monkeypatch.setattr(Table, "__deepcopy__", no_whole_copies, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="pairs", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}])
        client.create_table(TableName="singles", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        client.put_item(TableName="singles", Item={"id": {"S": "a"}, "n": {"N": "1"}})
        client.put_item(TableName="pairs", Item={"pk": {"S": "p"}, "sk": {"S": "1"},
                                                 "n": {"N": "1"}})
        yield client


def everything(client) -> dict:
    return {name: sorted(map(str, client.scan(TableName=name)["Items"]))
            for name in ("singles", "pairs")}


def writes(condition: str) -> list[dict]:
    return [
        {"Put": {"TableName": "singles", "Item": {"id": {"S": "new"}, "n": {"N": "9"}}}},
        {"Update": {"TableName": "singles", "Key": {"id": {"S": "a"}},
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": "pairs", "Key": {"pk": {"S": "p"}, "sk": {"S": "1"}}}},
        {"Put": {"TableName": "pairs", "Item": {"pk": {"S": "p"}, "sk": {"S": "2"}}}},
        {"ConditionCheck": {"TableName": "pairs", "Key": {"pk": {"S": "q"}, "sk": {"S": "0"}},
                            "ConditionExpression": condition}},
    ]


def test_a_canceled_transaction_changes_no_item(dynamodb):
    before = everything(dynamodb)
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(TransactItems=writes("attribute_exists(pk)"))
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert everything(dynamodb) == before
    # Two writes of one item: refused before anything is written, nothing changes.
    twice = writes("attribute_not_exists(pk)")[:2] + [
        {"Delete": {"TableName": "singles", "Key": {"id": {"S": "a"}}}}]
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=twice)
    assert everything(dynamodb) == before


def test_a_committed_transaction_writes_every_item(dynamodb):
    dynamodb.transact_write_items(TransactItems=writes("attribute_not_exists(pk)"))
    singles = {i["id"]["S"]: i["n"]["N"] for i in dynamodb.scan(TableName="singles")["Items"]}
    assert singles == {"a": "2", "new": "9"}
    pairs = [(i["pk"]["S"], i["sk"]["S"]) for i in dynamodb.scan(TableName="pairs")["Items"]]
    assert pairs == [("p", "2")]
