"""Application Auto Scaling for a provisioned table: target tracking on the table and every index.

Each of the table and its global secondary indexes is two scalable targets (read and write
capacity), each with one target-tracking policy on DynamoDB's predefined utilisation metric.
The first RegisterScalableTarget in an account makes Application Auto Scaling create the
service-linked role ``AWSServiceRoleForApplicationAutoScaling_DynamoDBTable``, which needs
``iam:CreateServiceLinkedRole`` on the deploying principal.

Documented failures (Application Auto Scaling API reference) become one-line DeployErrors:
ConcurrentUpdateException is retried a few times (another update of the same target is
pending), LimitExceededException and ValidationException say what was refused,
ObjectNotFoundException on a deregistration means the target is gone already.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.exceptions import ClientError

from .common import Context, DeployError, Outcome, Status, error_code

if TYPE_CHECKING:
    from mypy_boto3_application_autoscaling import ApplicationAutoScalingClient

KIND = "DynamoDB auto scaling"
NAMESPACE: Literal["dynamodb"] = "dynamodb"
#: Target utilisation of provisioned capacity, in percent: Application Auto Scaling's (and the
#: DynamoDB console's) default. bench/cost.py prices provisioned capacity at this utilisation.
TARGET_UTILISATION_PERCENT = 70.0
#: Defaults per scalable target (the table and each index; read and write alike).
#: Minimum 5: ingestion writes up to --max-comments-per-run (1,000) comments every 5 minutes,
#: about 3.3 writes/s per full copy on average, which 5 units hold at the 70 % target; a run's
#: burst is absorbed by DynamoDB's burst capacity (up to 300 s of unused capacity, 1,500 units
#: at 5), since target tracking reacts only after minutes. The idle floor is 12 targets x 5 units:
#: about $17 a month in us-east-1.
#: Maximum 500: Reddit's rate limit (100 requests/min of up to 100 comments) caps ingestion at
#: about 170 comments/s, ~240 units per full copy at 70 %; 500 leaves room to catch up after an
#: outage and caps the worst-case bill at about $237 a month per write target.
DEFAULT_MIN_CAPACITY = 5
DEFAULT_MAX_CAPACITY = 500
CAPACITY_LIMIT = 40_000  # DynamoDB's default per-table throughput quota (Service Quotas)
#: ConcurrentUpdateException: another update of the target is pending; wait and try again.
CONCURRENT_RETRIES = 5
CONCURRENT_BACKOFF_S = 2.0
READ, WRITE = "read", "write"
_METRIC = {READ: "DynamoDBReadCapacityUtilization", WRITE: "DynamoDBWriteCapacityUtilization"}
SERVICE_LINKED_ROLE = "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable"


@dataclass(frozen=True)
class Target:
    resource_id: str  # table/<name> or table/<name>/index/<index>
    dimension: str  # dynamodb:table:ReadCapacityUnits, dynamodb:index:WriteCapacityUnits, ...
    min_capacity: int
    max_capacity: int

    @property
    def kind(self) -> str:
        return READ if self.dimension.endswith("ReadCapacityUnits") else WRITE

    @property
    def key(self) -> tuple[str, str]:
        return self.resource_id, self.dimension


def _client(ctx: Context) -> ApplicationAutoScalingClient:
    return cast("ApplicationAutoScalingClient", ctx.client("application-autoscaling"))


def resource_id(table: str, index: str | None = None) -> str:
    return f"table/{table}" + (f"/index/{index}" if index else "")


def dimension(kind: str, index: bool) -> str:
    return f"dynamodb:{'index' if index else 'table'}:{'Read' if kind == READ else 'Write'}CapacityUnits"


def policy_name(table: str, kind: str) -> str:
    return f"{table}-{kind}-utilisation"


def _keys(table: str, indexes: Iterable[str]) -> list[tuple[str, str]]:
    keys = [(resource_id(table), dimension(k, False)) for k in (READ, WRITE)]
    return keys + [(resource_id(table, i), dimension(k, True)) for i in indexes for k in (READ, WRITE)]


def _limits(ctx: Context) -> dict[str, tuple[int | None, int | None]]:
    o = ctx.options
    return {READ: (o.min_read_capacity, o.max_read_capacity), WRITE: (o.min_write_capacity, o.max_write_capacity)}


def registered(ctx: Context, table: str, indexes: Iterable[str]) -> dict[tuple[str, str], Target]:
    """The scalable targets registered for the table and the named indexes."""
    ids = sorted({rid for rid, _ in _keys(table, indexes)})
    found: dict[tuple[str, str], Target] = {}
    pages = _client(ctx).get_paginator("describe_scalable_targets").paginate(ServiceNamespace=NAMESPACE,
                                                                           ResourceIds=ids)
    for page in _explained(ctx, "DescribeScalableTargets", lambda: list(pages)):
        for t in page["ScalableTargets"]:
            target = Target(t["ResourceId"], t["ScalableDimension"], int(t["MinCapacity"]), int(t["MaxCapacity"]))
            found[target.key] = target
    return found


def wanted(ctx: Context, table: str, indexes: Iterable[str],
           present: dict[tuple[str, str], Target] | None = None) -> list[Target]:
    """The targets the table should have: a flag wins, then what is registered, then the default."""
    present = present or {}
    targets = []
    for rid, dim in _keys(table, indexes):
        kind = READ if dim.endswith("ReadCapacityUnits") else WRITE
        low, high = _limits(ctx)[kind]
        now = present.get((rid, dim))
        low = low if low is not None else (now.min_capacity if now else DEFAULT_MIN_CAPACITY)
        high = high if high is not None else (now.max_capacity if now else max(DEFAULT_MAX_CAPACITY, low))
        if low > high:
            raise DeployError(f"{kind} capacity of {rid}: minimum {low} is above maximum {high}; "
                              f"pass --min-{kind}-capacity / --max-{kind}-capacity")
        targets.append(Target(rid, dim, low, high))
    return targets


def initial_throughput(targets: Sequence[Target], rid: str) -> dict[str, int]:
    """ProvisionedThroughput for a resource until auto scaling moves it: its minimum capacity."""
    by_kind = {t.kind: t.min_capacity for t in targets if t.resource_id == rid}
    return {"ReadCapacityUnits": by_kind[READ], "WriteCapacityUnits": by_kind[WRITE]}


def _target_tracking(kind: str) -> dict[str, Any]:
    return {"TargetValue": TARGET_UTILISATION_PERCENT,
            "PredefinedMetricSpecification": {"PredefinedMetricType": _METRIC[kind]}}


def _policies(ctx: Context, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    names = [policy_name(table, k) for k in (READ, WRITE)]
    pages = _client(ctx).get_paginator("describe_scaling_policies").paginate(ServiceNamespace=NAMESPACE,
                                                                           PolicyNames=names)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for page in _explained(ctx, "DescribeScalingPolicies", lambda: list(pages)):
        for p in page["ScalingPolicies"]:
            if p["PolicyName"] in names:
                found[(p["ResourceId"], p["ScalableDimension"])] = dict(p)
    return found


def _policy_ok(policy: dict[str, Any] | None, kind: str) -> bool:
    if policy is None or policy.get("PolicyType") != "TargetTrackingScaling":
        return False
    config = policy.get("TargetTrackingScalingPolicyConfiguration", {})
    metric = config.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
    return float(config.get("TargetValue", -1)) == TARGET_UTILISATION_PERCENT and metric == _METRIC[kind]


def apply(ctx: Context, table: str, indexes: Sequence[str], *, known_indexes: Iterable[str] = (),
          present: dict[tuple[str, str], Target] | None = None) -> Outcome:
    """Register the targets and policies of ``table`` and ``indexes``; deregister those of other indexes.

    ``known_indexes`` are further index names whose leftover targets (an index deleted since)
    are deregistered; ``present`` is what :func:`registered` answered for all of them, if read already.
    """
    if present is None:
        present = registered(ctx, table, {*indexes, *known_indexes})
    targets = wanted(ctx, table, indexes, present)
    policies = _policies(ctx, table) if present else {}
    stale = [t for k, t in present.items() if k not in {t.key for t in targets}]
    register = [t for t in targets if present.get(t.key) != t]
    put = [t for t in targets if t in register or not _policy_ok(policies.get(t.key), t.kind)]
    drift = []
    if register:
        drift.append(f"{len(register)} scalable targets")
    if put:
        drift.append(f"{len(put)} target-tracking policies at {TARGET_UTILISATION_PERCENT:g} %")
    if stale:
        drift.append(f"{len(stale)} targets of removed indexes")

    def update() -> None:
        client = _client(ctx)
        for t in register:
            target: dict[str, Any] = {"ServiceNamespace": NAMESPACE, "ResourceId": t.resource_id,
                                      "ScalableDimension": t.dimension, "MinCapacity": t.min_capacity,
                                      "MaxCapacity": t.max_capacity}
            _explained(ctx, f"RegisterScalableTarget {t.resource_id} {t.kind}",
                       partial(client.register_scalable_target, **target))
        for t in put:
            policy: dict[str, Any] = {
                "PolicyName": policy_name(table, t.kind), "ServiceNamespace": NAMESPACE, "ResourceId": t.resource_id,
                "ScalableDimension": t.dimension, "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": _target_tracking(t.kind)}
            _explained(ctx, f"PutScalingPolicy {t.resource_id} {t.kind}",
                       partial(client.put_scaling_policy, **policy))
        _deregister(ctx, stale)

    if not present:
        if not ctx.dry_run:
            update()
        return ctx.record(KIND, table, Status.CREATED, f"{len(targets)} targets, {TARGET_UTILISATION_PERCENT:g} % "
                                                       "utilisation")
    return ctx.drift(KIND, table, drift, update)


def _deregister(ctx: Context, targets: Iterable[Target]) -> None:
    """Deregistering a target deletes its scaling policies too (DeregisterScalableTarget)."""
    client = _client(ctx)
    for t in targets:
        key: dict[str, Any] = {"ServiceNamespace": NAMESPACE, "ResourceId": t.resource_id,
                               "ScalableDimension": t.dimension}
        try:
            _explained(ctx, f"DeregisterScalableTarget {t.resource_id} {t.kind}",
                       partial(client.deregister_scalable_target, **key), absent_ok=True)
        except _Absent:
            continue


def delete(ctx: Context, table: str, indexes: Iterable[str], *, quiet_if_absent: bool = False) -> Outcome | None:
    """Deregister every target of the table (and so its policies); None when quiet and nothing was there."""
    present = registered(ctx, table, indexes)
    if not present:
        return None if quiet_if_absent else ctx.record(KIND, table, Status.ABSENT)
    if not ctx.dry_run:
        _deregister(ctx, present.values())
    return ctx.record(KIND, table, Status.DELETED, f"{len(present)} targets")


class _Absent(Exception):
    pass


def _explained(ctx: Context, what: str, call: Callable[[], Any], *, absent_ok: bool = False) -> Any:
    """``call()``, retried on ConcurrentUpdateException; documented errors become one-line DeployErrors."""
    for attempt in range(CONCURRENT_RETRIES + 1):
        try:
            return call()
        except ClientError as exc:
            code, message = error_code(exc), str(exc.response.get("Error", {}).get("Message", ""))
            if code == "ConcurrentUpdateException" and attempt < CONCURRENT_RETRIES:
                ctx.sleep(CONCURRENT_BACKOFF_S * 2**attempt)
                continue
            if code == "ObjectNotFoundException" and absent_ok:
                raise _Absent from exc
            raise DeployError(explain(what, code, message)) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def explain(what: str, code: str, message: str) -> str:
    """One line: what Application Auto Scaling refused, why, and what to do."""
    base = f"Application Auto Scaling {what}: {code}: {message}"
    if code == "ConcurrentUpdateException":
        return (f"{base} (still pending after {CONCURRENT_RETRIES} retries: another update of this target is "
                "in progress; run deploy_model.py again in a minute)")
    if code == "LimitExceededException":
        return (f"{base} (an account quota of Application Auto Scaling is reached, e.g. scalable targets per "
                "namespace: raise it in Service Quotas or deregister unused targets)")
    if code == "ObjectNotFoundException":
        return f"{base} (the scalable target vanished while deploying; run deploy_model.py again)"
    if code == "FailedResourceAccessException":
        return (f"{base} (Application Auto Scaling cannot manage the CloudWatch alarms through "
                f"{SERVICE_LINKED_ROLE}; check that the role exists and is intact)")
    if code in {"AccessDeniedException", "AccessDenied"} or "service linked role" in message.lower():
        return (f"{base} (the deploying principal needs application-autoscaling:* on the dynamodb namespace and, "
                f"the first time in an account, iam:CreateServiceLinkedRole for {SERVICE_LINKED_ROLE} "
                "(iam:AWSServiceName dynamodb.application-autoscaling.amazonaws.com))")
    return base
