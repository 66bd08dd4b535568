"""The IAM roles Firehose and SageMaker assume: trust policy plus one inline policy, drift repaired."""

from __future__ import annotations

import json
from typing import Any

from .common import APP_NAME, Context, Outcome, Status, as_json
from .policies import FIREHOSE_SERVICE, SAGEMAKER_SERVICE

__all__ = ["FIREHOSE_SERVICE", "SAGEMAKER_SERVICE", "apply", "delete"]

KIND = "IAM role"


def policy_name(role: str) -> str:
    return f"{role}-policy"


def apply(ctx: Context, role: str, trust: dict[str, Any], policy: dict[str, Any], service: str) -> list[Outcome]:
    """Create ``role`` or bring its trust and inline policy back to the wanted documents."""
    inline = policy_name(role)
    current = ctx.describe(lambda: ctx.iam.get_role(RoleName=role))
    if current is None:
        if not ctx.dry_run:
            ctx.iam.create_role(
                RoleName=role,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=f"{APP_NAME} {ctx.options.stage}: assumed by {service}",
                Tags=ctx.tags(),
            )
            ctx.iam.put_role_policy(RoleName=role, PolicyName=inline, PolicyDocument=json.dumps(policy))
        return [ctx.record(KIND, role, Status.CREATED)]
    drift = []
    if as_json(current["Role"].get("AssumeRolePolicyDocument")) != trust:
        drift.append("trust policy")
    existing = ctx.describe(lambda: ctx.iam.get_role_policy(RoleName=role, PolicyName=inline))
    if as_json(existing["PolicyDocument"] if existing else None) != policy:
        drift.append("inline policy")

    def update() -> None:
        if "trust policy" in drift:
            ctx.iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
        if "inline policy" in drift:
            ctx.iam.put_role_policy(RoleName=role, PolicyName=inline, PolicyDocument=json.dumps(policy))

    return [ctx.drift(KIND, role, drift, update)]


def delete(ctx: Context, role: str) -> list[Outcome]:
    """Remove the role's inline and attached policies, then the role."""
    if ctx.describe(lambda: ctx.iam.get_role(RoleName=role)) is None:
        return [ctx.record(KIND, role, Status.ABSENT)]

    def remove() -> None:
        for page in ctx.iam.get_paginator("list_role_policies").paginate(RoleName=role):
            for name in page["PolicyNames"]:
                ctx.iam.delete_role_policy(RoleName=role, PolicyName=name)
        for page_a in ctx.iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
            for attached in page_a["AttachedPolicies"]:
                ctx.iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
        ctx.iam.delete_role(RoleName=role)

    return [ctx.deleted(KIND, role, remove)]
