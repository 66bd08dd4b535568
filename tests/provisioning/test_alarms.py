"""provisioning.alarms against moto (SNS, CloudWatch), with Stubber for what moto does not show."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from chalicelib import observability
from provisioning import alarms, stack
from provisioning.common import Context, Status

from .conftest import ACCOUNT, REGION, make_ctx

TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:reddit-hate-dev-alerts"
PREFIX = "reddit-hate-dev-alarm-"
IDENTITY = {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/tester", "UserId": "AIDAEXAMPLE"}
ALL_ALARMS = [f"{PREFIX}{n}" for n in ("hate-rate-all", "hate-rate-news", "hate-rate-worldnews",
                                       "listing-gaps", "needs-attention", "no-comments")]


def alert_ctx(tmp_path: Path, lines: list[str] | None = None, **options: Any) -> Context:
    options.setdefault("alert_email", "ops@example.org")
    options.setdefault("subreddits", "news,worldnews")
    return make_ctx(tmp_path, lines, **options)


@contextlib.contextmanager
def stubbed(ctx: Context) -> Iterator[tuple[Stubber, Stubber, Stubber]]:
    """Stubbers on the SNS, CloudWatch and STS clients the context hands out."""
    clients = {name: boto3.client(name, region_name=REGION) for name in ("sns", "cloudwatch", "sts")}
    ctx._clients.update(clients)
    with Stubber(clients["sns"]) as sns, Stubber(clients["cloudwatch"]) as cw, Stubber(clients["sts"]) as sts:
        yield sns, cw, sts


def described() -> dict[str, dict[str, Any]]:
    found = boto3.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"]
    return {a["AlarmName"]: dict(a) for a in found}


def email_subscriptions() -> list[str]:
    subs = boto3.client("sns", region_name=REGION).list_subscriptions_by_topic(TopicArn=TOPIC)["Subscriptions"]
    return sorted(s["Endpoint"] for s in subs if s["Protocol"] == "email")


def test_apply_creates_topic_subscription_and_one_alarm_per_concern(aws: None, tmp_path: Path) -> None:
    lines: list[str] = []
    outcomes = alarms.apply(alert_ctx(tmp_path, lines))
    assert {o.status for o in outcomes} == {Status.CREATED}
    assert email_subscriptions() == ["ops@example.org"]
    found = described()
    assert sorted(found) == ALL_ALARMS
    for alarm in found.values():
        assert alarm["AlarmActions"] == [TOPIC] and alarm["OKActions"] == [TOPIC]
    stopped = found[f"{PREFIX}no-comments"]
    assert (stopped["MetricName"], stopped["Statistic"], stopped["Period"]) == ("CommentsDelivered", "Sum", 300)
    assert stopped["TreatMissingData"] == "breaching"
    assert stopped["EvaluationPeriods"] == stopped["DatapointsToAlarm"] == 3
    assert stopped["ComparisonOperator"] == "LessThanOrEqualToThreshold" and stopped["Threshold"] == 0
    gaps = found[f"{PREFIX}listing-gaps"]
    assert (gaps["MetricName"], gaps["ComparisonOperator"], gaps["TreatMissingData"]) == (
        "ListingGaps", "GreaterThanThreshold", "notBreaching")
    attention = found[f"{PREFIX}needs-attention"]
    assert attention["MetricName"] == "ObjectsNeedingAttention" and attention["Threshold"] == 0
    # Powertools puts the service dimension on every metric; without it the alarm watches nothing.
    assert attention["Dimensions"] == [{"Name": "service", "Value": "reddit-hate-watch"}]
    assert "confirmation link" in "\n".join(lines)


def test_hate_rate_alarm_is_metric_math_over_same_period_metrics(aws: None, tmp_path: Path) -> None:
    alarms.apply(alert_ctx(tmp_path, alert_multiple=4.0, alert_min_volume=250, schedule_minutes=10))
    alarm = described()[f"{PREFIX}hate-rate-news"]
    stats = [q for q in alarm["Metrics"] if "MetricStat" in q]
    assert [q["MetricStat"]["Metric"]["MetricName"] for q in stats] == [
        "HateRateLastHour", "HateRateBaseline", "CommentsLastHour"]
    assert {q["MetricStat"]["Period"] for q in stats} == {600}  # CloudWatch: one period for every metric
    assert all({"Name": "subreddit", "Value": "news"} in q["MetricStat"]["Metric"]["Dimensions"] for q in stats)
    [expression] = [q for q in alarm["Metrics"] if q.get("ReturnData")]
    assert expression["Expression"] == "IF(volume >= 250 AND baseline > 0, rate / baseline, 0)"
    assert alarm["Threshold"] == 4.0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_a_rerun_changes_nothing_and_a_new_threshold_updates_only_the_hate_alarms(aws: None, tmp_path: Path) -> None:
    alarms.apply(alert_ctx(tmp_path))
    again = alarms.apply(alert_ctx(tmp_path))
    assert {o.status for o in again} == {Status.UNCHANGED}
    changed = alarms.apply(alert_ctx(tmp_path, alert_multiple=5.0))
    updated = {o.name: o.detail for o in changed if o.status is Status.UPDATED}
    assert updated == {f"{PREFIX}hate-rate-{s}": "AlarmDescription, Threshold" for s in ("all", "news", "worldnews")}
    assert described()[f"{PREFIX}hate-rate-all"]["Threshold"] == 5.0


def test_dry_run_creates_nothing(aws: None, tmp_path: Path) -> None:
    outcomes = alarms.apply(alert_ctx(tmp_path, dry_run=True))
    assert {o.status for o in outcomes} == {Status.CREATED}
    assert described() == {}
    assert boto3.client("sns", region_name=REGION).list_topics()["Topics"] == []


def test_without_email_nothing_is_created_but_existing_alarms_follow_the_options(aws: None, tmp_path: Path) -> None:
    assert alarms.apply(alert_ctx(tmp_path, alert_email=None)) == []
    assert described() == {}
    alarms.apply(alert_ctx(tmp_path))
    # A later deploy without --alert-email: subreddit list changed, subscription untouched.
    outcomes = alarms.apply(alert_ctx(tmp_path, alert_email=None, subreddits="news"))
    assert [(o.name, o.status) for o in outcomes if o.status is not Status.UNCHANGED] == [
        (f"{PREFIX}hate-rate-worldnews", Status.DELETED)]
    assert email_subscriptions() == ["ops@example.org"]


def test_a_new_address_replaces_the_old_email_subscription_and_keeps_other_protocols(
        aws: None, tmp_path: Path) -> None:
    alarms.apply(alert_ctx(tmp_path))
    sns = boto3.client("sns", region_name=REGION)
    sns.subscribe(TopicArn=TOPIC, Protocol="https", Endpoint="https://pager.example.org/hook")
    outcomes = alarms.apply(alert_ctx(tmp_path, alert_email="oncall@example.org"))
    assert [(o.kind, o.name, o.status) for o in outcomes if o.kind == alarms.SUBSCRIPTION_KIND] == [
        (alarms.SUBSCRIPTION_KIND, "oncall@example.org", Status.CREATED),
        (alarms.SUBSCRIPTION_KIND, "ops@example.org", Status.DELETED)]
    assert email_subscriptions() == ["oncall@example.org"]
    protocols = [s["Protocol"] for s in sns.list_subscriptions_by_topic(TopicArn=TOPIC)["Subscriptions"]]
    assert "https" in protocols


def test_teardown_removes_the_stage_alarms_and_topic_and_leaves_others(aws: None, tmp_path: Path) -> None:
    alarms.apply(alert_ctx(tmp_path))
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    # Same prefix, but not ours (it does not notify our topic): left alone.
    cloudwatch.put_metric_alarm(AlarmName=f"{PREFIX}custom", Namespace="X", MetricName="Y", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    outcomes = alarms.delete(make_ctx(tmp_path))
    assert sorted(o.name for o in outcomes if o.kind == alarms.ALARM_KIND) == ALL_ALARMS
    assert outcomes[-1].kind == alarms.TOPIC_KIND and outcomes[-1].status is Status.DELETED
    assert sorted(described()) == [f"{PREFIX}custom"]
    assert boto3.client("sns", region_name=REGION).list_topics()["Topics"] == []
    again = alarms.delete(make_ctx(tmp_path))
    assert [(o.kind, o.status) for o in again] == [(alarms.TOPIC_KIND, Status.ABSENT)]


def test_stack_teardown_includes_the_alarms(aws: None, tmp_path: Path) -> None:
    alarms.apply(alert_ctx(tmp_path))
    outcomes = stack.teardown(make_ctx(tmp_path))
    assert {o.name for o in outcomes if o.kind == alarms.ALARM_KIND} == set(ALL_ALARMS)
    assert described() == {}


def test_drift_ignores_dimension_order_and_empty_lists_aws_adds() -> None:
    want = {"Namespace": "N", "MetricName": "M", "AlarmActions": ["a"],
            "Dimensions": [{"Name": "service", "Value": "s"}, {"Name": "subreddit", "Value": "x"}]}
    have = {"Namespace": "N", "MetricName": "M", "AlarmActions": ["a"], "Metrics": [], "OKActions": [],
            "Dimensions": [{"Name": "subreddit", "Value": "x"}, {"Name": "service", "Value": "s"}]}
    assert alarms.drift(want, have) == []
    assert alarms.drift({**want, "Threshold": 1.0}, {**have, "Threshold": 2.0}) == ["Threshold"]
    assert alarms.drift(want, {**have, "Dimensions": [{"Name": "service", "Value": "s"}]}) == ["Dimensions"]


def test_a_pending_subscription_is_neither_repeated_nor_removed(tmp_path: Path, aws_env: None) -> None:
    """moto confirms email subscriptions at once; AWS keeps them PendingConfirmation until clicked."""
    ctx = alert_ctx(tmp_path, subreddits="all")
    with stubbed(ctx) as (sns_stub, cw_stub, sts_stub):
        sts_stub.add_response("get_caller_identity", IDENTITY)
        sns_stub.add_response("get_topic_attributes", {"Attributes": {"TopicArn": TOPIC}}, {"TopicArn": TOPIC})
        sns_stub.add_response("list_subscriptions_by_topic", {"Subscriptions": [
            {"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "OPS@example.org",
             "TopicArn": TOPIC},
            {"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "old@example.org",
             "TopicArn": TOPIC}]}, {"TopicArn": TOPIC})
        cw_stub.add_response("describe_alarms", {"MetricAlarms": []},
                             {"AlarmNamePrefix": PREFIX, "AlarmTypes": ["MetricAlarm"]})
        for _ in range(4):  # hate-rate-all, needs-attention, listing-gaps, no-comments
            cw_stub.add_response("put_metric_alarm", {})
        outcomes = alarms.apply(ctx)
        sns_stub.assert_no_pending_responses()  # no subscribe, no unsubscribe
    [sub] = [o for o in outcomes if o.kind == alarms.SUBSCRIPTION_KIND]
    assert sub.status is Status.UNCHANGED and "confirmation link" in sub.detail


def test_an_alarm_quota_refusal_is_not_swallowed(tmp_path: Path, aws_env: None) -> None:
    """PutMetricAlarm answers LimitExceeded when the account's alarm quota is reached."""
    ctx = alert_ctx(tmp_path, subreddits="all")
    with stubbed(ctx) as (sns_stub, cw_stub, sts_stub):
        sts_stub.add_response("get_caller_identity", IDENTITY)
        sns_stub.add_client_error("get_topic_attributes", "NotFound", "Topic does not exist", 404)
        sns_stub.add_response("create_topic", {"TopicArn": TOPIC})
        sns_stub.add_response("subscribe", {"SubscriptionArn": "pending confirmation"})
        cw_stub.add_response("describe_alarms", {"MetricAlarms": []})
        cw_stub.add_client_error("put_metric_alarm", "LimitExceeded", "The maximum number of alarms is reached", 400)
        with pytest.raises(ClientError, match="LimitExceeded"):
            alarms.apply(ctx)


def test_the_alarms_watch_the_namespace_and_service_the_handlers_emit() -> None:
    assert (alarms.NAMESPACE, alarms.SERVICE) == (observability.NAMESPACE, observability.SERVICE)
