"""deploy_model.py stage options: the Powertools layer, Lambda concurrency reservations, API keys, alarms,
DynamoDB billing mode."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

import deploy_model
from chalicelib import config
from provisioning import chalice_config, common, concurrency
from tests.conftest import REPO

from .conftest import REGION, TABLE, CallLog, aws_client, run


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



def test_api_key_command_after_chalice_deploy_and_teardown_removes_it(
        session: boto3.Session, cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path, "--no-wait") == 0
    apigw = aws_client("apigateway")
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
    found = {a["AlarmName"]: a for a in aws_client("cloudwatch").describe_alarms()["MetricAlarms"]}
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
    assert aws_client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert aws_client("sns").list_topics()["Topics"] == []


def test_provisioned_billing_deploys_reruns_unchanged_and_tears_down(session: boto3.Session, calls: CallLog,
                                                                     cfg_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run(session, cfg_path, "--billing", "provisioned") == 0
    assert re.search(r"DynamoDB auto scaling +reddit-hate-dev-comments +created", capsys.readouterr().out)
    assert aws_client("dynamodb").describe_table(TableName=TABLE)["Table"]["BillingModeSummary"]["BillingMode"] == (
        "PROVISIONED")
    calls.clear()
    assert run(session, cfg_path) == 0  # without --billing the table stays provisioned
    out = capsys.readouterr().out
    assert calls.writes == [] and "nothing changed" in out
    assert re.search(r"DynamoDB auto scaling +reddit-hate-dev-comments +exists, unchanged", out)
    assert run(session, cfg_path, "--teardown", "--force") == 0
    assert re.search(r"DynamoDB auto scaling +reddit-hate-dev-comments +deleted", capsys.readouterr().out)
    scaling = aws_client("application-autoscaling")
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
