"""The patches of moto's DynamoDB that the test and sandbox moto servers apply
(``skyrun.backends.aws.motopatches``): a canceled transaction leaves every item as it
was, a committed one writes them all, and no table is copied whole any more; scans and
queries see the items in moto's key order without comparing them one conversion at a
time.

On the session's moto server (in this process, so the check on copies sees it), with
tables of the test's own."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.stores import MOTO_ACCOUNT


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


@pytest.fixture
def numbered(moto):
    """A table keyed by a number and a string, filled in random order."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    name = f"numbered-{uuid.uuid4().hex[:8]}"
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "n", "KeyType": "HASH"},
                                   {"AttributeName": "s", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "n", "AttributeType": "N"},
                                              {"AttributeName": "s", "AttributeType": "S"},
                                              {"AttributeName": "g", "AttributeType": "S"}],
                        GlobalSecondaryIndexes=[{
                            "IndexName": "by-g", "Projection": {"ProjectionType": "ALL"},
                            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                          {"AttributeName": "n", "KeyType": "RANGE"}]}])
    rng = random.Random(7)
    keys = {(str(rng.choice([-1.5, 0, 2, 9, 10, 100, 1e3, 25.25])), rng.choice("abcXYZ10"))
            for _ in range(200)}
    for number, text in keys:
        group = "one" if rng.random() < 0.5 else "two"
        client.put_item(TableName=name, Item={"n": {"N": number}, "s": {"S": text},
                                              "g": {"S": group}})
    yield client, name, keys
    client.delete_table(TableName=name)


def key_order(keys) -> list:
    """moto's order of the keys: numbers as numbers (100 after 9), then strings."""
    return sorted(keys, key=lambda k: (Decimal(k[0]), k[1]))


def test_the_items_are_sorted_without_comparing_moto_values(numbered, monkeypatch):
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    _, name, keys = numbered
    table = dynamodb_backends[MOTO_ACCOUNT]["us-east-1"].tables[name]

    def no_comparisons(self, other):
        raise AssertionError("moto values compared one by one")

    # moto's own sort compared two items' values at each step, converting both.
    monkeypatch.setattr(DynamoType, "__lt__", no_comparisons)
    items = table.all_items()
    assert [(i.hash_key.value, i.range_key.value) for i in items] == key_order(keys)


def test_scans_page_through_the_items_in_key_order(numbered):
    client, name, keys = numbered
    seen, start = [], {}
    while True:
        page = client.scan(TableName=name, Limit=7, **start)
        seen += [(i["n"]["N"], i["s"]["S"]) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert seen == key_order(keys)


def test_queries_of_an_index_find_their_items_in_index_order(numbered):
    client, name, keys = numbered
    groups = {(i["n"]["N"], i["s"]["S"]): i["g"]["S"] for i in client.scan(TableName=name)["Items"]}
    for forward in (True, False):
        found = client.query(TableName=name, IndexName="by-g", ScanIndexForward=forward,
                             KeyConditionExpression="g = :g",
                             ExpressionAttributeValues={":g": {"S": "one"}})["Items"]
        expected = key_order(k for k in keys if groups[k] == "one")
        assert 0 < len(expected) < len(keys)
        assert [(i["n"]["N"], i["s"]["S"]) for i in found] == \
            (expected if forward else expected[::-1])
