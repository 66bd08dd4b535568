"""Alerts: an SNS topic with an email subscription, and CloudWatch alarms on the handlers' metrics.

``deploy_model.py --alert-email ADDRESS`` creates them; later deploys keep the alarms in step
with the options even without the flag (the topic and its subscription stay as they are), and
``--teardown`` removes them. Every alarm is read first and put only when it differs.

The alarms watch the namespace the handlers emit to with Powertools (embedded metric format,
chalicelib/observability.py). Powertools adds the dimension ``service`` to every metric, so
every alarm names it too: a metric with a different set of dimensions is a different metric.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, cast

from chalicelib.hate_rate import ALL, all_series

from .common import Context, DeployError, Outcome, Status

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_sns import SNSClient

# The same strings as chalicelib/observability.py; chalicelib imports Powertools, which the
# deploy environment need not have, so they are repeated here and a test ties them together.
NAMESPACE = "RedditHateWatch"
SERVICE = "reddit-hate-watch"
#: Emitted by the reconciler for raw objects still unclassified after its attempts.
ATTENTION_METRIC = "ObjectsNeedingAttention"
#: The reconciler runs on its own schedule; an object needing attention is reported by every run.
ATTENTION_PERIOD_S = 900

TOPIC_KIND = "SNS topic"
SUBSCRIPTION_KIND = "SNS subscription"
ALARM_KIND = "CloudWatch alarm"
#: DeleteAlarms takes at most 100 names a call.
DELETE_BATCH = 100
# The fields of DescribeAlarms' MetricAlarms that PutMetricAlarm sets; any difference means put again.
_COMPARED = ("AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions", "InsufficientDataActions",
             "ComparisonOperator", "Threshold", "EvaluationPeriods", "DatapointsToAlarm", "TreatMissingData",
             "Namespace", "MetricName", "Statistic", "Period", "Dimensions", "Metrics")


def topic_name(ctx: Context) -> str:
    return f"{ctx.names.base}-alerts"


def topic_arn(ctx: Context) -> str:
    return ctx.names.arn("sns", topic_name(ctx))


def alarm_prefix(ctx: Context) -> str:
    return f"{ctx.names.base}-alarm-"


def _sns(ctx: Context) -> SNSClient:
    return cast("SNSClient", ctx.client("sns"))


def _cloudwatch(ctx: Context) -> CloudWatchClient:
    return cast("CloudWatchClient", ctx.client("cloudwatch"))


def _dimensions(**extra: str) -> list[dict[str, str]]:
    return [{"Name": "service", "Value": SERVICE}, *({"Name": k, "Value": v} for k, v in extra.items())]


def _stat(query_id: str, metric: str, period: int, stat: str, **dimensions: str) -> dict[str, Any]:
    return {"Id": query_id, "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": _dimensions(**dimensions)},
        "Period": period, "Stat": stat}}


def desired(ctx: Context) -> dict[str, dict[str, Any]]:
    """PutMetricAlarm arguments per alarm name."""
    opts, topic = ctx.options, topic_arn(ctx)
    period = opts.schedule_minutes * 60
    prefix = alarm_prefix(ctx)
    common: dict[str, Any] = {"ActionsEnabled": True, "AlarmActions": [topic], "OKActions": [topic],
                              "InsufficientDataActions": []}
    alarms: dict[str, dict[str, Any]] = {}
    subreddits = tuple(s for s in opts.subreddits.split(",") if s)
    for name in all_series(subreddits):
        where = "all comments" if name == ALL else f"r/{name}"
        # Every metric of a metric-math alarm has the same period: the application computes the
        # hour and the baseline from its hourly counters and emits both on every classify run.
        expression = (f"IF(volume >= {opts.alert_min_volume} AND baseline > 0, rate / baseline, 0)")
        alarms[f"{prefix}hate-rate-{name}"] = {
            **common,
            "AlarmDescription": (
                f"Hate rate of {where} over the last hour is more than {opts.alert_multiple:g} times its "
                f"{opts.alert_baseline_hours} h baseline, with at least {opts.alert_min_volume} comments in the hour"),
            "ComparisonOperator": "GreaterThanThreshold", "Threshold": float(opts.alert_multiple),
            "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
            # No classify run in a period is no news about the rate: keep the state (the
            # no-comments alarm is the one that notices a stopped pipeline).
            "TreatMissingData": "ignore",
            "Metrics": [
                _stat("rate", "HateRateLastHour", period, "Maximum", subreddit=name),
                _stat("baseline", "HateRateBaseline", period, "Maximum", subreddit=name),
                _stat("volume", "CommentsLastHour", period, "Maximum", subreddit=name),
                {"Id": "ratio", "Expression": expression, "Label": "hate rate / baseline", "ReturnData": True},
            ],
        }
    alarms[f"{prefix}needs-attention"] = {
        **common,
        "AlarmDescription": "Raw objects the reconciler could not classify after its retries need a person",
        "Namespace": NAMESPACE, "MetricName": ATTENTION_METRIC, "Dimensions": _dimensions(),
        "Statistic": "Maximum", "Period": ATTENTION_PERIOD_S,
        "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0, "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
        # Every reconcile run reports the count; between runs the state stays what it was.
        "TreatMissingData": "ignore",
    }
    alarms[f"{prefix}listing-gaps"] = {
        **common,
        "AlarmDescription": "An ingest run found a gap: comments were posted faster than a listing reaches back",
        "Namespace": NAMESPACE, "MetricName": "ListingGaps", "Dimensions": _dimensions(),
        "Statistic": "Sum", "Period": period,
        "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0, "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
        "TreatMissingData": "notBreaching",  # no run at all is the no-comments alarm's business
    }
    alarms[f"{prefix}no-comments"] = {
        **common,
        "AlarmDescription": (f"No comments ingested for {opts.alert_silent_periods} schedule periods "
                             f"of {opts.schedule_minutes} min"),
        "Namespace": NAMESPACE, "MetricName": "CommentsDelivered", "Dimensions": _dimensions(),
        "Statistic": "Sum", "Period": period,
        "ComparisonOperator": "LessThanOrEqualToThreshold", "Threshold": 0.0,
        "EvaluationPeriods": opts.alert_silent_periods, "DatapointsToAlarm": opts.alert_silent_periods,
        # A stopped pipeline emits nothing at all: missing data is the failure itself.
        "TreatMissingData": "breaching",
    }
    return alarms


def _normalised(value: Any) -> Any:
    """Order-free comparison of dimension lists; DescribeAlarms may list them in any order."""
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normalised(v) for v in value]
        if items and all(isinstance(i, dict) and set(i) == {"Name", "Value"} for i in items):
            return sorted(items, key=lambda d: (d["Name"], d["Value"]))
        return items
    return value


def drift(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    """The fields of ``have`` (a DescribeAlarms entry) that differ from ``want`` (PutMetricAlarm arguments)."""
    differ = []
    for field in _COMPARED:
        wanted, current = want.get(field), have.get(field)
        if field in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            wanted, current = sorted(wanted or []), sorted(current or [])
        # DescribeAlarms answers Dimensions: [] for a metric-math alarm and Metrics: [] for a plain one.
        if wanted is None and current in ([], None):
            continue
        if _normalised(wanted) != _normalised(current):
            differ.append(field)
    return differ


def _existing(ctx: Context) -> dict[str, dict[str, Any]]:
    """This stage's metric alarms, by name (DescribeAlarms pages through; prefix filtered by AWS)."""
    pages = _cloudwatch(ctx).get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=alarm_prefix(ctx), AlarmTypes=["MetricAlarm"])
    return {a["AlarmName"]: dict(a) for page in pages for a in page.get("MetricAlarms", [])}


