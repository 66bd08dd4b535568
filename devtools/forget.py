"""A forget request: delete every stored comment of one Reddit author (or a list of ids), with its counters.

    python -m devtools.forget --author NAME [--stage dev | --table NAME] [--dry-run]
    python -m devtools.forget --comment-id ID[,ID...] [--stage dev | --table NAME] [--dry-run]

Which table: ``--table``; else ``--stage`` (its TABLE_NAME in .chalice/config.json, written by
deploy_model.py; ``--stage local`` is the offline stack of ``make run``); else ``TABLE_NAME``;
else the offline stack described by .local/stack.json.

Finding an author's comments is a paginated Scan with a FilterExpression, here in this operator
tool only (no Lambda is allowed dynamodb:Scan). An author index would cost a write on every
comment ingested, all the time, to serve a request that comes rarely; a Scan costs one pass over
the table (about one read unit per 8 KB scanned, strongly consistent reads twice that) when a request
comes. Each comment found is deleted exactly like the deletion sweep deletes it
(chalicelib.deletions: a tombstone and the counters in one conditional transaction), so running
the same request twice deletes nothing the second time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config, schema
from chalicelib.errors import ConfigError, StorageError
from devtools.runstate import DEFAULT_STACK, REPO, RunError, Target, current_stack, stack_target

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from chalicelib.deletions import DeletionStore
    from chalicelib.models import StoredRef

#: Reddit user names: 3-20 letters, digits, "_" or "-" (older accounts can be shorter).
AUTHOR_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
REASON = "forget request"
DEFAULT_CONFIG = REPO / ".chalice" / "config.json"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def from_stack(table: str | None, stack: Path | None, env: Mapping[str, str]) -> Target:
    """The offline stack of `make run`: its moto endpoint, region and (unless given) table."""
    try:
        path = stack or current_stack()
    except RunError as exc:
        raise ConfigError(str(exc)) from exc
    if path is None:
        raise ConfigError(f"no table: pass --table NAME or --stage NAME, set {config.ENV_TABLE}, "
                          "or start the offline stack with `make run`")
    try:
        return stack_target(path, table, env)
    except RunError as exc:
        raise ConfigError(str(exc)) from exc


def stage_settings(config_path: Path, stage: str) -> dict[str, str]:
    """The environment variables deploy_model.py wrote for ``stage``."""
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {config_path}: {exc}") from exc
    section = data.get("stages", {}).get(stage)
    env = section.get("environment_variables") if isinstance(section, dict) else None
    if not isinstance(env, dict) or not env.get(config.ENV_TABLE):
        raise ConfigError(f"stage {stage!r} has no {config.ENV_TABLE} in {config_path} "
                          f"(run deploy_model.py --stage {stage} first)")
    return {str(k): str(v) for k, v in env.items()}


def target_of(args: argparse.Namespace, environ: MutableMapping[str, str]) -> tuple[Target, int]:
    """The table to work on and the stage's retention (days the tombstones are kept; 0 = always)."""
    retention = config.load(environ).retention_days
    if args.table:
        return (from_stack(args.table, args.stack, environ) if args.stack else Target(args.table, "--table")), \
            retention
    if args.stage:
        env = stage_settings(args.config, args.stage)
        retention = config.load(env).retention_days
        if args.stage == "local":  # lives in the offline stack's moto server
            return from_stack(env[config.ENV_TABLE], args.stack, environ), retention
        return Target(env[config.ENV_TABLE], f"stage {args.stage} ({args.config.name})"), retention
    table = config.load(environ).table
    if table and not args.stack:
        return Target(table, f"${config.ENV_TABLE}"), retention
    return from_stack(None, args.stack, environ), retention


