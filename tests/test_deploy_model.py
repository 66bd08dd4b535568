"""deploy_model.py against moto: create, idempotence, update, dry run, teardown, policies."""

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
from provisioning import chalice_config, common, concurrency

REPO = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"
BUCKET = f"reddit-hate-dev-{ACCOUNT}-{REGION}"
TABLE = STREAM = "reddit-hate-dev-comments"
ENDPOINT = "reddit-hate-dev"
READ_PREFIXES = ("Describe", "Get", "List", "Head")
CREDS = {"REDDIT_CLIENT_ID": "cid-TOPSECRET-1", "REDDIT_CLIENT_SECRET": "sec-TOPSECRET-2",
         "REDDIT_USER_AGENT": "test:reddit-hate-watch:0.1 (by /u/tester)"}


class CallLog:
    """Records every AWS operation made through one boto3 session."""

    def __init__(self, session: boto3.Session) -> None:
        self.ops: list[str] = []
        session.events.register("before-call", self._record)

    def _record(self, event_name: str, **_: Any) -> None:
        self.ops.append(event_name.split(".", 1)[1])  # "s3.CreateBucket"

    @property
    def writes(self) -> list[str]:
        return [op for op in self.ops if not op.split(".", 1)[1].startswith(READ_PREFIXES)]

    def clear(self) -> None:
        self.ops.clear()


@pytest.fixture
def session(aws: None) -> boto3.Session:
    return boto3.Session(region_name=REGION)


@pytest.fixture
def calls(session: boto3.Session) -> CallLog:
    return CallLog(session)


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    path = tmp_path / ".chalice" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({
        "version": "2.0", "app_name": "reddit-hate-watch", "autogen_policy": True, "lambda_timeout": 300,
        "stages": {
            "dev": {"api_gateway_stage": "api",
                    "environment_variables": {"REDDIT_OAUTH_URL": "http://127.0.0.1:9/", "API_AUTH": "iam"}},
            "prod": {"api_gateway_stage": "api"},
        },
    }, indent=4))
    return path


def run(session: boto3.Session, cfg_path: Path, *args: str) -> int:
    return deploy_model.main(["--stage", "dev", "--config", str(cfg_path), *args], session=session)


def client(name: str) -> Any:
    return boto3.client(name, region_name=REGION)  # type: ignore[call-overload]


def test_create_provisions_every_resource(session: boto3.Session, calls: CallLog, cfg_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path) == 0
    out = capsys.readouterr().out
    # 8 resources + one policy file per Lambda function
    assert out.count(" created") == 8 + len(common.LAMBDA_FUNCTIONS) and re.search(r"config.json +updated", out)
    # The SDK must not have looked the account up itself: one STS call, ours.
    assert calls.ops.count("sts.GetCallerIdentity") == 1

    s3 = client("s3")
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    sse = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert sorted((r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in rules) == [
        ("errors/", 30), ("quarantine/", 30), ("raw/", 30)]

    stream = client("firehose").describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
    dest = stream["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert dest["BucketARN"] == f"arn:aws:s3:::{BUCKET}" and dest["CompressionFormat"] == "GZIP"
    assert dest["Prefix"] == "raw/!{timestamp:yyyy/MM/dd/HH}/"
    assert dest["ErrorOutputPrefix"] == "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
    assert dest["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 60}
    role_policy = client("iam").get_role_policy(RoleName="reddit-hate-dev-firehose",
                                                PolicyName="reddit-hate-dev-firehose-policy")["PolicyDocument"]
    assert role_policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]

    ddb = client("dynamodb")
    table = ddb.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"}]
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in table["GlobalSecondaryIndexes"]}
    assert indexes == {name: [pk, schema.SORT_ATTRIBUTE] for name, pk in schema.INDEXES.items()}
    ttl = ddb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == schema.TTL_ATTRIBUTE

    sm = client("secretsmanager")
    placeholder = json.loads(sm.get_secret_value(SecretId="reddit-hate/dev/reddit")["SecretString"])
    assert set(placeholder) == {"client_id", "client_secret", "user_agent"}
    assert re.fullmatch(r"[0-9a-f]{64}", sm.get_secret_value(SecretId="reddit-hate/dev/api-cursor-key")["SecretString"])
    assert "put-secret-value --secret-id reddit-hate/dev/reddit" in out
    assert "3. python deploy_model.py --stage dev --api-key" in out

    sagemaker = client("sagemaker")
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
    assert client("s3").list_buckets()["Buckets"] == []
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
    stream = client("firehose").describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
    hints = stream["Destinations"][0]["ExtendedS3DestinationDescription"]["BufferingHints"]
    assert hints == {"SizeInMBs": 64, "IntervalInSeconds": 300}


def test_changed_endpoint_settings_roll_out_a_new_config(session: boto3.Session, cfg_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path) == 0
    sagemaker = client("sagemaker")
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
    backups = client("dynamodb").describe_continuous_backups(TableName="reddit-hate-prod-comments")
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    env = json.loads(cfg_path.read_text())["stages"]["prod"]["environment_variables"]
    assert env[config.ENV_API_AUTH] == "api_key" and env[config.ENV_RETENTION_DAYS] == "0"
    bucket = f"reddit-hate-prod-{ACCOUNT}-{REGION}"
    with pytest.raises(client("s3").exceptions.ClientError, match="NoSuchLifecycleConfiguration"):
        client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)