def _topic_exists(ctx: Context) -> bool:
    return ctx.describe(lambda: _sns(ctx).get_topic_attributes(TopicArn=topic_arn(ctx))) is not None


def _apply_topic(ctx: Context, email: str | None, exists: bool) -> list[Outcome]:
    """The topic (``exists``: whether it does now) and ``email``'s subscription."""
    sns, arn, name = _sns(ctx), topic_arn(ctx), topic_name(ctx)
    outcomes: list[Outcome] = []
    if not exists:
        if not ctx.dry_run:
            created = sns.create_topic(Name=name, Tags=ctx.tags())["TopicArn"]
            if created != arn:  # the ARN every alarm names is derived, so it must be this one
                raise DeployError(f"SNS created {created}, expected {arn}")
        outcomes.append(ctx.record(TOPIC_KIND, name, Status.CREATED))
    else:
        outcomes.append(ctx.record(TOPIC_KIND, name, Status.UNCHANGED))
    if email is None:
        return outcomes
    subscriptions = [] if not exists else [
        s for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
        for s in page.get("Subscriptions", []) if s.get("Protocol") == "email"]
    wanted = [s for s in subscriptions if str(s.get("Endpoint", "")).lower() == email.lower()]
    if not wanted:
        if not ctx.dry_run:
            sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=email)
        outcomes.append(ctx.record(SUBSCRIPTION_KIND, email, Status.CREATED,
                                   "AWS emails a confirmation link; nothing is sent until it is clicked"))
    else:
        pending = wanted[0].get("SubscriptionArn") == "PendingConfirmation"
        outcomes.append(ctx.record(SUBSCRIPTION_KIND, email, Status.UNCHANGED,
                                   "still waiting for its confirmation link to be clicked" if pending else ""))
    # The topic's email subscriptions are exactly --alert-email; other protocols (a pager, a
    # chat webhook added by hand) are left alone. A pending one has no ARN to unsubscribe:
    # SNS drops it by itself when its confirmation link expires.
    for old in subscriptions:
        if old in wanted or not str(old.get("SubscriptionArn", "")).startswith("arn:"):
            continue
        outcomes.append(ctx.deleted(SUBSCRIPTION_KIND, str(old.get("Endpoint")),
                                    partial(sns.unsubscribe, SubscriptionArn=str(old["SubscriptionArn"]))))
    return outcomes


