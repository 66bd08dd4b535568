"""provisioning.roles and provisioning.policies: role created with trust + inline policy, drift repaired."""

from __future__ import annotations

import json

import boto3

from provisioning import policies, roles
from provisioning.common import Context, Names, Status, as_json

from .conftest import REGION

ROLE = "reddit-hate-dev-firehose"


def documents(ctx: Context) -> tuple[dict, dict]:
    return policies.trust_policy(roles.FIREHOSE_SERVICE), policies.firehose_role_policy(ctx.names)


def test_apply_creates_then_changes_nothing(ctx: Context) -> None:
    trust, policy = documents(ctx)
    assert [o.status for o in roles.apply(ctx, ROLE, trust, policy, roles.FIREHOSE_SERVICE)] == [Status.CREATED]
    iam = boto3.client("iam", region_name=REGION)
    assert as_json(iam.get_role_policy(RoleName=ROLE, PolicyName=f"{ROLE}-policy")["PolicyDocument"]) == policy
    assert [o.status for o in roles.apply(ctx, ROLE, trust, policy, roles.FIREHOSE_SERVICE)] == [Status.UNCHANGED]


def test_trust_and_inline_drift_are_repaired(ctx: Context) -> None:
    trust, policy = documents(ctx)
    roles.apply(ctx, ROLE, trust, policy, roles.FIREHOSE_SERVICE)
    iam = boto3.client("iam", region_name=REGION)
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(policies.trust_policy("ec2.amazonaws.com")))
    iam.delete_role_policy(RoleName=ROLE, PolicyName=f"{ROLE}-policy")
    [outcome] = roles.apply(ctx, ROLE, trust, policy, roles.FIREHOSE_SERVICE)
    assert outcome.status is Status.UPDATED and outcome.detail == "trust policy, inline policy"
    assert [o.status for o in roles.apply(ctx, ROLE, trust, policy, roles.FIREHOSE_SERVICE)] == [Status.UNCHANGED]


def test_delete_detaches_everything_first(ctx: Context) -> None:
    trust, policy = documents(ctx)
    roles.apply(ctx, ROLE, trust, policy, roles.FIREHOSE_SERVICE)
    iam = boto3.client("iam", region_name=REGION)
    arn = iam.create_policy(PolicyName="extra", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=arn)
    assert [o.status for o in roles.delete(ctx, ROLE)] == [Status.DELETED]
    assert iam.list_roles()["Roles"] == []
    assert [o.status for o in roles.delete(ctx, ROLE)] == [Status.ABSENT]


def test_lambda_policies_name_exact_resources() -> None:
    names = Names("p", "dev", "123456789012", "us-east-1")
    docs = policies.lambda_policies(names)
    assert set(docs) == {"ingest", "classify", "reconcile", "api_handler", "sweep"}
    for doc in docs.values():
        for statement in doc["Statement"]:
            assert all("*" not in action for action in statement["Action"])
            assert "*" not in statement["Resource"]
    assert policies.policy_file_name("dev", "ingest") == "policy-dev-ingest.json"


def test_trust_policies_are_bound_to_this_account() -> None:
    """Issue 12 item 8: a bare service principal lets that service assume the role for anyone's resource."""
    names = Names("p", "dev", "123456789012", "eu-west-1")
    [firehose] = policies.firehose_trust_policy(names)["Statement"]
    assert firehose["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert firehose["Condition"]["StringEquals"] == {"sts:ExternalId": "123456789012"}
    assert firehose["Condition"]["StringEqualsIfExists"] == {"aws:SourceAccount": "123456789012"}
    [sagemaker] = policies.sagemaker_trust_policy(names)["Statement"]
    assert sagemaker["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert sagemaker["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"},
                                      "ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:eu-west-1:123456789012:*"}}


def test_a_role_created_without_conditions_is_updated_in_place(ctx: Context, lines: list[str]) -> None:
    """A stack deployed before the conditions existed gets them by UpdateAssumeRolePolicy, nothing recreated."""
    iam = boto3.client("iam", region_name=REGION)
    old_trust, policy = policies.trust_policy(roles.FIREHOSE_SERVICE), policies.firehose_role_policy(ctx.names)
    roles.apply(ctx, ROLE, old_trust, policy, roles.FIREHOSE_SERVICE)
    created = iam.get_role(RoleName=ROLE)["Role"]["RoleId"]
    wanted = policies.firehose_trust_policy(ctx.names)
    [outcome] = roles.apply(ctx, ROLE, wanted, policy, roles.FIREHOSE_SERVICE)
    assert outcome.status is Status.UPDATED and outcome.detail == "trust policy"
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert role["RoleId"] == created and as_json(role["AssumeRolePolicyDocument"]) == wanted
    assert [o.status for o in roles.apply(ctx, ROLE, wanted, policy, roles.FIREHOSE_SERVICE)] == [Status.UNCHANGED]