def test_existing_role_arn_is_used(session: boto3.Session, cfg_path: Path) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/my-own-role"
    assert run(session, cfg_path, "--role-arn", role) == 0
    names = [r["RoleName"] for r in client("iam").list_roles()["Roles"]]
    assert "reddit-hate-dev-sagemaker" not in names
    model = client("sagemaker").list_models()["Models"][0]["ModelName"]
    assert client("sagemaker").describe_model(ModelName=model)["ExecutionRoleArn"] == role


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
    sm = client("secretsmanager")
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
    client("s3").put_object(Bucket=BUCKET, Key="raw/2026/01/01/00/x.gz", Body=b"x")
    capsys.readouterr()
    assert run(session, cfg_path, "--teardown") == 1
    err = capsys.readouterr().err
    assert "still holds objects" in err and "--force" in err
    assert client("dynamodb").describe_table(TableName=TABLE)  # nothing was deleted

    assert run(session, cfg_path, "--teardown", "--force") == 0
    assert client("s3").list_buckets()["Buckets"] == []
    assert client("dynamodb").list_tables()["TableNames"] == []
    assert client("firehose").list_delivery_streams()["DeliveryStreamNames"] == []
    assert client("secretsmanager").list_secrets()["SecretList"] == []
    sagemaker = client("sagemaker")
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
    assert [r["RoleName"] for r in client("iam").list_roles()["Roles"]] == []
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
    sm = client("secretsmanager")
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


def test_powertools_comes_from_the_managed_layer_of_the_region() -> None:
    arn = chalice_config.powertools_layer_arn("eu-west-1", 27)
    assert arn == "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:27"
    config = json.loads((REPO / ".chalice" / "config.json").read_text())
    assert config["stages"]["local"]["layers"] == [chalice_config.powertools_layer_arn("us-east-1")]
    requirements = (REPO / "requirements.txt").read_text().lower()
    assert "powertools" not in "".join(line.split("#")[0] for line in requirements.splitlines())


def test_lambda_concurrency_follows_the_endpoint_concurrency() -> None:
    small = common.Options(stage="dev", region="us-east-1", max_concurrency=5)
    large = common.Options(stage="dev", region="us-east-1", max_concurrency=20)
    assert concurrency.reserved_concurrency(small) == {"ingest": 1, "classify": 1}
    assert concurrency.reserved_concurrency(large) == {"ingest": 1, "classify": 5}
    assert concurrency.classify_concurrency(common.Options(stage="dev", region="x", max_concurrency=2)) == 2
    local = json.loads((REPO / ".chalice" / "config.json").read_text())["stages"]["local"]["lambda_functions"]
    assert all("reserved_concurrency" not in entry for entry in local.values())  # moto: limits unknown


def answer_account_settings(session: boto3.Session, limit: int, unreserved: int) -> None:
    """moto has no GetAccountSettings: answer it the way Lambda does."""
    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://lambda", 200, HTTPHeaders(), None), {
            "AccountLimit": {"ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": unreserved}}

    session.events.register("before-call.lambda.GetAccountSettings", answer)  # type: ignore[arg-type]


