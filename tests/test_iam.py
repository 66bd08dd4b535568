"""Least privilege: every Lambda policy referenced by .chalice/config.json, and the ones deploy_model.py writes.

Fails on a wildcard action, on a "*" resource outside CloudWatch Logs, on a
function allowed a service it does not call, and on autogen_policy not false.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".chalice" / "config.json"

#: What each function's code calls (chalicelib.factory / app.py); "logs" is Lambda's own logging.
SERVICES: dict[str, set[str]] = {
    "ingest": {"secretsmanager", "firehose", "dynamodb", "logs"},
    "classify": {"s3", "sagemaker", "dynamodb", "logs"},
    "reconcile": {"s3", "sagemaker", "dynamodb", "logs"},
    "api_handler": {"dynamodb", "secretsmanager", "logs"},
    "sweep": {"secretsmanager", "dynamodb", "logs"},
}
# Wildcards that do not widen a grant beyond one resource family:
# an S3 object prefix in one bucket, and the 6 random characters AWS appends to a secret ARN.
_S3_PREFIX = re.compile(r"arn:aws[a-z-]*:s3:::[a-z0-9.\-]{3,63}/[^*?]+/\*")
_SECRET = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^*?]+-\?{6}")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def violations(function: str, policy: dict[str, Any]) -> list[str]:
    """Every least-privilege rule ``policy`` breaks, as readable strings."""
    found: list[str] = []
    if function not in SERVICES:
        return [f"{function}: unknown function (add it to SERVICES)"]
    for statement in _list(policy.get("Statement", [])):
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"{function}: NotAction/NotResource grants everything else")
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in _list(statement.get("Action", []))]
        resources = [str(r) for r in _list(statement.get("Resource", []))]
        for action in actions:
            if "*" in action or "?" in action:
                found.append(f"{function}: wildcard action {action}")
            service = action.split(":", 1)[0].lower()
            if service not in SERVICES[function]:
                found.append(f"{function}: allowed {service} ({action}) but never calls it")
        logs_only = bool(actions) and all(a.lower().startswith("logs:") for a in actions)
        for resource in resources:
            if "*" not in resource and "?" not in resource:
                continue
            if logs_only and (resource == "*" or resource.startswith("arn:aws:logs:")):
                continue  # CloudWatch Logs: Lambda creates its log group and streams by name
            if _S3_PREFIX.fullmatch(resource) or _SECRET.fullmatch(resource):
                continue
            found.append(f"{function}: wildcard resource {resource} for {', '.join(actions)}")
    return found


def referenced_policies(config_path: Path) -> list[tuple[str, str, Path]]:
    """(stage, function, policy file) for every iam_policy_file in a Chalice config."""
    data = json.loads(config_path.read_text())
    out = []
    for stage, section in data.get("stages", {}).items():
        for function, entry in (section.get("lambda_functions") or {}).items():
            if isinstance(entry, dict) and entry.get("iam_policy_file"):
                out.append((stage, function, config_path.parent / entry["iam_policy_file"]))
    return out


# -- the checker itself must be able to fail -----------------------------------------------------

LOGS = {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": ["arn:aws:logs:us-east-1:123456789012:*"]}


@pytest.mark.parametrize("function, statement, complaint", [
    ("ingest", {"Effect": "Allow", "Action": ["dynamodb:*"], "Resource": ["arn:aws:dynamodb:us-east-1:1:table/t"]},
     "wildcard action"),
    ("ingest", {"Effect": "Allow", "Action": "*", "Resource": "*"}, "wildcard action"),
    ("classify", {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}, "wildcard resource"),
    ("classify", {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::*/raw/*"]},
     "wildcard resource"),
    ("api_handler", {"Effect": "Allow", "Action": ["firehose:PutRecordBatch"],
                     "Resource": ["arn:aws:firehose:us-east-1:123456789012:deliverystream/s"]}, "never calls"),
    ("classify", {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                  "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:x-??????"]}, "never calls"),
    ("ingest", {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": ["*"]}, "NotAction"),
])
def test_checker_catches(function: str, statement: dict[str, Any], complaint: str) -> None:
    found = violations(function, {"Version": "2012-10-17", "Statement": [LOGS, statement]})
    assert any(complaint in v for v in found), found


def test_checker_accepts_a_least_privilege_policy() -> None:
    policy = {"Version": "2012-10-17", "Statement": [
        LOGS,
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::my-bucket-1/raw/*"]},
        {"Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint"],
         "Resource": ["arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"]},
    ]}
    assert violations("classify", policy) == []


# -- the committed configuration ----------------------------------------------------------------


def test_config_disables_autogen_policy() -> None:
    data = json.loads(CONFIG.read_text())
    assert data.get("autogen_policy") is False
    for stage, section in data.get("stages", {}).items():
        assert section.get("autogen_policy", False) is False, stage


def test_every_committed_policy_is_least_privilege() -> None:
    policies = referenced_policies(CONFIG)
    if not policies:
        pytest.skip("no stage in .chalice/config.json references a policy file yet (run deploy_model.py)")
    for stage, function, path in policies:
        assert path.is_file(), f"stage {stage}: {function} references missing {path.name}"
        assert violations(function, json.loads(path.read_text())) == [], f"{stage}/{path.name}"


def test_policies_deploy_model_writes_are_least_privilege(aws: None, tmp_path: Path) -> None:
    deploy_model = pytest.importorskip("deploy_model")
    config_path = tmp_path / ".chalice" / "config.json"
    config_path.parent.mkdir()
    shutil.copy(CONFIG, config_path)
    for stage in ("dev", "prod"):
        code = deploy_model.main(["--stage", stage, "--config", str(config_path)],
                                 session=boto3.Session(region_name="us-east-1"))
        assert code == 0
    data = json.loads(config_path.read_text())
    assert data["autogen_policy"] is False
    # Other stages of the copied config point at files that were not copied: checked above.
    policies = [p for p in referenced_policies(config_path) if p[0] in ("dev", "prod")]
    assert {(s, f) for s, f, _ in policies} == {(s, f) for s in ("dev", "prod") for f in SERVICES}
    for stage, function, path in policies:
        policy = json.loads(path.read_text())
        assert violations(function, policy) == [], f"{stage}/{path.name}"
        # Each function is granted every service it calls (no silent AccessDenied in production).
        granted = {a.split(":", 1)[0] for s in _list(policy["Statement"]) for a in _list(s.get("Action", []))}
        assert granted == SERVICES[function], (stage, function, granted)


def test_the_reconciler_lists_only_raw_and_writes_nothing_but_quarantine(aws: None) -> None:
    from provisioning.common import Names  # noqa: PLC0415
    from provisioning.policies import lambda_policies  # noqa: PLC0415

    names = Names("reddit-hate", "dev", "123456789012", "us-east-1", "aws")
    policy = lambda_policies(names)["reconcile"]
    assert violations("reconcile", policy) == []
    by_action = {a: s for s in policy["Statement"] for a in _list(s["Action"])}
    listing = by_action["s3:ListBucket"]
    assert listing["Resource"] == [names.bucket_arn]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["raw/*"]}}
    assert by_action["s3:GetObject"]["Resource"] == [f"{names.bucket_arn}/raw/*"]
    assert by_action["s3:PutObject"]["Resource"] == [f"{names.bucket_arn}/quarantine/*"]
    assert by_action["sagemaker:InvokeEndpoint"]["Resource"] == [names.endpoint_arn]
    # What chalicelib.repository calls for it: leases, completion and attempt records, comments, counters.
    assert {a for a in by_action if a.startswith("dynamodb:")} == {
        "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem",
        "dynamodb:UpdateItem"}


def test_the_api_function_may_write_only_the_review_transaction() -> None:
    """POST /comments/{id}/review adds UpdateItem on the table, usable only inside TransactWriteItems."""
    from provisioning.common import Names  # noqa: PLC0415
    from provisioning.policies import lambda_policies  # noqa: PLC0415

    names = Names("reddit-hate", "prod", "123456789012", "us-east-1")
    statements = _list(lambda_policies(names)["api_handler"]["Statement"])
    dynamodb = {a for s in statements for a in _list(s["Action"]) if a.startswith("dynamodb:")}
    assert dynamodb == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"}
    (write,) = [s for s in statements if "dynamodb:UpdateItem" in _list(s["Action"])]
    assert _list(write["Action"]) == ["dynamodb:UpdateItem"]
    assert _list(write["Resource"]) == [names.table_arn]  # the table only, never an index
    assert write["Condition"] == {"ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]}}
