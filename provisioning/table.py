"""The DynamoDB table: keyed by comment id, the indexes of chalicelib.schema, TTL, PITR in prod.

:func:`table_definition` is the one home of the table's shape: the tests and the
benchmarks create their table from it too. An existing table of the previous design is
migrated in place (provisioning/table_migration.py).

Billing is on-demand unless ``--billing provisioned``: then the table and every index get
ProvisionedThroughput and Application Auto Scaling target tracking (provisioning/autoscaling.py).
The table's own billing mode is the record of the choice: without ``--billing`` a re-run keeps
it. Switching an existing table is one UpdateTable (to provisioned it carries the throughput of
the table and of every index, which DynamoDB requires); DynamoDB limits how often a table may
go back to on-demand, and its refusal is reported as one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import schema

from . import autoscaling
from . import table_migration as migration
from .common import Context, DeployError, Outcome, Status, error_code

KIND = "DynamoDB table"
TABLE_TIMEOUT_S = 10 * 60
ON_DEMAND, PROVISIONED = "PAY_PER_REQUEST", "PROVISIONED"
#: --billing choices and DynamoDB's BillingMode for each.
BILLING_MODES = {"on-demand": ON_DEMAND, "provisioned": PROVISIONED}
_LABEL = {v: k for k, v in BILLING_MODES.items()}
SWITCHING_DOCS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/switching.capacitymode.html"


def table_definition(name: str, throughput: Mapping[str, int] | None = None) -> dict[str, Any]:
    """CreateTable arguments: keyed by comment id, the indexes of chalicelib.schema.

    On-demand without ``throughput``; with it, provisioned with that ProvisionedThroughput on the
    table and on every index (DynamoDB requires it on each). Each index projects the public
    fields only (INCLUDE): a page never needs the table.
    """
    attributes = {schema.PARTITION_KEY: "S", schema.SORT_ATTRIBUTE: "N"}
    attributes.update({partition: "S" for partition in schema.INDEXES.values()})
    definition: dict[str, Any] = {
        "TableName": name,
        "BillingMode": ON_DEMAND if throughput is None else PROVISIONED,
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in attributes.items()],
        "KeySchema": [{"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [index_definition(index) for index in schema.INDEXES],
    }
    if throughput is not None:
        definition["ProvisionedThroughput"] = dict(throughput)
        for index in definition["GlobalSecondaryIndexes"]:
            index["ProvisionedThroughput"] = dict(throughput)
    return definition


def billing_mode(table: Mapping[str, Any]) -> str:
    """A DescribeTable answer's mode. DynamoDB omits BillingModeSummary on a table that was
    provisioned from the start and never switched, so a missing summary means provisioned."""
    return str(table.get("BillingModeSummary", {}).get("BillingMode", PROVISIONED))


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


def _throughput(described: Mapping[str, Any]) -> dict[str, int]:
    """The read/write units of a described table or index (without NumberOfDecreasesToday etc.)."""
    pt = described.get("ProvisionedThroughput", {})
    return {"ReadCapacityUnits": int(pt.get("ReadCapacityUnits", 0)),
            "WriteCapacityUnits": int(pt.get("WriteCapacityUnits", 0))}


def _wanted_mode(ctx: Context, current: str | None) -> str:
    """--billing if given, else the table's current mode (a new table: on-demand)."""
    mode = BILLING_MODES[ctx.options.billing] if ctx.options.billing else (current or ON_DEMAND)
    o = ctx.options
    flags = (o.min_read_capacity, o.max_read_capacity, o.min_write_capacity, o.max_write_capacity)
    if mode == ON_DEMAND and any(f is not None for f in flags):
        raise DeployError(f"table {ctx.names.table} is on-demand: the --min/--max-*-capacity options apply "
                          "with --billing provisioned only")
    return mode


def _known_indexes(table: Mapping[str, Any] | None) -> list[str]:
    """Every index name whose auto-scaling targets may exist: present, wanted or obsolete."""
    present = [i["IndexName"] for i in (table or {}).get("GlobalSecondaryIndexes", [])]
    return list(dict.fromkeys([*present, *schema.INDEXES, *schema.OBSOLETE_INDEXES]))


def _switch(ctx: Context, table: Mapping[str, Any], mode: str, indexes: Sequence[str],
            registered: dict[tuple[str, str], autoscaling.Target] | None = None) -> None:
    """One UpdateTable to ``mode``; to provisioned it carries the table's and every index's throughput.

    ``registered``: the table's scalable targets (kept from an earlier provisioned period, if any).
    """
    name = ctx.names.table
    params: dict[str, Any] = {"TableName": name, "BillingMode": mode}
    if mode == PROVISIONED:
        targets = autoscaling.wanted(ctx, name, indexes, registered)
        params["ProvisionedThroughput"] = autoscaling.initial_throughput(targets, autoscaling.resource_id(name))
        params["GlobalSecondaryIndexUpdates"] = [
            {"Update": {"IndexName": i, "ProvisionedThroughput": autoscaling.initial_throughput(
                targets, autoscaling.resource_id(name, i))}} for i in indexes]
    _wait_active(ctx, interval=10)
    try:
        ctx.dynamodb.update_table(**params)
    except ClientError as exc:
        raise DeployError(_switch_refused(name, table, mode, exc)) from exc
    _wait_active(ctx, interval=10)


