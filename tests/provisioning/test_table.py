"""provisioning.table: the one table definition, created with TTL (and PITR in prod), missing indexes added."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from chalicelib import schema
from provisioning import table
from provisioning.common import Context, DeployError, Status

from .conftest import REGION, make_ctx

NAME = "reddit-hate-dev-comments"


def test_definition_has_one_index_per_query_shape() -> None:
    definition = table.table_definition("t")
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in definition["GlobalSecondaryIndexes"]] == list(schema.INDEXES)
    declared = {a["AttributeName"] for a in definition["AttributeDefinitions"]}
    used = {k["AttributeName"] for i in definition["GlobalSecondaryIndexes"] for k in i["KeySchema"]}
    assert used | {schema.PARTITION_KEY} == declared  # DynamoDB rejects unused attribute definitions


def test_apply_creates_with_ttl_then_changes_nothing(ctx: Context) -> None:
    assert [o.status for o in table.apply(ctx)] == [Status.CREATED]
    ttl = boto3.client("dynamodb", region_name=REGION).describe_time_to_live(TableName=NAME)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == schema.TTL_ATTRIBUTE
    assert table.ready(ctx) == "ACTIVE"
    assert [o.status for o in table.apply(ctx)] == [Status.UNCHANGED]


def test_missing_index_and_ttl_are_added(ctx: Context) -> None:
    definition = table.table_definition(NAME)
    first = definition["GlobalSecondaryIndexes"][0]
    definition["GlobalSecondaryIndexes"] = [first]
    keep = {k["AttributeName"] for k in first["KeySchema"]} | {schema.PARTITION_KEY}
    definition["AttributeDefinitions"] = [a for a in definition["AttributeDefinitions"] if a["AttributeName"] in keep]
    boto3.client("dynamodb", region_name=REGION).create_table(**definition)
    [outcome] = table.apply(ctx)
    missing = [f"index {i}" for i in list(schema.INDEXES)[1:]]
    assert outcome.status is Status.UPDATED and outcome.detail == ", ".join([*missing, "ttl"])
    present = {i["IndexName"] for i in table.describe(ctx)["GlobalSecondaryIndexes"]}  # type: ignore[index]
    assert present == set(schema.INDEXES)


def test_prod_gets_point_in_time_recovery(aws: None, tmp_path: Path) -> None:
    prod = make_ctx(tmp_path, stage="prod")
    table.apply(prod)
    ddb = boto3.client("dynamodb", region_name=REGION)
    backups = ddb.describe_continuous_backups(TableName="reddit-hate-prod-comments")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_a_table_with_another_key_is_refused(ctx: Context) -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=NAME, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "other", "KeyType": "HASH"}])
    with pytest.raises(DeployError, match="exists with key"):
        table.apply(ctx)


def test_delete(ctx: Context) -> None:
    assert [o.status for o in table.delete(ctx)] == [Status.ABSENT]
    table.apply(ctx)
    assert [o.status for o in table.delete(ctx)] == [Status.DELETED]