def apply(ctx: Context) -> list[Outcome]:
    """The topic (with ``alert_email``'s subscription) and every alarm; alarms of subreddits no longer
    configured are deleted. Without ``alert_email`` and without a topic there is nothing to do."""
    email = ctx.options.alert_email
    exists = _topic_exists(ctx)
    if email is None and not exists:
        return []
    outcomes = _apply_topic(ctx, email, exists)
    cloudwatch, topic = _cloudwatch(ctx), topic_arn(ctx)
    existing = _existing(ctx)
    tags: Any = ctx.tags()
    for name, spec in desired(ctx).items():
        have = existing.pop(name, None)
        if have is None:
            if not ctx.dry_run:
                cloudwatch.put_metric_alarm(AlarmName=name, Tags=tags, **spec)
            outcomes.append(ctx.record(ALARM_KIND, name, Status.CREATED))
        else:
            outcomes.append(ctx.drift(ALARM_KIND, name, drift(spec, have),
                                      partial(cloudwatch.put_metric_alarm, AlarmName=name, **spec)))
    stale = [n for n, a in existing.items() if topic in a.get("AlarmActions", [])]
    outcomes += _delete_alarms(ctx, stale)
    return outcomes


def _delete_alarms(ctx: Context, names: list[str]) -> list[Outcome]:
    if names and not ctx.dry_run:
        for start in range(0, len(names), DELETE_BATCH):
            _cloudwatch(ctx).delete_alarms(AlarmNames=names[start:start + DELETE_BATCH])
    return [ctx.record(ALARM_KIND, n, Status.DELETED) for n in names]


def delete(ctx: Context) -> list[Outcome]:
    """Every alarm of the stage that notifies its topic, then the topic (and with it its subscriptions)."""
    topic = topic_arn(ctx)
    names = sorted(n for n, a in _existing(ctx).items() if topic in a.get("AlarmActions", []))
    outcomes = _delete_alarms(ctx, names)
    if not _topic_exists(ctx):
        return [*outcomes, ctx.record(TOPIC_KIND, topic_name(ctx), Status.ABSENT)]
    # DeleteTopic succeeds for a topic that is already gone, so "absent" is decided by the read above.
    return [*outcomes, ctx.deleted(TOPIC_KIND, topic_name(ctx), lambda: _sns(ctx).delete_topic(TopicArn=topic))]

