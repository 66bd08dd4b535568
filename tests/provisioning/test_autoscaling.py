"""--billing provisioned: throughput on the table and every index, auto scaling, switches, teardown.

moto accepts what DynamoDB refuses (an on-demand -> provisioned switch without the indexes'
throughput, a switch back too soon) and never answers ConcurrentUpdateException: the request
shapes are recorded from the calls, the refusals come from botocore's Stubber or a fake answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.stub import Stubber

from bench import cost
from chalicelib import schema
from provisioning import autoscaling, table
from provisioning.common import Context, DeployError, Status

from .conftest import REGION, CallLog, FakeClock, make_ctx

NAME = "reddit-hate-dev-comments"


class Calls(CallLog):
    """Every operation, and the parameters of UpdateTable, made through one context's session."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx.session)
        self.update_table: list[dict[str, Any]] = []
        ctx.session.events.register("before-parameter-build.dynamodb.UpdateTable", self._update)

    def _update(self, params: dict[str, Any], **_: Any) -> None:
        self.update_table.append(dict(params))


def aas() -> Any:
    return boto3.client("application-autoscaling", region_name=REGION)


def targets() -> dict[tuple[str, str], tuple[int, int]]:
    found = aas().describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"]
    return {(t["ResourceId"], t["ScalableDimension"]): (t["MinCapacity"], t["MaxCapacity"]) for t in found}


def describe() -> dict[str, Any]:
    return dict(boto3.client("dynamodb", region_name=REGION).describe_table(TableName=NAME)["Table"])


def expected_keys(indexes: list[str]) -> set[tuple[str, str]]:
    keys = {(f"table/{NAME}", f"dynamodb:table:{k}CapacityUnits") for k in ("Read", "Write")}
    return keys | {(f"table/{NAME}/index/{i}", f"dynamodb:index:{k}CapacityUnits")
                   for i in indexes for k in ("Read", "Write")}


def test_provisioned_table_gets_throughput_everywhere_and_target_tracking(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, billing="provisioned")
    assert [(o.kind, o.status) for o in table.apply(ctx)] == [
        (table.KIND, Status.CREATED), (autoscaling.KIND, Status.CREATED)]
    described = describe()
    assert table.billing_mode(described) == "PROVISIONED"
    five = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    assert table._throughput(described) == five
    assert {i["IndexName"]: table._throughput(i) for i in described["GlobalSecondaryIndexes"]} == dict.fromkeys(
        schema.INDEXES, five)
    assert targets() == dict.fromkeys(expected_keys(list(schema.INDEXES)), (5, 500))
    policies = aas().describe_scaling_policies(ServiceNamespace="dynamodb")["ScalingPolicies"]
    assert len(policies) == 2 * (1 + len(schema.INDEXES))
    for p in policies:
        config = p["TargetTrackingScalingPolicyConfiguration"]
        kind = "Read" if p["ScalableDimension"].endswith("ReadCapacityUnits") else "Write"
        # The same target utilisation bench/cost.py prices provisioned capacity at.
        assert config["TargetValue"] == cost.PROVISIONED_TARGET_UTILISATION * 100 == 70
        assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == f"DynamoDB{kind}CapacityUtilization"
        assert p["PolicyType"] == "TargetTrackingScaling"


def test_a_rerun_without_the_flag_keeps_provisioned_and_changes_nothing(aws: None, tmp_path: Path) -> None:
    table.apply(make_ctx(tmp_path, billing="provisioned", min_write_capacity=10, max_write_capacity=80))
    again = make_ctx(tmp_path)  # no --billing, no capacity flags
    calls = Calls(again)
    assert [o.status for o in table.apply(again)] == [Status.UNCHANGED, Status.UNCHANGED]
    assert calls.writes == [] and calls.ops.count("dynamodb.DescribeTable") == 1  # described once
    assert table.billing_mode(describe()) == "PROVISIONED"
    assert targets()[(f"table/{NAME}", "dynamodb:table:WriteCapacityUnits")] == (10, 80)  # kept, not reset


