"""The patch of moto's DynamoDB transactions that the test and sandbox moto servers
apply (``skyrun.backends.aws.motopatches``): a canceled transaction leaves every item as
it was, a committed one writes them all, and no table is copied whole any more.

On the session's moto server (in this process, so the check on copies sees it), with
tables of the test's own."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def dynamodb(moto, monkeypatch):
    from moto.dynamodb.models.table import Table

    def no_whole_copies(self, memo):
        raise AssertionError("a table was copied whole")

    # moto's own code copied every table a transaction names; the patch must not.
    monkeypatch.setattr(Table, "__deepcopy__", no_whole_copies, raising=False)
    client = boto3.client("dynamodb", region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    names = {"pairs": f"pairs-{suffix}", "singles": f"singles-{suffix}"}
    client.create_table(TableName=names["pairs"], BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}])
    client.create_table(TableName=names["singles"], BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    client.put_item(TableName=names["singles"], Item={"id": {"S": "a"}, "n": {"N": "1"}})
    client.put_item(TableName=names["pairs"], Item={"pk": {"S": "p"}, "sk": {"S": "1"},
                                                    "n": {"N": "1"}})
    yield client, names
    for name in names.values():
        client.delete_table(TableName=name)


def everything(client, names) -> dict:
    return {name: sorted(map(str, client.scan(TableName=table)["Items"]))
            for name, table in names.items()}


def writes(names, condition: str) -> list[dict]:
    singles, pairs = names["singles"], names["pairs"]
    return [
        {"Put": {"TableName": singles, "Item": {"id": {"S": "new"}, "n": {"N": "9"}}}},
        {"Update": {"TableName": singles, "Key": {"id": {"S": "a"}},
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": pairs, "Key": {"pk": {"S": "p"}, "sk": {"S": "1"}}}},
        {"Put": {"TableName": pairs, "Item": {"pk": {"S": "p"}, "sk": {"S": "2"}}}},
        {"ConditionCheck": {"TableName": pairs, "Key": {"pk": {"S": "q"}, "sk": {"S": "0"}},
                            "ConditionExpression": condition}},
    ]


def test_a_canceled_transaction_changes_no_item(dynamodb):
    client, names = dynamodb
    before = everything(client, names)
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=writes(names, "attribute_exists(pk)"))
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert everything(client, names) == before
    # Two writes of one item: refused, nothing changes.
    twice = writes(names, "attribute_not_exists(pk)")[:2] + [
        {"Delete": {"TableName": names["singles"], "Key": {"id": {"S": "a"}}}}]
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=twice)
    assert everything(client, names) == before


def test_a_committed_transaction_writes_every_item(dynamodb):
    client, names = dynamodb
    client.transact_write_items(TransactItems=writes(names, "attribute_not_exists(pk)"))
    singles = {i["id"]["S"]: i["n"]["N"]
               for i in client.scan(TableName=names["singles"])["Items"]}
    assert singles == {"a": "2", "new": "9"}
    pairs = [(i["pk"]["S"], i["sk"]["S"]) for i in client.scan(TableName=names["pairs"])["Items"]]
    assert pairs == [("p", "2")]
