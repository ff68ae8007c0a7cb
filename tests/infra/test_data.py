"""The data stack: bucket, tables and log groups."""

from __future__ import annotations

from aws_cdk.assertions import Match

from skyrun.backends.aws import resources


def test_bucket_is_encrypted_private_and_retained(synth):
    template = synth.template("data")
    template.resource_count_is("AWS::S3::Bucket", 1)
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                }
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_bucket_policy_denies_requests_without_tls(synth):
    synth.template("data").has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_bucket_expires_logs_after_30_days_and_build_inputs_after_a_week(synth):
    (bucket,) = synth.of_type("data", "AWS::S3::Bucket").values()
    rules = {r.get("Prefix"): r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["logs/"]["ExpirationInDays"] == 30
    assert rules["logs/"]["Status"] == "Enabled"
    assert rules["builds/"]["ExpirationInDays"] == resources.BUILD_INPUT_RETENTION_DAYS
    # Nothing else expires: results and user blobs stay until deleted.
    assert {p for p, r in rules.items() if "ExpirationInDays" in r} == {"logs/", "builds/"}


def test_tables_are_on_demand_with_point_in_time_recovery_and_retained(synth):
    tables = synth.of_type("data", "AWS::DynamoDB::Table")
    assert len(tables) == len(resources.TABLES)
    for table in tables.values():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionPolicy"] == "Retain"


def test_tables_follow_the_declared_key_schemas(synth):
    tables = {
        path.split("/")[-2].lower(): table["Properties"]
        for path, table in synth.by_path("data", "AWS::DynamoDB::Table").items()
    }
    assert set(tables) == {spec.name for spec in resources.TABLES}
    for spec in resources.TABLES:
        props = tables[spec.name]
        assert props["KeySchema"] == _key_schema(spec.partition_key, spec.sort_key)
        indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == {i.name for i in spec.indexes}, spec.name
        for index in spec.indexes:
            assert indexes[index.name]["KeySchema"] == _key_schema(
                index.partition_key, index.sort_key
            )
            assert indexes[index.name]["Projection"]["ProjectionType"] == index.projection
        attributes = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        for key in _keys(spec):
            assert attributes[key.name] == key.type
        if spec.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {
                "AttributeName": spec.ttl_attribute,
                "Enabled": True,
            }
        else:
            assert "TimeToLiveSpecification" not in props


def _key_schema(partition, sort):
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    if sort:
        schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return schema


def _keys(spec):
    yield spec.partition_key
    if spec.sort_key:
        yield spec.sort_key
    for index in spec.indexes:
        yield index.partition_key
        if index.sort_key:
            yield index.sort_key


def test_log_groups_keep_30_days(synth):
    groups = synth.of_type("data", "AWS::Logs::LogGroup")
    names = {g["Properties"]["LogGroupName"]: g for g in groups.values()}
    assert set(names) == {"/skyrun/skyrun/jobs", "/skyrun/skyrun/workers"}
    for group in names.values():
        assert group["Properties"]["RetentionInDays"] == resources.LOG_RETENTION_DAYS == 30
