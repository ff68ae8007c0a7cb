"""Create a deployment's data resources with boto3, from :mod:`resources` definitions.

The CDK data stack is how real deployments get their bucket, tables and log groups; this
module creates the same resources directly, for a fake AWS (moto, as in the tests and
the sandbox) where no CloudFormation deploy runs. The key schemas come from the same
:data:`resources.TABLES`, so both agree by construction.
"""

from __future__ import annotations

from typing import Any

from skyrun.backends.aws import resources as res
from skyrun.backends.aws.session import new_client, region


def table_name(deployment: str, table: res.Table) -> str:
    """The table name this module gives ``table`` in ``deployment``."""
    return f"{deployment}-{table.name}"


def data_outputs(deployment: str) -> dict[str, str]:
    """The data stack outputs of the resources :func:`create_data_resources` makes."""
    outputs = {table.output_key: table_name(deployment, table) for table in res.TABLES}
    outputs[res.BUCKET_NAME] = f"{deployment}-blobs"
    outputs[res.JOB_LOG_GROUP_NAME] = res.log_group_name(deployment, res.JOB_LOGS)
    outputs[res.WORKER_LOG_GROUP_NAME] = res.log_group_name(deployment, res.WORKER_LOGS)
    return outputs


def table_definition(name: str, table: res.Table) -> dict[str, Any]:
    """``CreateTable`` parameters for ``table`` (on-demand)."""
    attributes: dict[str, str] = {}

    def schema(partition: res.Key, sort: res.Key | None) -> list[dict[str, Any]]:
        keys = [partition] + ([sort] if sort else [])
        for k in keys:
            attributes[k.name] = k.type
        return [{"AttributeName": k.name, "KeyType": kind}
                for k, kind in zip(keys, ("HASH", "RANGE"), strict=False)]

    params: dict[str, Any] = {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": schema(table.partition_key, table.sort_key)}
    if table.indexes:
        params["GlobalSecondaryIndexes"] = [
            {"IndexName": index.name,
             "KeySchema": schema(index.partition_key, index.sort_key),
             "Projection": {"ProjectionType": index.projection}}
            for index in table.indexes]
    params["AttributeDefinitions"] = [{"AttributeName": n, "AttributeType": t}
                                      for n, t in attributes.items()]
    return params


def create_data_resources(deployment: str, session: Any = None) -> dict[str, str]:
    """Create the bucket, tables and log groups of ``deployment``; returns the data stack
    outputs naming them. Resources that exist already are left as they are."""
    res.validate_deployment_name(deployment)
    outputs = data_outputs(deployment)
    dynamodb = new_client("dynamodb", session)
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for table in res.TABLES:
        name = outputs[table.output_key]
        if name in existing:
            continue
        dynamodb.create_table(**table_definition(name, table))
        dynamodb.get_waiter("table_exists").wait(TableName=name)
        if table.ttl_attribute:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": table.ttl_attribute})
    s3 = new_client("s3", session)
    bucket = outputs[res.BUCKET_NAME]
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        where = region(session)
        extra = ({} if where == "us-east-1"
                 else {"CreateBucketConfiguration": {"LocationConstraint": where}})
        s3.create_bucket(Bucket=bucket, **extra)
    logs = new_client("logs", session)
    for key in (res.JOB_LOG_GROUP_NAME, res.WORKER_LOG_GROUP_NAME):
        group = outputs[key]
        found = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        if not any(g["logGroupName"] == group for g in found):
            logs.create_log_group(logGroupName=group)
            logs.put_retention_policy(logGroupName=group,
                                      retentionInDays=res.LOG_RETENTION_DAYS)
    return outputs
