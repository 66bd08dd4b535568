"""The DynamoDB table: on-demand, keyed by comment id, the indexes of chalicelib.schema, TTL, PITR in prod.

:func:`table_definition` is the one home of the table's shape: the tests and the
benchmarks create their table from it too. An existing table of the previous design is
migrated in place (provisioning/table_migration.py).
"""

from __future__ import annotations

from typing import Any

from chalicelib import schema

from . import table_migration as migration
from .common import Context, DeployError, Outcome, Status

KIND = "DynamoDB table"
TABLE_TIMEOUT_S = 10 * 60


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments: on-demand, keyed by comment id, the indexes of chalicelib.schema.

    Each index projects the public fields only (INCLUDE): a page never needs the table.
    """
    attributes = {schema.PARTITION_KEY: "S", schema.SORT_ATTRIBUTE: "N"}
    attributes.update({partition: "S" for partition in schema.INDEXES.values()})
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in attributes.items()],
        "KeySchema": [{"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [index_definition(index) for index in schema.INDEXES],
    }


def index_definition(index: str) -> dict[str, Any]:
    partition = schema.INDEXES[index]
    keys = {schema.PARTITION_KEY, schema.SORT_ATTRIBUTE, partition}
    return {"IndexName": index,
            "KeySchema": [{"AttributeName": partition, "KeyType": "HASH"},
                          {"AttributeName": schema.SORT_ATTRIBUTE, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE",
                           "NonKeyAttributes": [f for f in schema.PUBLIC_FIELDS if f not in keys]}}


def describe(ctx: Context) -> dict[str, Any] | None:
    found = ctx.describe(lambda: ctx.dynamodb.describe_table(TableName=ctx.names.table))
    return None if found is None else dict(found["Table"])


def ready(ctx: Context) -> str | None:
    """ACTIVE once the table and every index are; else the table's status (None = gone)."""
    table = describe(ctx)
    if table is None:
        return None
    busy = [i["IndexName"] for i in table.get("GlobalSecondaryIndexes", []) if i.get("IndexStatus") != "ACTIVE"]
    return "ACTIVE" if table["TableStatus"] == "ACTIVE" and not busy else str(table["TableStatus"])


def _wait_active(ctx: Context, interval: float) -> None:
    ctx.wait(f"table {ctx.names.table} ACTIVE", lambda: ready(ctx), "ACTIVE", timeout=TABLE_TIMEOUT_S,
             interval=interval)


def _enable_ttl(ctx: Context) -> None:
    ctx.dynamodb.update_time_to_live(
        TableName=ctx.names.table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.TTL_ATTRIBUTE},
    )


def _enable_pitr(ctx: Context) -> None:
    ctx.dynamodb.update_continuous_backups(
        TableName=ctx.names.table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )


def apply(ctx: Context) -> list[Outcome]:
    name = ctx.names.table
    table = describe(ctx)
    want_pitr = ctx.options.stage == "prod"
    if table is None:
        if not ctx.dry_run:
            ctx.dynamodb.create_table(**table_definition(name), Tags=ctx.tags())
            # TTL and PITR can only be switched on once the table is ACTIVE.
            _wait_active(ctx, interval=2)
            _enable_ttl(ctx)
            if want_pitr:
                _enable_pitr(ctx)
        return [ctx.record(KIND, name, Status.CREATED)]

    key = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
    if key != [(schema.PARTITION_KEY, "HASH")]:
        raise DeployError(f"table {name} exists with key {key}; delete it or use another --prefix")
    drift: list[str] = []
    create, obsolete = migration.plan(table, table_definition(name))  # refuses what cannot change in place
    drift += [f"index {i}" for i in create] + [f"obsolete index {i}" for i in obsolete]
    ttl = ctx.dynamodb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    ttl_ok = ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"} and ttl.get("AttributeName") == schema.TTL_ATTRIBUTE
    if not ttl_ok:
        drift.append("ttl")
    if want_pitr:
        backups = ctx.dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        if pitr != "ENABLED":
            drift.append("point-in-time recovery")

    def update() -> None:
        if create or obsolete:
            report = migration.migrate(ctx.dynamodb, name, table_definition(name),
                                       wait_ready=lambda: _wait_active(ctx, interval=10), say=ctx.out)
            ctx.out(f"  {KIND:<22} {name:<46} migrated: {report.summary()}")
        if not ttl_ok:
            _enable_ttl(ctx)
        if "point-in-time recovery" in drift:
            _enable_pitr(ctx)

    return [ctx.drift(KIND, name, drift, update)]


def delete(ctx: Context) -> list[Outcome]:
    name = ctx.names.table
    if describe(ctx) is None:
        return [ctx.record(KIND, name, Status.ABSENT)]
    return [ctx.deleted(KIND, name, lambda: ctx.dynamodb.delete_table(TableName=name))]
