"""deploy_model.py against moto: least-privilege policy files, secrets never printed, API auth by stage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest

import deploy_model
from chalicelib import config, schema
from provisioning import common

from .conftest import ACCOUNT, BUCKET, ENDPOINT, REGION, STREAM, TABLE, CallLog, aws_client, run

CREDS = {"REDDIT_CLIENT_ID": "cid-TOPSECRET-1", "REDDIT_CLIENT_SECRET": "sec-TOPSECRET-2",
         "REDDIT_USER_AGENT": "test:reddit-hate-watch:0.1 (by /u/tester)"}


def test_policy_files_are_least_privilege(session: boto3.Session, cfg_path: Path) -> None:
    assert run(session, cfg_path) == 0
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
    seen: dict[str, dict[str, list[str]]] = {}
    for fn in common.LAMBDA_FUNCTIONS:
        doc = json.loads((cfg_path.parent / f"policy-dev-{fn}.json").read_text())
        grants: dict[str, list[str]] = {}
        for statement in doc["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in statement["Action"]:
                assert "*" not in action
                grants.setdefault(action, []).extend(statement["Resource"])
            for resource in statement["Resource"]:
                assert resource != "*"
                if "*" in resource:
                    logs = resource == f"arn:aws:logs:{REGION}:{ACCOUNT}:*"
                    s3_prefix = re.fullmatch(rf"arn:aws:s3:::{BUCKET}/(raw|quarantine)/\*", resource)
                    assert logs or s3_prefix, resource
                if resource.startswith("arn:aws:logs:"):
                    assert set(statement["Action"]) == {
                        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
        seen[fn] = grants
    assert seen["ingest"]["secretsmanager:GetSecretValue"] == [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:reddit-hate/dev/reddit-??????"]
    assert seen["ingest"]["firehose:PutRecordBatch"] == [f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{STREAM}"]
    assert "dynamodb:Query" not in seen["ingest"] and "s3:GetObject" not in seen["ingest"]
    assert seen["classify"]["s3:GetObject"] == [f"arn:aws:s3:::{BUCKET}/raw/*"]
    assert seen["classify"]["s3:PutObject"] == [f"arn:aws:s3:::{BUCKET}/quarantine/*"]
    assert seen["classify"]["s3:ListBucket"] == [f"arn:aws:s3:::{BUCKET}"]  # 404, not 403, for a gone object
    assert seen["classify"]["sagemaker:InvokeEndpoint"] == [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"]
    assert seen["classify"]["dynamodb:UpdateItem"] == [table_arn]
    assert "secretsmanager:GetSecretValue" not in seen["classify"]
    assert seen["api_handler"]["dynamodb:Query"] == [table_arn] + [f"{table_arn}/index/{i}" for i in schema.INDEXES]
    assert seen["api_handler"]["secretsmanager:GetSecretValue"] == [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:reddit-hate/dev/api-cursor-key-??????"]
    # Its one write: the review transaction's UpdateItem on the table (tests/test_iam.py checks the condition).
    assert seen["api_handler"]["dynamodb:UpdateItem"] == [table_arn]
    assert not any(a.startswith(("dynamodb:Put", "dynamodb:Delete", "dynamodb:Batch")) for a in seen["api_handler"])


def test_secret_values_are_never_printed(session: boto3.Session, cfg_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in CREDS.items():
        monkeypatch.setenv(name, value)
    assert run(session, cfg_path) == 0
    sm = aws_client("secretsmanager")
    stored = json.loads(sm.get_secret_value(SecretId="reddit-hate/dev/reddit")["SecretString"])
    assert stored == {"client_id": CREDS["REDDIT_CLIENT_ID"], "client_secret": CREDS["REDDIT_CLIENT_SECRET"],
                      "user_agent": CREDS["REDDIT_USER_AGENT"]}
    cursor_key = sm.get_secret_value(SecretId="reddit-hate/dev/api-cursor-key")["SecretString"]
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "sec-TOPSECRET-rotated")
    assert run(session, cfg_path) == 0
    captured = capsys.readouterr()
    assert re.search(r"secret +reddit-hate/dev/reddit +updated", captured.out)
    assert json.loads(sm.get_secret_value(SecretId="reddit-hate/dev/reddit")["SecretString"])[
        "client_secret"] == "sec-TOPSECRET-rotated"
    # The cursor key is generated once and never regenerated.
    assert sm.get_secret_value(SecretId="reddit-hate/dev/api-cursor-key")["SecretString"] == cursor_key
    for text in (captured.out, captured.err):
        assert "TOPSECRET" not in text and cursor_key not in text


def test_partial_reddit_credentials_are_rejected(session: boto3.Session, calls: CallLog, cfg_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "only-this")
    with pytest.raises(SystemExit) as exc:
        run(session, cfg_path)
    assert exc.value.code == 2 and calls.ops == []



def test_every_aws_stage_defaults_to_api_keys_and_none_is_a_loud_choice(
        session: boto3.Session, cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12 item 7: `dev` on real API Gateway used to be open to anyone."""
    assert common.Options(stage="dev", region=REGION).api_auth == "none"  # the dataclass default is not the CLI's
    for stage, wanted in (("dev", "api_key"), ("staging", "api_key"), ("local", "none")):
        options = deploy_model.parse_options(["--stage", stage], environ={})
        assert options.api_auth == wanted, stage
    assert run(session, cfg_path, "--dry-run") == 0
    assert "warning" not in capsys.readouterr().err
    assert run(session, cfg_path, "--api-auth", "none") == 0
    err = capsys.readouterr().err
    assert "warning: --api-auth none" in err and "'dev'" in err
    env = json.loads(cfg_path.read_text())["stages"]["dev"]["environment_variables"]
    assert env[config.ENV_API_AUTH] == "none"


