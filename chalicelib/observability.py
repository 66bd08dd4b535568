"""CloudWatch metrics (embedded metric format, via Powertools) for each handler run.

Metrics are written to stdout, which Lambda ships to CloudWatch Logs, where
they become metrics in the namespace below; no extra API call is made.
POWERTOOLS_METRICS_DISABLED=true turns them off (the offline runner does).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.models import IngestReport, ObjectReport

NAMESPACE = "RedditHateWatch"
SERVICE = "reddit-hate-watch"


def record_ingest(reports: Sequence[IngestReport]) -> None:
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_metric("CommentsDelivered", MetricUnit.Count, sum(r.delivered for r in reports))
    metrics.add_metric("ListingGaps", MetricUnit.Count, sum(1 for r in reports if r.gap))
    metrics.add_metric("SubredditsSkipped", MetricUnit.Count, sum(1 for r in reports if r.skipped_reason))
    metrics.flush_metrics()


def record_objects(reports: Sequence[ObjectReport]) -> None:
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_metric("CommentsIn", MetricUnit.Count, sum(r.lines_in for r in reports))
    metrics.add_metric("CommentsStored", MetricUnit.Count, sum(r.stored for r in reports))
    metrics.add_metric("CommentsAlreadyStored", MetricUnit.Count, sum(r.already_stored for r in reports))
    metrics.add_metric("CommentsQuarantined", MetricUnit.Count, sum(r.quarantined for r in reports))
    metrics.add_metric("HateLabels", MetricUnit.Count, sum(r.labels.get("hate", 0) for r in reports))
    metrics.add_metric("EndpointCalls", MetricUnit.Count, sum(r.endpoint_calls for r in reports))
    metrics.flush_metrics()
