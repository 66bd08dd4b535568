"""The S3 bucket: Firehose writes raw/ into it, the classifier reads it; private, encrypted, expiring."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from botocore.exceptions import ClientError

from chalicelib import schema

from .common import Context, DeployError, Outcome, Status, error_code, is_not_found

KIND = "S3 bucket"
EXPIRING_PREFIXES = (schema.DEFAULT_RAW_PREFIX, schema.DEFAULT_QUARANTINE_PREFIX, schema.DEFAULT_ERROR_PREFIX)
PUBLIC_ACCESS_BLOCK = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def exists(ctx: Context) -> bool:
    try:
        ctx.s3.head_bucket(Bucket=ctx.names.bucket, ExpectedBucketOwner=ctx.names.account)
    except ClientError as exc:
        if is_not_found(exc):
            return False
        if error_code(exc) in {"403", "AccessDenied"}:
            raise DeployError(f"bucket {ctx.names.bucket} exists but belongs to someone else") from exc
        raise
    return True


def lifecycle_rules(retention_days: int) -> list[dict[str, Any]]:
    if retention_days <= 0:
        return []
    return [
        {
            "ID": f"expire-{prefix.rstrip('/')}",
            "Filter": {"Prefix": prefix},
            "Status": "Enabled",
            "Expiration": {"Days": retention_days},
        }
        for prefix in EXPIRING_PREFIXES
    ]


def _rule_key(rule: Mapping[str, Any]) -> tuple[Any, ...]:
    prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix"))
    return (rule.get("ID"), prefix, rule.get("Status"), rule.get("Expiration", {}).get("Days"))


def _settings(ctx: Context) -> dict[str, Callable[[], Any]]:
    """Setting name -> call that applies it (the wanted state)."""
    bucket = ctx.names.bucket
    rules = lifecycle_rules(ctx.options.retention_days)
    block = dict.fromkeys(PUBLIC_ACCESS_BLOCK, True)
    settings: dict[str, Callable[[], Any]] = {
        "public access block": lambda: ctx.s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=block,  # type: ignore[arg-type]
        ),
        "encryption": lambda: ctx.s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        ),
    }
    if rules:
        settings["lifecycle"] = lambda: ctx.s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={"Rules": rules},  # type: ignore[typeddict-item]
        )
    else:
        settings["lifecycle"] = lambda: ctx.s3.delete_bucket_lifecycle(Bucket=bucket)
    return settings


def drift(ctx: Context) -> list[str]:
    """The settings of an existing bucket that differ from the wanted ones."""
    bucket = ctx.names.bucket
    found = []
    block = ctx.describe(lambda: ctx.s3.get_public_access_block(Bucket=bucket),
                         {"NoSuchPublicAccessBlockConfiguration"})
    settings = (block or {}).get("PublicAccessBlockConfiguration", {})
    if not all(settings.get(k) for k in PUBLIC_ACCESS_BLOCK):
        found.append("public access block")
    encryption = ctx.describe(lambda: ctx.s3.get_bucket_encryption(Bucket=bucket),
                              {"ServerSideEncryptionConfigurationNotFoundError"})
    rules = (encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    algorithms = {r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules}
    if not algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
        found.append("encryption")
    lifecycle = ctx.describe(lambda: ctx.s3.get_bucket_lifecycle_configuration(Bucket=bucket),
                             {"NoSuchLifecycleConfiguration"})
    current = (lifecycle or {}).get("Rules", [])
    wanted = sorted(_rule_key(r) for r in lifecycle_rules(ctx.options.retention_days))
    if sorted(_rule_key(cast(Mapping[str, Any], r)) for r in current) != wanted:
        found.append("lifecycle")
    return found


def apply(ctx: Context) -> list[Outcome]:
    names = ctx.names
    settings = _settings(ctx)
    if not exists(ctx):
        if not ctx.dry_run:
            if ctx.region == "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
                ctx.s3.create_bucket(Bucket=names.bucket)
            else:
                ctx.s3.create_bucket(
                    Bucket=names.bucket,
                    CreateBucketConfiguration={"LocationConstraint": ctx.region},  # type: ignore[typeddict-item]
                )
            for name, put in settings.items():
                if name != "lifecycle" or lifecycle_rules(ctx.options.retention_days):
                    put()
            ctx.s3.put_bucket_tagging(Bucket=names.bucket, Tagging={"TagSet": ctx.tags()})
        return [ctx.record(KIND, names.bucket, Status.CREATED)]
    found = drift(ctx)

    def update() -> None:
        for name in found:
            settings[name]()

    return [ctx.drift(KIND, names.bucket, found, update)]


def object_versions(ctx: Context) -> Iterator[dict[str, str]]:
    pages = ctx.s3.get_paginator("list_object_versions").paginate(Bucket=ctx.names.bucket)
    for page in pages:
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            yield {"Key": item["Key"], "VersionId": item.get("VersionId", "null")}


def has_objects(ctx: Context) -> bool:
    return next(object_versions(ctx), None) is not None


def delete(ctx: Context, *, present: bool | None = None) -> list[Outcome]:
    """Empty (every version) and delete the bucket; ``present`` skips a second HeadBucket."""
    bucket = ctx.names.bucket
    if not (exists(ctx) if present is None else present):
        return [ctx.record(KIND, bucket, Status.ABSENT)]

    def remove() -> None:
        batch: list[dict[str, str]] = []
        for item in object_versions(ctx):
            batch.append(item)
            if len(batch) == 1000:  # DeleteObjects limit
                ctx.s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})  # type: ignore[typeddict-item]
                batch = []
        if batch:
            ctx.s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})  # type: ignore[typeddict-item]
        ctx.s3.delete_bucket(Bucket=bucket)

    return [ctx.deleted(KIND, bucket, remove)]