def _switch_refused(name: str, table: Mapping[str, Any], mode: str, exc: ClientError) -> str:
    code, message = error_code(exc), str(exc.response.get("Error", {}).get("Message", ""))
    line = f"DynamoDB refused to switch table {name} to {_LABEL[mode]}: {code}: {message}"
    if mode == ON_DEMAND and code == "LimitExceededException":
        last = table.get("BillingModeSummary", {}).get("LastUpdateToPayPerRequestDateTime")
        since = f"; its last switch to on-demand was at {last}" if last else ""
        return (f"{line} (DynamoDB limits how often a table may switch to on-demand{since}; see {SWITCHING_DOCS}). "
                "Nothing was changed: run again later, or run without --billing on-demand to stay provisioned")
    return line


def apply(ctx: Context) -> list[Outcome]:
    name = ctx.names.table
    table = describe(ctx)  # the one description of this run; later steps are given it
    want_pitr = ctx.options.stage == "prod"
    mode = _wanted_mode(ctx, None if table is None else billing_mode(table))
    if table is None:
        throughput = None
        if mode == PROVISIONED:
            targets = autoscaling.wanted(ctx, name, list(schema.INDEXES))  # refuses min > max before any change
            throughput = autoscaling.initial_throughput(targets, autoscaling.resource_id(name))
        if not ctx.dry_run:
            ctx.dynamodb.create_table(**table_definition(name, throughput), Tags=ctx.tags())
            # TTL and PITR can only be switched on once the table is ACTIVE.
            _wait_active(ctx, interval=2)
            _enable_ttl(ctx)
            if want_pitr:
                _enable_pitr(ctx)
        outcomes = [ctx.record(KIND, name, Status.CREATED, "provisioned" if mode == PROVISIONED else "")]
        if mode == PROVISIONED:
            outcomes.append(autoscaling.apply(ctx, name, list(schema.INDEXES)))
        return outcomes

    key = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
    if key != [(schema.PARTITION_KEY, "HASH")]:
        raise DeployError(f"table {name} exists with key {key}; delete it or use another --prefix")
    current = billing_mode(table)
    present = [i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])]
    registered = None
    if mode == PROVISIONED:
        registered = autoscaling.registered(ctx, name, _known_indexes(table))
        autoscaling.wanted(ctx, name, present, registered)  # refuses min > max before any change
    drift: list[str] = []
    create, obsolete = migration.plan(table, table_definition(name))  # refuses what cannot change in place
    drift += [f"index {i}" for i in create] + [f"obsolete index {i}" for i in obsolete]
    ttl = ctx.dynamodb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    ttl_ok = ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"} and ttl.get("AttributeName") == schema.TTL_ATTRIBUTE
    if not ttl_ok:
        drift.append("ttl")
    pitr_ok = True
    if want_pitr:
        backups = ctx.dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr_ok = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED"
        if not pitr_ok:
            drift.append("point-in-time recovery")
    if mode != current:
        drift.append(f"billing {_LABEL[current]} -> {_LABEL[mode]}")
    # The indexes once this run is done; a dry run assumes the obsolete ones stay.
    indexes = [*present, *create]

    def update() -> None:
        nonlocal indexes
        if current == PROVISIONED and mode == ON_DEMAND:
            _switch(ctx, table, ON_DEMAND, present)  # first: the new indexes then need no throughput
        if create or obsolete:
            # Created indexes match the table's mode at this point: on a provisioned table each
            # gets the table's current throughput, so its backfill runs at the table's pace.
            throughput = _throughput(table) if current == mode == PROVISIONED else None
            # migrate() says each step (and what to run next) as it goes.
            report = migration.migrate(ctx.dynamodb, name, table_definition(name, throughput),
                                       wait_ready=lambda: _wait_active(ctx, interval=10),
                                       say=lambda m: ctx.out(f"  ... {m}"), table=table)
            indexes = [i for i in indexes if i not in report.deleted]
        if current == ON_DEMAND and mode == PROVISIONED:
            _switch(ctx, table, PROVISIONED, indexes, registered)  # last: it names every index there is now
        if not ttl_ok:
            _enable_ttl(ctx)
        if not pitr_ok:
            _enable_pitr(ctx)

    outcomes = [ctx.drift(KIND, name, drift, update)]
    if mode == PROVISIONED:
        outcomes.append(autoscaling.apply(ctx, name, indexes, known_indexes=_known_indexes(table),
                                          present=registered))
    elif current == PROVISIONED:
        # DynamoDB keeps the auto-scaling settings of a table switched by API; nothing should scale it now.
        scaling = autoscaling.delete(ctx, name, _known_indexes(table), quiet_if_absent=True)
        outcomes += [scaling] if scaling else []
    return outcomes


def delete(ctx: Context) -> list[Outcome]:
    name = ctx.names.table
    table = describe(ctx)
    if table is None:
        return [ctx.record(KIND, name, Status.ABSENT)]
    outcomes = []
    if billing_mode(table) == PROVISIONED:
        # Deregister first (that deletes the policies too). An on-demand table has no targets
        # (a switch to on-demand removes them), so its teardown needs no auto-scaling permission.
        scaling = autoscaling.delete(ctx, name, _known_indexes(table), quiet_if_absent=True)
        outcomes += [scaling] if scaling else []
    return [*outcomes, ctx.deleted(KIND, name, lambda: ctx.dynamodb.delete_table(TableName=name))]