def scan_author(client: DynamoDBClient, table: str, author: str) -> Iterator[dict[str, Any]]:
    """Every comment item of ``author``: a paginated, strongly consistent Scan with a FilterExpression."""
    from chalicelib.repository import _from_ddb  # noqa: PLC0415

    params: dict[str, Any] = {
        "TableName": table, "ConsistentRead": True, "ReturnConsumedCapacity": "TOTAL",
        "FilterExpression": "#a = :a AND #k = :kind",
        "ProjectionExpression": "#id, #a, #k, #s, #l, #m, #v",
        "ExpressionAttributeNames": {"#id": schema.PARTITION_KEY, "#a": "author", "#k": schema.KIND_ATTRIBUTE,
                                     "#s": "subreddit", "#l": "label", "#m": "model", "#v": schema.VERDICT_ATTRIBUTE},
        "ExpressionAttributeValues": {":a": {"S": author}, ":kind": {"S": schema.KIND_COMMENT}},
    }
    scanned = pages = 0
    units = 0.0
    while True:
        try:
            response = client.scan(**params)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"scan of {table} failed: {exc}") from exc
        pages += 1
        scanned += int(response.get("ScannedCount", 0))
        units += float(response.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))
        yield from (_from_ddb(item) for item in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            say(f"scanned {scanned} items in {pages} page(s), {units:g} read units")
            return
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        if pages % 20 == 0:
            say(f"... {scanned} items scanned")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.forget", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--author", help="Reddit user name, spelled as Reddit spells it (matched exactly)")
    what.add_argument("--comment-id", help="comma-separated comment ids (t1_ prefixes are accepted)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stage", help="a deployed stage: the table named in .chalice/config.json")
    where.add_argument("--table", help="the DynamoDB table")
    parser.add_argument("--stack", type=Path, help=f"offline stack file (default {DEFAULT_STACK.relative_to(REPO)})")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.author is not None and not AUTHOR_PATTERN.fullmatch(args.author):
        parser.error(f"--author {args.author!r}: not a Reddit user name")
    if args.comment_id is not None:
        ids = [i.strip().removeprefix("t1_") for i in args.comment_id.split(",") if i.strip()]
        bad = [i for i in ids if not re.fullmatch(schema.COMMENT_ID_PATTERN, i)]
        if not ids or bad:
            parser.error(f"--comment-id: not comment ids: {', '.join(bad) or '(empty)'}")
        args.ids = list(dict.fromkeys(ids))
    return args


def open_store(target: Target, retention_days: int, region: str | None,
               environ: MutableMapping[str, str]) -> tuple[DynamoDBClient, DeletionStore]:
    import boto3  # noqa: PLC0415 - only the command line needs AWS

    from chalicelib.clients import AwsClients  # noqa: PLC0415
    from chalicelib.deletions import DeletionStore  # noqa: PLC0415

    environ.update(target.env)
    region = region or target.region
    session = boto3.session.Session(region_name=region) if region else None
    client = AwsClients(session).dynamodb
    return client, DeletionStore(client, target.table, retention_days)


def main(argv: Sequence[str] | None = None, environ: MutableMapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    args = parse_args(argv)
    try:
        target, retention = target_of(args, environ)
        client, store = open_store(target, retention, args.region, environ)
        say(f"table {target.table} ({target.source})")
        missing: list[str] = []
        if args.author is not None:
            from chalicelib.deletions import ref_of  # noqa: PLC0415

            refs: list[StoredRef] = [r for r in map(ref_of, scan_author(client, target.table, args.author)) if r]
        else:
            found = store.refs(args.ids)
            refs = [found[i] for i in args.ids if i in found]
            missing = [i for i in args.ids if i not in found]
        for ref in refs:
            print(f"{'would delete' if args.dry_run else 'delete'} {ref.comment_id} r/{ref.subreddit} "
                  f"{ref.label}{' reviewed ' + ref.verdict if ref.verdict else ''}")
        for cid in missing:
            print(f"not stored {cid}")
        done = store.delete_comments(refs, REASON) if refs and not args.dry_run else None
    except (ConfigError, StorageError) as exc:
        say(f"error: {exc}")
        return 1
    who = f"u/{args.author}" if args.author is not None else f"{len(args.ids)} requested id(s)"
    summary: dict[str, Any] = {"request": who, "found": len(refs), "not_stored": len(missing),
                               "deleted": len(done.deleted) if done else 0,
                               "already_gone": len(done.already_gone) if done else 0, "dry_run": args.dry_run}
    if args.author is not None and not refs:
        say(f"no stored comment by u/{args.author}; names are matched exactly as Reddit spells them")
    if retention:
        say(f"copies in the bucket's raw/ and quarantine/ prefixes expire within {retention} days (lifecycle rules)")
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