def test_a_small_account_gets_no_reservations_and_a_big_one_gets_them(
        session: boto3.Session, cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12 item 2: any reservation in a 10-concurrency account makes `chalice deploy` fail."""
    big = boto3.Session(region_name=REGION)
    answer_account_settings(big, 1000, 1000)
    assert deploy_model.main(["--stage", "dev", "--config", str(cfg_path), "--no-wait"], session=big) == 0
    functions = json.loads(cfg_path.read_text())["stages"]["dev"]["lambda_functions"]
    assert functions["ingest"]["reserved_concurrency"] == 1 and functions["classify"]["reserved_concurrency"] == 1
    assert "ingest 1, classify 1 (account limit 1000, 1000 unreserved; 998 stay unreserved)" in capsys.readouterr().out
    small = boto3.Session(region_name=REGION)
    answer_account_settings(small, 10, 10)
    assert deploy_model.main(["--stage", "dev", "--config", str(cfg_path), "--no-wait"], session=small) == 0
    out = capsys.readouterr().out
    assert re.search(r"Chalice config +config.json +updated", out)
    assert "none reserved (account limit 10, 10 unreserved; reserving 2 would leave 8, below AWS's minimum" in out
    functions = json.loads(cfg_path.read_text())["stages"]["dev"]["lambda_functions"]
    assert all("reserved_concurrency" not in entry for entry in functions.values())
    assert all(entry["iam_policy_file"] for entry in functions.values())


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


def test_api_key_command_after_chalice_deploy_and_teardown_removes_it(
        session: boto3.Session, cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path, "--no-wait") == 0
    apigw = client("apigateway")
    api_id = apigw.create_rest_api(name="reddit-hate-watch")["id"]  # what `chalice deploy` creates
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=api_id, stageName="api")
    capsys.readouterr()
    assert run(session, cfg_path, "--api-key") == 0
    out = capsys.readouterr().out
    assert re.search(r"API usage plan +reddit-hate-dev-api +created \(10 req/s, burst 20", out)
    [key] = apigw.get_api_keys(includeValues=True)["items"]
    assert key["value"] not in out and "note:" not in out  # the dev stage asks for keys now
    assert run(session, cfg_path, "--api-key") == 0
    assert " created" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        run(session, cfg_path, "--api-key", "--teardown")
    assert exc.value.code == 2
    assert run(session, cfg_path, "--teardown", "--force") == 0
    assert apigw.get_usage_plans()["items"] == [] and apigw.get_api_keys()["items"] == []


def test_alert_flags_create_the_alarms_write_the_baseline_and_teardown_removes_them(
        session: boto3.Session, cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--no-wait", "--subreddits", "news", "--alert-email", "ops@example.org", "--alert-multiple", "2.5",
            "--alert-min-volume", "40", "--alert-baseline-hours", "48", "--alert-silent-periods", "4"]
    assert run(session, cfg_path, *args) == 0
    found = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert sorted(found) == [f"reddit-hate-dev-alarm-{n}" for n in (
        "hate-rate-all", "hate-rate-news", "listing-gaps", "needs-attention", "no-comments")]
    assert found["reddit-hate-dev-alarm-hate-rate-news"]["Threshold"] == 2.5
    assert found["reddit-hate-dev-alarm-no-comments"]["EvaluationPeriods"] == 4
    env = json.loads(cfg_path.read_text())["stages"]["dev"]["environment_variables"]
    assert env[config.ENV_HATE_BASELINE_HOURS] == "48"
    capsys.readouterr()
    assert run(session, cfg_path, *args) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert run(session, cfg_path, "--teardown", "--force") == 0
    assert client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert client("sns").list_topics()["Topics"] == []


def test_provisioned_billing_deploys_reruns_unchanged_and_tears_down(session: boto3.Session, calls: CallLog,
                                                                     cfg_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path, "--billing", "provisioned") == 0
    assert re.search(r"DynamoDB auto scaling +reddit-hate-dev-comments +created", capsys.readouterr().out)
    assert client("dynamodb").describe_table(TableName=TABLE)["Table"]["BillingModeSummary"]["BillingMode"] == (
        "PROVISIONED")
    calls.clear()
    assert run(session, cfg_path) == 0  # without --billing the table stays provisioned
    out = capsys.readouterr().out
    assert calls.writes == [] and "nothing changed" in out
    assert re.search(r"DynamoDB auto scaling +reddit-hate-dev-comments +exists, unchanged", out)
    assert run(session, cfg_path, "--teardown", "--force") == 0
    assert re.search(r"DynamoDB auto scaling +reddit-hate-dev-comments +deleted", capsys.readouterr().out)
    scaling = client("application-autoscaling")
    assert scaling.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"] == []


def test_an_auto_scaling_refusal_is_one_line_without_traceback(session: boto3.Session, cfg_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # What Application Auto Scaling answers a principal without iam:CreateServiceLinkedRole (moto never does).
    def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://application-autoscaling", 400, HTTPHeaders(), None), {
            "Error": {"Code": "AccessDeniedException",
                      "Message": "Caller does not have permissions to create a Service Linked Role"},
            "ResponseMetadata": {"HTTPStatusCode": 400}}

    session.events.register("before-call.application-auto-scaling.RegisterScalableTarget", refuse)  # type: ignore[arg-type]
    assert run(session, cfg_path, "--billing", "provisioned") == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: Application Auto Scaling") and "iam:CreateServiceLinkedRole" in err
