"""provisioning.endpoint: the versioned model spec, matching a deployed endpoint, deleting only our versions."""

from __future__ import annotations

import boto3
import pytest

from provisioning import endpoint
from provisioning.common import Context, Status

from .conftest import ACCOUNT, REGION

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.6.0-cpu"


def spec(**changes: object) -> endpoint.ModelSpec:
    base: dict[str, object] = {"image": IMAGE, "environment": {"HF_TASK": "text-classification"},
                               "serverless": {"MemorySizeInMB": 3072, "MaxConcurrency": 5},
                               "role_arn": f"arn:aws:iam::{ACCOUNT}:role/r"}
    return endpoint.ModelSpec(**{**base, **changes})  # type: ignore[arg-type]


def test_digest_changes_with_anything_the_endpoint_runs() -> None:
    assert spec().digest == spec().digest and len(spec().digest) == 8
    assert spec(serverless={"MemorySizeInMB": 2048, "MaxConcurrency": 5}).digest != spec().digest
    assert spec(role_arn="arn:aws:iam::1:role/other").digest != spec().digest


@pytest.mark.parametrize(("image", "arn"), [
    (IMAGE, "arn:aws:ecr:us-east-1:763104351884:repository/huggingface-pytorch-inference"),
    ("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/hf:1", "arn:aws-cn:ecr:cn-north-1:727897471807:repository/hf"),
    ("1.dkr.ecr.us-gov-west-1.amazonaws.com/a/b:2", "arn:aws-us-gov:ecr:us-gov-west-1:1:repository/a/b"),
])
def test_ecr_repository_arn_follows_the_partition(image: str, arn: str) -> None:
    assert spec(image=image).ecr_repository_arn == arn


def test_apply_then_unchanged_then_delete_keeps_foreign_models(ctx: Context) -> None:
    pytest.importorskip("sagemaker")
    wanted = spec()
    assert [o.status for o in endpoint.apply(ctx, wanted)] == [Status.CREATED]
    described = endpoint.describe(ctx)
    assert described is not None and endpoint.deployed_matches(ctx, described, wanted)
    assert not endpoint.deployed_matches(ctx, described, spec(environment={"HF_TASK": "other"}))
    assert [o.status for o in endpoint.apply(ctx, wanted)] == [Status.UNCHANGED]
    sm = boto3.client("sagemaker", region_name=REGION)
    sm.create_model(ModelName="reddit-hate-dev-notours", ExecutionRoleArn=wanted.role_arn,
                    PrimaryContainer={"Image": IMAGE})
    kinds = [(o.kind, o.status) for o in endpoint.delete(ctx)]
    assert kinds == [("SageMaker endpoint", Status.DELETED), ("SageMaker config", Status.DELETED),
                     ("SageMaker model", Status.DELETED)]
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["reddit-hate-dev-notours"]
