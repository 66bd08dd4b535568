"""In-place migration of an existing comments table to the indexes of chalicelib.schema.

DynamoDB builds or drops one global secondary index per UpdateTable call, and refuses
another index change while one is CREATING or DELETING, so every step waits until the
table and all of its indexes are ACTIVE. The order keeps the API answering throughout:

1. create each missing index, one at a time (DynamoDB backfills it from the items that
   already carry its key attribute);
2. backfill: give every comment item of the old design the new key attributes
   (``feed``, ``sub_shard``, ``hate_shard``, ``review_queue``) and ``p_hate``, with a
   conditional UpdateItem per item, so the new indexes hold every comment;
3. delete the obsolete indexes, one at a time, but only on a later run than the one that
   created the new indexes: until the new code is deployed (``chalice deploy``), the old
   code still reads those indexes and writes items without the new keys. Run
   ``deploy_model.py`` again after the deploy: it backfills what the old code wrote in the
   meantime, then deletes the obsolete indexes.

An index that exists under a wanted name with another key schema cannot be changed in
place: the migration refuses and says what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib import schema

from .common import DeployError


class MigrationRefused(DeployError):
    """An index change DynamoDB cannot make in place; the message says what to do."""


@dataclass
class MigrationReport:
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    backfilled: int = 0
    kept_obsolete: list[str] = field(default_factory=list)


def _key_schema(index: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]]


def plan(table: Mapping[str, Any], definition: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(indexes to create, obsolete indexes to delete); refuses what cannot change in place."""
    present = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    wanted = {i["IndexName"]: i for i in definition["GlobalSecondaryIndexes"]}
    for name, index in wanted.items():
        if name in present and _key_schema(present[name]) != _key_schema(index):
            raise MigrationRefused(
                f"index {name} exists with key {_key_schema(present[name])}, wanted {_key_schema(index)}; "
                "DynamoDB cannot change an index key in place: delete that index (UpdateTable "
                f"--global-secondary-index-updates '[{{\"Delete\":{{\"IndexName\":\"{name}\"}}}}]') and run again")
    create = [n for n in wanted if n not in present]
    delete = [n for n in present if n not in wanted and n in schema.OBSOLETE_INDEXES]
    return create, delete


def backfill_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes an old-design comment item lacks (plain Python values)."""
    comment_id, subreddit, label = str(item[schema.PARTITION_KEY]), str(item["subreddit"]), str(item["label"])
    reviewed = item.get(schema.VERDICT_ATTRIBUTE) is not None
    wanted: dict[str, Any] = dict(schema.index_keys(comment_id, subreddit, label, reviewed=reviewed))
    if item.get(schema.P_HATE_ATTRIBUTE) is None and item.get("score") is not None:
        p_hate = schema.p_hate(label, float(item["score"]))
        wanted[schema.P_HATE_ATTRIBUTE] = Decimal(str(round(p_hate, 6)))
    return {k: v for k, v in wanted.items() if item.get(k) != v}


def migrate(
    dynamodb: Any,
    name: str,
    definition: Mapping[str, Any],
    wait_ready: Callable[[], None],
    say: Callable[[str], None] = lambda _m: None,
    *,
    table: Mapping[str, Any] | None = None,
) -> MigrationReport:
    """Bring table ``name`` to ``definition``'s indexes in place; see the module docstring.

    ``table`` is the caller's DescribeTable answer, read again only when not given.
    ``definition`` must match the table's billing mode: on a provisioned table each index
    carries its ProvisionedThroughput, which UpdateTable requires when it creates an index there
    (the backfill and the live writes share that index's write capacity).
    """
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # noqa: PLC0415

    if table is None:
        table = dynamodb.describe_table(TableName=name)["Table"]
    create, delete = plan(table, definition)
    report = MigrationReport()
    indexes = {i["IndexName"]: i for i in definition["GlobalSecondaryIndexes"]}
    for index in create:
        wait_ready()  # one index change at a time
        say(f"creating index {index} (DynamoDB backfills it; this can take minutes on a large table)")
        dynamodb.update_table(TableName=name, AttributeDefinitions=definition["AttributeDefinitions"],
                              GlobalSecondaryIndexUpdates=[{"Create": indexes[index]}])
        report.created.append(index)
    wait_ready()

    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    params: dict[str, Any] = {
        "TableName": name,
        # Comment items only (bookkeeping items have no kind); those of the old design lack `feed`.
        "FilterExpression": "attribute_exists(#kind) AND attribute_exists(#label) AND "
                            "(attribute_not_exists(#feed) OR attribute_not_exists(#p))",
        "ExpressionAttributeNames": {"#kind": schema.KIND_ATTRIBUTE, "#label": "label",
                                     "#feed": schema.FEED_ATTRIBUTE, "#p": schema.P_HATE_ATTRIBUTE},
    }
    while True:
        page = dynamodb.scan(**params)
        for raw in page.get("Items", []):
            item = {k: deserializer.deserialize(v) for k, v in raw.items()}
            updates = backfill_item(item)
            if not updates:
                continue
            names = {f"#a{n}": k for n, k in enumerate(updates)}
            values = {f":v{n}": serializer.serialize(v) for n, v in enumerate(updates.values())}
            names["#key"] = schema.PARTITION_KEY
            try:
                dynamodb.update_item(
                    TableName=name, Key={schema.PARTITION_KEY: raw[schema.PARTITION_KEY]},
                    UpdateExpression="SET " + ", ".join(f"#a{n} = :v{n}" for n in range(len(updates))),
                    # Never resurrect an item deleted (TTL) since the scan read it.
                    ConditionExpression="attribute_exists(#key)",
                    ExpressionAttributeNames=names, ExpressionAttributeValues=values)
            except dynamodb.exceptions.ConditionalCheckFailedException:
                continue
            report.backfilled += 1
        start = page.get("LastEvaluatedKey")
        if not start:
            break
        params["ExclusiveStartKey"] = start
    if report.backfilled:
        say(f"backfilled the new key attributes of {report.backfilled} items")
    if delete and report.created:
        # The previous code may still be deployed and reading these: keep them for now.
        report.kept_obsolete = delete
        say(f"keeping {', '.join(delete)} for the code deployed now; run deploy_model.py again after "
            "`chalice deploy` to delete them")
        return report
    for index in delete:
        wait_ready()
        say(f"deleting obsolete index {index}")
        dynamodb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index}}])
        report.deleted.append(index)
    if delete:
        wait_ready()
    return report