def test_changed_capacity_bounds_update_only_those_targets(aws: None, tmp_path: Path) -> None:
    table.apply(make_ctx(tmp_path, billing="provisioned"))
    lines: list[str] = []
    ctx = make_ctx(tmp_path, lines, max_write_capacity=200)
    calls = Calls(ctx)
    [_, scaling] = table.apply(ctx)
    assert scaling.status is Status.UPDATED and scaling.detail.startswith("6 scalable targets")
    assert calls.ops.count("application-auto-scaling.RegisterScalableTarget") == 6
    assert {v for k, v in targets().items() if "Write" in k[1]} == {(5, 200)}
    assert {v for k, v in targets().items() if "Read" in k[1]} == {(5, 500)}


def test_on_demand_makes_no_auto_scaling_call(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    calls = Calls(ctx)
    assert [o.status for o in table.apply(ctx)] == [Status.CREATED]
    created = list(calls.ops)
    calls.ops.clear()
    assert [o.status for o in table.apply(ctx)] == [Status.UNCHANGED]
    assert table.billing_mode(describe()) == "PAY_PER_REQUEST"
    assert not [op for op in created + calls.ops if op.startswith("application-auto-scaling.")]
    assert calls.ops == ["dynamodb.DescribeTable", "dynamodb.DescribeTimeToLive"]  # described once, as before
    # Its teardown needs no auto-scaling permission either.
    assert [o.kind for o in table.delete(ctx)] == [table.KIND]
    assert not [op for op in calls.ops if op.startswith("application-auto-scaling.")]


def test_switch_to_provisioned_names_every_index_then_back_removes_auto_scaling(aws: None, tmp_path: Path) -> None:
    table.apply(make_ctx(tmp_path))
    lines: list[str] = []
    ctx = make_ctx(tmp_path, lines, billing="provisioned")
    calls = Calls(ctx)
    [outcome, scaling] = table.apply(ctx)
    assert outcome.status is Status.UPDATED and outcome.detail == "billing on-demand -> provisioned"
    # DynamoDB refuses this switch unless the same call gives every index its throughput (moto does not).
    [update] = calls.update_table
    assert update["BillingMode"] == "PROVISIONED"
    assert update["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    assert [u["Update"]["IndexName"] for u in update["GlobalSecondaryIndexUpdates"]] == list(schema.INDEXES)
    assert all(u["Update"]["ProvisionedThroughput"] == update["ProvisionedThroughput"]
               for u in update["GlobalSecondaryIndexUpdates"])
    assert scaling.status is Status.CREATED and set(targets()) == expected_keys(list(schema.INDEXES))

    back = make_ctx(tmp_path, billing="on-demand")
    calls = Calls(back)
    [outcome, scaling] = table.apply(back)
    assert outcome.detail == "billing provisioned -> on-demand"
    assert calls.update_table == [{"TableName": NAME, "BillingMode": "PAY_PER_REQUEST"}]
    # DynamoDB keeps the settings of a table switched by API; deploy_model.py removes them.
    assert (scaling.kind, scaling.status) == (autoscaling.KIND, Status.DELETED) and targets() == {}
    assert table.billing_mode(describe()) == "PAY_PER_REQUEST"


def test_dry_run_of_a_switch_only_reads(aws: None, tmp_path: Path) -> None:
    table.apply(make_ctx(tmp_path))
    lines: list[str] = []
    ctx = make_ctx(tmp_path, lines, billing="provisioned", dry_run=True)
    calls = Calls(ctx)
    table.apply(ctx)
    assert calls.writes == []
    assert any("would update (billing on-demand -> provisioned)" in line for line in lines)
    assert any(line.startswith(f"  {autoscaling.KIND}") and "would create" in line for line in lines)
    assert table.billing_mode(describe()) == "PAY_PER_REQUEST"


def test_an_index_created_on_a_provisioned_table_gets_throughput(aws: None, tmp_path: Path) -> None:
    throughput = {"ReadCapacityUnits": 7, "WriteCapacityUnits": 9}
    definition = table.table_definition(NAME, throughput)
    first = definition["GlobalSecondaryIndexes"][0]
    definition["GlobalSecondaryIndexes"] = [first]
    keep = {k["AttributeName"] for k in first["KeySchema"]} | {schema.PARTITION_KEY}
    definition["AttributeDefinitions"] = [a for a in definition["AttributeDefinitions"] if a["AttributeName"] in keep]
    boto3.client("dynamodb", region_name=REGION).create_table(**definition)
    ctx = make_ctx(tmp_path)  # no --billing: the table stays provisioned
    calls = Calls(ctx)
    [outcome, scaling] = table.apply(ctx)
    assert outcome.status is Status.UPDATED and "billing" not in outcome.detail
    creates = [u["GlobalSecondaryIndexUpdates"][0]["Create"] for u in calls.update_table]
    assert [c["IndexName"] for c in creates] == list(schema.INDEXES)[1:]
    # The backfill and live writes share the new index's write capacity: the table's pace.
    assert all(c["ProvisionedThroughput"] == throughput for c in creates)
    assert "BillingMode" not in str(calls.update_table)
    assert scaling.status is Status.CREATED and set(targets()) == expected_keys(list(schema.INDEXES))


def test_teardown_deregisters_targets_before_deleting_the_table(aws: None, tmp_path: Path) -> None:
    table.apply(make_ctx(tmp_path, billing="provisioned"))
    ctx = make_ctx(tmp_path)
    calls = Calls(ctx)
    assert [(o.kind, o.status) for o in table.delete(ctx)] == [
        (autoscaling.KIND, Status.DELETED), (table.KIND, Status.DELETED)]
    assert targets() == {}
    deregs = [n for n, op in enumerate(calls.ops) if op.endswith("DeregisterScalableTarget")]
    assert len(deregs) == 12 and max(deregs) < calls.ops.index("dynamodb.DeleteTable")
    assert [o.status for o in table.delete(make_ctx(tmp_path))] == [Status.ABSENT]


def test_capacity_options_on_an_on_demand_table_are_refused(aws: None, tmp_path: Path) -> None:
    table.apply(make_ctx(tmp_path))
    with pytest.raises(DeployError, match="apply with --billing provisioned only"):
        table.apply(make_ctx(tmp_path, min_read_capacity=3))


def test_a_minimum_above_the_kept_maximum_is_refused_before_any_change(aws: None, tmp_path: Path) -> None:
    table.apply(make_ctx(tmp_path, billing="provisioned", max_read_capacity=50))
    ctx = make_ctx(tmp_path, min_read_capacity=60)
    calls = Calls(ctx)
    with pytest.raises(DeployError, match="minimum 60 is above maximum 50"):
        table.apply(ctx)
    assert calls.writes == []


def test_a_table_without_billing_summary_is_provisioned() -> None:
    # DynamoDB omits BillingModeSummary on tables that were always provisioned.
    assert table.billing_mode({"TableName": "t"}) == "PROVISIONED"
    assert table.billing_mode({"BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}}) == "PAY_PER_REQUEST"


# -- documented failures moto cannot produce ------------------------------------------------

def _error(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse("https://dynamodb", 400, HTTPHeaders(), None), {
        "Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}


def test_a_refused_switch_to_on_demand_is_one_clear_line_and_changes_nothing(aws: None, tmp_path: Path) -> None:
    table.apply(make_ctx(tmp_path, billing="provisioned"))
    ctx = make_ctx(tmp_path, billing="on-demand")
    # DynamoDB's answer to a switch back within its limit (moto never refuses it).
    ctx.session.events.register("before-call.dynamodb.UpdateTable", lambda **_: _error(  # type: ignore[arg-type]
        "LimitExceededException", "Subscriber limit exceeded: Update to PayPerRequest mode are limited to once "
        "in 1 day(s)."))
    with pytest.raises(DeployError) as info:
        table.apply(ctx)
    message = str(info.value)
    assert "\n" not in message and "limits how often a table may switch to on-demand" in message
    assert "Nothing was changed" in message and table.SWITCHING_DOCS in message
    # The switch is tried before the targets are removed: the table is still provisioned and scaled.
    assert table.billing_mode(describe()) == "PROVISIONED" and len(targets()) == 12


def _stubbed(tmp_path: Path, clock: FakeClock | None = None) -> tuple[Context, Stubber]:
    ctx = make_ctx(tmp_path, clock=clock, billing="provisioned")
    stub = Stubber(ctx.client("application-autoscaling"))  # the context's cached client
    stub.activate()
    return ctx, stub


def _target_args(kind: str) -> dict[str, Any]:
    return {"ServiceNamespace": "dynamodb", "ResourceId": "table/t",
            "ScalableDimension": f"dynamodb:table:{kind}CapacityUnits", "MinCapacity": 5, "MaxCapacity": 500}


def test_concurrent_update_is_retried_with_backoff(tmp_path: Path) -> None:
    clock = FakeClock()
    ctx, stub = _stubbed(tmp_path, clock)
    stub.add_response("describe_scalable_targets", {"ScalableTargets": []})
    stub.add_client_error("register_scalable_target", "ConcurrentUpdateException", "pending update",
                          expected_params=_target_args("Read"))
    stub.add_client_error("register_scalable_target", "ConcurrentUpdateException", "pending update",
                          expected_params=_target_args("Read"))
    stub.add_response("register_scalable_target", {}, _target_args("Read"))
    stub.add_response("register_scalable_target", {}, _target_args("Write"))
    for _ in range(2):
        stub.add_response("put_scaling_policy", {"PolicyARN": "arn:policy"})
    outcome = autoscaling.apply(ctx, "t", [])
    stub.assert_no_pending_responses()
    assert outcome.status is Status.CREATED and clock.sleeps == [2.0, 4.0]


def test_concurrent_update_that_persists_is_one_clear_error(tmp_path: Path) -> None:
    ctx, stub = _stubbed(tmp_path)
    stub.add_response("describe_scalable_targets", {"ScalableTargets": []})
    for _ in range(autoscaling.CONCURRENT_RETRIES + 1):
        stub.add_client_error("register_scalable_target", "ConcurrentUpdateException", "pending update")
    with pytest.raises(DeployError) as info:
        autoscaling.apply(ctx, "t", [])
    stub.assert_no_pending_responses()
    assert "\n" not in str(info.value)
    assert "ConcurrentUpdateException" in str(info.value) and "run deploy_model.py again" in str(info.value)


@pytest.mark.parametrize(("operation", "code", "message", "says"), [
    ("register_scalable_target", "LimitExceededException", "quota reached", "Service Quotas"),
    ("register_scalable_target", "ValidationException", "Unsupported service namespace", "Unsupported service"),
    ("register_scalable_target", "AccessDeniedException",
     "Caller does not have permissions to create a Service Linked Role", "iam:CreateServiceLinkedRole"),
    ("put_scaling_policy", "ObjectNotFoundException", "No scalable target registered", "vanished"),
    ("put_scaling_policy", "FailedResourceAccessException", "cannot describe alarms", autoscaling.SERVICE_LINKED_ROLE),
])
def test_documented_errors_become_one_line(tmp_path: Path, operation: str, code: str, message: str,
                                            says: str) -> None:
    ctx, stub = _stubbed(tmp_path)
    stub.add_response("describe_scalable_targets", {"ScalableTargets": []})
    if operation == "put_scaling_policy":
        stub.add_response("register_scalable_target", {})
        stub.add_response("register_scalable_target", {})
    stub.add_client_error(operation, code, message)
    with pytest.raises(DeployError) as info:
        autoscaling.apply(ctx, "t", [])
    text = str(info.value)
    assert "\n" not in text and code in text and message in text and says in text


def test_a_target_gone_while_deregistering_counts_as_removed(tmp_path: Path) -> None:
    ctx, stub = _stubbed(tmp_path)
    stub.add_response("describe_scalable_targets", {"ScalableTargets": [
        {**_target_args(kind), "RoleARN": "arn:aws:iam::123456789012:role/x", "CreationTime": 0}
        for kind in ("Read", "Write")]})
    stub.add_client_error("deregister_scalable_target", "ObjectNotFoundException", "No scalable target found")
    stub.add_response("deregister_scalable_target", {})
    outcome = autoscaling.delete(ctx, "t", [])
    stub.assert_no_pending_responses()
    assert outcome is not None and outcome.status is Status.DELETED
