"""provisioning.bucket against moto: created private/encrypted/expiring, drift repaired, emptied on delete."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioning import bucket
from provisioning.common import Context, DeployError, Status

from .conftest import ACCOUNT, REGION, make_ctx

BUCKET = f"reddit-hate-dev-{ACCOUNT}-{REGION}"


def test_apply_creates_then_changes_nothing(ctx: Context) -> None:
    assert [o.status for o in bucket.apply(ctx)] == [Status.CREATED]
    s3 = boto3.client("s3", region_name=REGION)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags == {"project": "reddit-hate", "stage": "dev"}
    assert bucket.drift(ctx) == []
    assert [o.status for o in bucket.apply(ctx)] == [Status.UNCHANGED]


def test_drift_names_each_setting_and_apply_repairs_it(ctx: Context) -> None:
    bucket.apply(ctx)
    s3 = boto3.client("s3", region_name=REGION)
    s3.delete_bucket_encryption(Bucket=BUCKET)
    s3.delete_public_access_block(Bucket=BUCKET)
    s3.delete_bucket_lifecycle(Bucket=BUCKET)
    assert bucket.drift(ctx) == ["public access block", "encryption", "lifecycle"]
    [outcome] = bucket.apply(ctx)
    assert outcome.status is Status.UPDATED and outcome.detail == "public access block, encryption, lifecycle"
    assert bucket.drift(ctx) == []


def test_retention_zero_means_no_lifecycle(aws: None, tmp_path: Path) -> None:
    assert bucket.lifecycle_rules(0) == []
    assert [r["Filter"]["Prefix"] for r in bucket.lifecycle_rules(7)] == ["raw/", "quarantine/", "errors/"]
    ctx = make_ctx(tmp_path)
    bucket.apply(ctx)
    keep = make_ctx(tmp_path, retention_days=0)
    assert bucket.drift(keep) == ["lifecycle"]
    bucket.apply(keep)
    assert bucket.drift(keep) == []


def test_dry_run_creates_nothing(aws: None, tmp_path: Path) -> None:
    dry = make_ctx(tmp_path, dry_run=True)
    assert [o.status for o in bucket.apply(dry)] == [Status.CREATED]
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []


def test_delete_removes_every_version_then_the_bucket(ctx: Context) -> None:
    bucket.apply(ctx)
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for _ in range(2):
        s3.put_object(Bucket=BUCKET, Key="raw/x", Body=b"x")
    s3.delete_object(Bucket=BUCKET, Key="raw/x")  # a delete marker
    assert bucket.has_objects(ctx)
    assert [o.status for o in bucket.delete(ctx)] == [Status.DELETED]
    assert s3.list_buckets()["Buckets"] == []
    assert [o.status for o in bucket.delete(ctx)] == [Status.ABSENT]


def test_someone_elses_bucket_is_refused(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(**_: object) -> None:
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadBucket")

    monkeypatch.setattr(ctx.s3, "head_bucket", forbidden)
    with pytest.raises(DeployError, match="belongs to someone else"):
        bucket.exists(ctx)
