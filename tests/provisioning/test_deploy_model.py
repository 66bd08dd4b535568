"""deploy_model.py against moto: create, idempotence, config writing, dry run, updates, teardown, bad
arguments; and the script itself against a fresh moto server process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

import deploy_model
from chalicelib import config, schema
from provisioning import chalice_config, common
from tests.conftest import REPO

from .conftest import ACCOUNT, BUCKET, ENDPOINT, REGION, STREAM, TABLE, CallLog, aws_client, run


def test_create_provisions_every_resource(session: boto3.Session, calls: CallLog, cfg_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path) == 0
    out = capsys.readouterr().out
    # 8 resources + one policy file per Lambda function
    assert out.count(" created") == 8 + len(common.LAMBDA_FUNCTIONS) and re.search(r"config.json +updated", out)
    # The SDK must not have looked the account up itself: one STS call, ours.
    assert calls.ops.count("sts.GetCallerIdentity") == 1

    s3 = aws_client("s3")
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    sse = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert sorted((r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in rules) == [
        ("errors/", 30), ("quarantine/", 30), ("raw/", 30)]

    stream = aws_client("firehose").describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
    dest = stream["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert dest["BucketARN"] == f"arn:aws:s3:::{BUCKET}" and dest["CompressionFormat"] == "GZIP"
    assert dest["Prefix"] == "raw/!{timestamp:yyyy/MM/dd/HH}/"
    assert dest["ErrorOutputPrefix"] == "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
    assert dest["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 60}
    role_policy = aws_client("iam").get_role_policy(RoleName="reddit-hate-dev-firehose",
                                                PolicyName="reddit-hate-dev-firehose-policy")["PolicyDocument"]
    assert role_policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]

    ddb = aws_client("dynamodb")
    table = ddb.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"}]
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in table["GlobalSecondaryIndexes"]}
    assert indexes == {name: [pk, schema.SORT_ATTRIBUTE] for name, pk in schema.INDEXES.items()}
    ttl = ddb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == schema.TTL_ATTRIBUTE

    sm = aws_client("secretsmanager")
    placeholder = json.loads(sm.get_secret_value(SecretId="reddit-hate/dev/reddit")["SecretString"])
    assert set(placeholder) == {"client_id", "client_secret", "user_agent"}
    assert re.fullmatch(r"[0-9a-f]{64}", sm.get_secret_value(SecretId="reddit-hate/dev/api-cursor-key")["SecretString"])
    assert "put-secret-value --secret-id reddit-hate/dev/reddit" in out
    assert "3. python deploy_model.py --stage dev --api-key" in out

    sagemaker = aws_client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])[
        "ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 5}
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    env = model["PrimaryContainer"]["Environment"]
    assert env["HF_MODEL_ID"] == common.DEFAULT_MODEL_ID and env["HF_TASK"] == "text-classification"
    assert "huggingface-pytorch-inference" in model["PrimaryContainer"]["Image"]
    assert model["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/reddit-hate-dev-sagemaker"


def test_second_run_changes_nothing(session: boto3.Session, calls: CallLog, cfg_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path) == 0
    first = {p.name: p.read_bytes() for p in cfg_path.parent.iterdir()}
    capsys.readouterr()
    calls.clear()
    assert run(session, cfg_path) == 0
    out = capsys.readouterr().out
    assert calls.writes == []
    resource_lines = [line for line in out.splitlines() if line.startswith("  ") and "..." not in line][:12]
    assert len(resource_lines) == 12 and all(line.endswith(("exists, unchanged", ")")) for line in resource_lines)
    assert " created" not in out and " updated" not in out and "nothing changed" in out
    assert {p.name: p.read_bytes() for p in cfg_path.parent.iterdir()} == first


def test_config_keeps_other_keys(session: boto3.Session, cfg_path: Path) -> None:
    assert run(session, cfg_path, "--subreddits", "r/news,worldnews", "--batch-size", "64") == 0
    data = json.loads(cfg_path.read_text())
    assert data["autogen_policy"] is False and data["lambda_timeout"] == 300
    assert data["stages"]["prod"] == {"api_gateway_stage": "api"}
    dev = data["stages"]["dev"]
    assert dev["api_gateway_stage"] == "api"
    env = dev["environment_variables"]
    assert env["REDDIT_OAUTH_URL"] == "http://127.0.0.1:9/"
    assert set(chalice_config.OWNED_ENV_KEYS) <= set(env)
    assert env[config.ENV_SUBREDDITS] == "news,worldnews" and env[config.ENV_BATCH_SIZE] == "64"
    assert env[config.ENV_API_AUTH] == "api_key"  # every AWS stage defaults to keys, over the old value
    settings = config.load(env)  # the app can read what was written
    assert (settings.bucket, settings.table, settings.stream, settings.endpoint_name) == (
        BUCKET, TABLE, STREAM, ENDPOINT)
    assert settings.reddit_secret_id == "reddit-hate/dev/reddit"
    assert {fn: entry["iam_policy_file"] for fn, entry in dev["lambda_functions"].items()} == {
        fn: f"policy-dev-{fn}.json" for fn in common.LAMBDA_FUNCTIONS}
    # moto has no GetAccountSettings: with the account's concurrency unknown nothing is reserved.
    assert "reserved_concurrency" not in dev["lambda_functions"]["ingest"]
    assert cfg_path.read_text().endswith("}\n")


def test_dry_run_only_reads(session: boto3.Session, calls: CallLog, cfg_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    before = cfg_path.read_bytes()
    assert run(session, cfg_path, "--dry-run") == 0
    assert calls.ops and calls.writes == []
    assert "would create" in capsys.readouterr().out
    assert aws_client("s3").list_buckets()["Buckets"] == []
    assert cfg_path.read_bytes() == before and sorted(p.name for p in cfg_path.parent.iterdir()) == ["config.json"]


def test_dry_run_reports_pending_update(session: boto3.Session, calls: CallLog, cfg_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path) == 0
    capsys.readouterr()
    calls.clear()
    assert run(session, cfg_path, "--dry-run", "--buffer-seconds", "300") == 0
    assert calls.writes == []
    out = capsys.readouterr().out
    assert re.search(r"Firehose stream .* would update \(BufferingHints\)", out)


def test_firehose_buffering_is_updated(session: boto3.Session, cfg_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path) == 0
    assert run(session, cfg_path, "--buffer-seconds", "300", "--buffer-mb", "64") == 0
    assert re.search(r"Firehose stream .* updated", capsys.readouterr().out)
    stream = aws_client("firehose").describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
    hints = stream["Destinations"][0]["ExtendedS3DestinationDescription"]["BufferingHints"]
    assert hints == {"SizeInMBs": 64, "IntervalInSeconds": 300}


def test_changed_endpoint_settings_roll_out_a_new_config(session: boto3.Session, cfg_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path) == 0
    sagemaker = aws_client("sagemaker")
    old_config = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    updates: list[dict[str, Any]] = []

    # moto has no UpdateEndpoint: record the request and answer it here.
    def record(params: dict[str, Any], **_: Any) -> None:
        updates.append(dict(params))

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://sagemaker", 200, HTTPHeaders(), None), {"EndpointArn": "arn"}

    session.events.register("before-parameter-build.sagemaker.UpdateEndpoint", record)
    session.events.register("before-call.sagemaker.UpdateEndpoint", answer)  # type: ignore[arg-type]
    assert run(session, cfg_path, "--memory-mb", "2048", "--max-concurrency", "2") == 0
    assert re.search(r"SageMaker endpoint .* updated", capsys.readouterr().out)
    assert len(updates) == 1 and updates[0]["EndpointName"] == ENDPOINT
    new_config = updates[0]["EndpointConfigName"]
    assert new_config != old_config and re.fullmatch(r"reddit-hate-dev-[0-9a-f]{8}", new_config)
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=new_config)["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 2}
    assert variant["ModelName"] == new_config
    # After the (waited-for) rollout the previous version is cleaned up.
    assert [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]] == [new_config]


def test_prod_stage_gets_pitr_and_api_keys(session: boto3.Session, cfg_path: Path) -> None:
    assert deploy_model.main(["--stage", "prod", "--config", str(cfg_path), "--retention-days", "0"],
                             session=session) == 0
    backups = aws_client("dynamodb").describe_continuous_backups(TableName="reddit-hate-prod-comments")
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    env = json.loads(cfg_path.read_text())["stages"]["prod"]["environment_variables"]
    assert env[config.ENV_API_AUTH] == "api_key" and env[config.ENV_RETENTION_DAYS] == "0"
    bucket = f"reddit-hate-prod-{ACCOUNT}-{REGION}"
    with pytest.raises(aws_client("s3").exceptions.ClientError, match="NoSuchLifecycleConfiguration"):
        aws_client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)


def test_existing_role_arn_is_used(session: boto3.Session, cfg_path: Path) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/my-own-role"
    assert run(session, cfg_path, "--role-arn", role) == 0
    names = [r["RoleName"] for r in aws_client("iam").list_roles()["Roles"]]
    assert "reddit-hate-dev-sagemaker" not in names
    model = aws_client("sagemaker").list_models()["Models"][0]["ModelName"]
    assert aws_client("sagemaker").describe_model(ModelName=model)["ExecutionRoleArn"] == role



@pytest.mark.parametrize("args", [
    ["--memory-mb", "1000"], ["--memory-mb", "7168"], ["--memory-mb", "big"],
    ["--max-concurrency", "0"], ["--max-concurrency", "201"],
    ["--buffer-seconds", "901"], ["--buffer-mb", "0"], ["--batch-size", "513"],
    ["--prefix", "Bad_Prefix"], ["--prefix", "a" * 40], ["--api-auth", "basic"], ["--stage", "Dev"],
    ["--alert-email", "not-an-address"], ["--alert-multiple", "1"], ["--alert-min-volume", "0"],
    ["--alert-baseline-hours", "1"], ["--alert-baseline-hours", "169"], ["--alert-silent-periods", "0"],
    # CloudWatch: Period x EvaluationPeriods at most one day when the period is under an hour.
    ["--alert-silent-periods", "289"], ["--alert-silent-periods", "100", "--schedule-minutes", "15"],
    ["--billing", "monthly"], ["--billing", "on-demand", "--min-read-capacity", "5"],
    ["--min-write-capacity", "10", "--max-write-capacity", "5"], ["--max-read-capacity", "0"],
    ["--min-read-capacity", "40001"],
])
def test_invalid_values_exit_2_before_any_call(args: list[str], session: boto3.Session, calls: CallLog,
                                               cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run(session, cfg_path, *args)
    assert exc.value.code == 2
    assert calls.ops == []
    err = capsys.readouterr().err
    assert args[0] in err and len(err.strip().splitlines()) == 1


def test_teardown_refuses_non_empty_bucket_then_force_removes_everything(
        session: boto3.Session, cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path) == 0
    aws_client("s3").put_object(Bucket=BUCKET, Key="raw/2026/01/01/00/x.gz", Body=b"x")
    capsys.readouterr()
    assert run(session, cfg_path, "--teardown") == 1
    err = capsys.readouterr().err
    assert "still holds objects" in err and "--force" in err
    assert aws_client("dynamodb").describe_table(TableName=TABLE)  # nothing was deleted

    assert run(session, cfg_path, "--teardown", "--force") == 0
    assert aws_client("s3").list_buckets()["Buckets"] == []
    assert aws_client("dynamodb").list_tables()["TableNames"] == []
    assert aws_client("firehose").list_delivery_streams()["DeliveryStreamNames"] == []
    assert aws_client("secretsmanager").list_secrets()["SecretList"] == []
    sagemaker = aws_client("sagemaker")
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
    assert [r["RoleName"] for r in aws_client("iam").list_roles()["Roles"]] == []
    assert sorted(p.name for p in cfg_path.parent.iterdir()) == ["config.json"]
    data = json.loads(cfg_path.read_text())
    assert data["stages"]["dev"] == {"api_gateway_stage": "api",
                                     "environment_variables": {"REDDIT_OAUTH_URL": "http://127.0.0.1:9/"}}
    # A second teardown finds nothing left and still succeeds.
    capsys.readouterr()
    assert run(session, cfg_path, "--teardown") == 0
    assert " deleted" not in capsys.readouterr().out


def test_teardown_keeps_secrets_recoverable_and_redeploy_restores_them(session: boto3.Session,
                                                                       cfg_path: Path) -> None:
    assert run(session, cfg_path) == 0
    sm = aws_client("secretsmanager")
    key = sm.get_secret_value(SecretId="reddit-hate/dev/api-cursor-key")["SecretString"]
    assert run(session, cfg_path, "--teardown") == 0
    assert sm.describe_secret(SecretId="reddit-hate/dev/api-cursor-key").get("DeletedDate")
    assert run(session, cfg_path) == 0
    assert not sm.describe_secret(SecretId="reddit-hate/dev/api-cursor-key").get("DeletedDate")
    assert sm.get_secret_value(SecretId="reddit-hate/dev/api-cursor-key")["SecretString"] == key


def test_help_and_import_work_without_the_sagemaker_sdk() -> None:
    code = ("import sys; sys.modules['sagemaker'] = None; import deploy_model; "
            "sys.argv = ['deploy_model.py', '--help']; deploy_model.main()")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    for option in ("--teardown", "--dry-run", "--memory-mb", "--max-concurrency", "--role-arn", "--no-wait"):
        assert option in result.stdout


@contextmanager
def moto_server() -> Iterator[str]:
    """A real, empty moto server process on a free port; yields its URL."""
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", "0"], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                yield match.group(1)
                break
        else:
            pytest.fail("moto_server did not start")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _script(url: str, config_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env.pop("AWS_SESSION_TOKEN", None)
    return subprocess.run(
        [sys.executable, str(REPO / "deploy_model.py"), "--stage", "local", "--region", REGION, "--no-wait",
         "--config", str(config_path)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_against_moto_server_files_are_byte_identical_on_a_fresh_server(tmp_path: Path) -> None:
    config_path = tmp_path / ".chalice" / "config.json"
    snapshots = []
    for _ in range(2):  # each pass gets a brand-new, empty moto server process
        with moto_server() as url:
            result = _script(url, config_path)
        assert result.returncode == 0, result.stderr
        assert re.search(r"SageMaker endpoint +reddit-hate-local +created", result.stdout)
        snapshots.append({p.name: p.read_bytes() for p in config_path.parent.iterdir()})
    assert snapshots[0] == snapshots[1]
    policies = sorted(f"policy-local-{fn}.json" for fn in common.LAMBDA_FUNCTIONS)
    assert sorted(snapshots[0]) == ["config.json", *policies]
    env = json.loads(snapshots[0]["config.json"])["stages"]["local"]["environment_variables"]
    assert env[config.ENV_BUCKET] == f"reddit-hate-local-{ACCOUNT}-{REGION}"

