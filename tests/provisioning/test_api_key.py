"""provisioning.api_key against moto: a throttled usage plan and an API key for the stage's REST API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from provisioning import api_key, stack
from provisioning.common import Context, DeployError, Status

from .conftest import REGION, make_ctx

PLAN, KEY = "reddit-hate-dev-api", "reddit-hate-dev-api-key"
CONFIG: dict[str, Any] = {"app_name": "reddit-hate-watch", "stages": {"dev": {"api_gateway_stage": "api"}}}


def rest_api(name: str = "reddit-hate-watch", stage: str = "api") -> str:
    client = boto3.client("apigateway", region_name=REGION)
    api_id = client.create_rest_api(name=name)["id"]
    root = client.get_resources(restApiId=api_id)["items"][0]["id"]
    client.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    client.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    client.create_deployment(restApiId=api_id, stageName=stage)
    return str(api_id)


def plan_of(name: str = PLAN) -> dict[str, Any]:
    [plan] = [p for p in boto3.client("apigateway", region_name=REGION).get_usage_plans()["items"] if p["name"] == name]
    return dict(plan)


def test_apply_creates_a_throttled_plan_and_a_key_and_never_prints_the_value(ctx: Context, lines: list[str]) -> None:
    api_id = rest_api()
    outcomes = api_key.apply(ctx, CONFIG)
    assert [(o.kind, o.status) for o in outcomes] == [
        ("API usage plan", Status.CREATED), ("API key", Status.CREATED), ("API key in plan", Status.CREATED)]
    plan = plan_of()
    assert plan["throttle"] == {"rateLimit": 10.0, "burstLimit": 20}
    assert plan["apiStages"] == [{"apiId": api_id, "stage": "api"}]
    client = boto3.client("apigateway", region_name=REGION)
    [key] = [k for k in client.get_api_keys(includeValues=True)["items"] if k["name"] == KEY]
    assert key["enabled"] and [k["id"] for k in client.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [
        key["id"]]
    text = "\n".join(lines)
    assert key["value"] not in text and f"get-api-key --api-key {key['id']} --include-value" in text


def test_second_apply_changes_nothing_and_new_rate_updates_the_throttle(aws: None, tmp_path: Path) -> None:
    rest_api()
    api_key.apply(make_ctx(tmp_path), CONFIG)
    again = api_key.apply(make_ctx(tmp_path), CONFIG)
    assert [o.status for o in again] == [Status.UNCHANGED, Status.UNCHANGED]
    [plan_outcome, _] = api_key.apply(make_ctx(tmp_path, api_rate=3, api_burst=5), CONFIG)
    assert plan_outcome.status is Status.UPDATED and plan_outcome.detail == "throttle"
    assert plan_of()["throttle"] == {"rateLimit": 3, "burstLimit": 5}


def test_a_redeployed_api_moves_the_plan_to_the_new_stage(aws: None, tmp_path: Path) -> None:
    old = rest_api()
    api_key.apply(make_ctx(tmp_path), CONFIG)
    boto3.client("apigateway", region_name=REGION).delete_rest_api(restApiId=old)
    new = rest_api()
    [plan_outcome, _] = api_key.apply(make_ctx(tmp_path), CONFIG)
    assert plan_outcome.detail == "API stage"
    assert plan_of()["apiStages"] == [{"apiId": new, "stage": "api"}]


def test_the_rest_api_is_found_from_chalices_record_or_refused_when_ambiguous(ctx: Context) -> None:
    with pytest.raises(DeployError, match="run `chalice deploy --stage dev` first"):
        api_key.apply(ctx, CONFIG)
    first, second = rest_api(), rest_api()
    with pytest.raises(DeployError, match=r"2 REST APIs are named 'reddit-hate-watch'.*--rest-api-id"):
        api_key.rest_api_id(ctx, CONFIG)
    deployed = ctx.options.policy_dir / "deployed" / "dev.json"
    deployed.parent.mkdir(parents=True)
    deployed.write_text(json.dumps({"resources": [{"name": "rest_api", "resource_type": "rest_api",
                                                   "rest_api_id": second}]}))
    assert api_key.rest_api_id(ctx, CONFIG) == second and first != second


def test_a_missing_stage_is_refused(ctx: Context) -> None:
    rest_api(stage="other")
    with pytest.raises(DeployError, match="has no stage 'api'"):
        api_key.apply(ctx, CONFIG)


def test_dry_run_only_reads(aws: None, tmp_path: Path) -> None:
    rest_api()
    outcomes = api_key.apply(make_ctx(tmp_path, dry_run=True), CONFIG)
    assert {o.status for o in outcomes} == {Status.CREATED}
    assert boto3.client("apigateway", region_name=REGION).get_usage_plans()["items"] == []


def test_delete_removes_plan_and_key(ctx: Context) -> None:
    rest_api()
    api_key.apply(ctx, CONFIG)
    assert [o.status for o in api_key.delete(ctx)] == [Status.DELETED, Status.DELETED]
    client = boto3.client("apigateway", region_name=REGION)
    assert client.get_usage_plans()["items"] == [] and client.get_api_keys()["items"] == []
    assert [o.status for o in api_key.delete(ctx)] == [Status.ABSENT, Status.ABSENT]


def test_delete_detaches_the_stages_before_deleting_the_plan(aws: None, tmp_path: Path) -> None:
    """Real API Gateway refuses DeleteUsagePlan while the plan has API stages (moto does not)."""
    ctx = make_ctx(tmp_path)
    client = boto3.client("apigateway", region_name=REGION)
    ctx._clients["apigateway"] = client
    stub = Stubber(client)
    stub.add_response("get_usage_plans", {"items": [{"id": "p1", "name": PLAN,
                                                     "apiStages": [{"apiId": "a1", "stage": "api"}]}]})
    stub.add_response("update_usage_plan", {}, {"usagePlanId": "p1", "patchOperations": [
        {"op": "remove", "path": "/apiStages", "value": "a1:api"}]})
    stub.add_response("delete_usage_plan", {}, {"usagePlanId": "p1"})
    stub.add_response("get_api_keys", {"items": [{"id": "k1", "name": KEY}]},
                      {"nameQuery": KEY, "includeValues": False})
    stub.add_response("delete_api_key", {}, {"apiKey": "k1"})
    ctx.__dict__["names"] = make_ctx(tmp_path).names  # STS through moto, not the stub
    with stub:
        assert [o.status for o in api_key.delete(ctx)] == [Status.DELETED, Status.DELETED]
        stub.assert_no_pending_responses()


def test_the_command_warns_when_the_stage_does_not_ask_for_keys(ctx: Context, lines: list[str]) -> None:
    rest_api()
    path = ctx.options.config_path
    path.parent.mkdir()
    path.write_text(json.dumps({**CONFIG, "stages": {"dev": {"environment_variables": {"API_AUTH": "none"}}}}))
    stack.api_access(ctx)
    assert any("API Gateway will not ask for this key" in line for line in lines)
