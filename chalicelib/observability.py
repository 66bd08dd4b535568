"""CloudWatch metrics (embedded metric format, via Powertools) for each handler run.

Metrics are written to stdout, which Lambda ships to CloudWatch Logs, where
they become metrics in the namespace below; no extra API call is made.
POWERTOOLS_METRICS_DISABLED=true turns them off (the offline runner does).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.hate_rate import HateRate
from chalicelib.models import IngestReport, ObjectReport, ReconcileReport, SweepReport
from chalicelib.pipeline import total

NAMESPACE = "RedditHateWatch"
SERVICE = "reddit-hate-watch"


def _flush(metrics: Metrics) -> None:
    """Emit and forget. Powertools shares one metric set between instances and, with metrics
    disabled (POWERTOOLS_METRICS_DISABLED, as make run and make bench set it), keeps it after a
    flush: the next series would inherit this one's dimension and values, and a warm container's
    set would only grow."""
    metrics.flush_metrics()
    metrics.clear_metrics()


def record_ingest(reports: Sequence[IngestReport]) -> None:
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_metric("CommentsDelivered", MetricUnit.Count, sum(r.delivered for r in reports))
    metrics.add_metric("ListingGaps", MetricUnit.Count, sum(1 for r in reports if r.gap))
    metrics.add_metric("SubredditsSkipped", MetricUnit.Count, sum(1 for r in reports if r.skipped_reason))
    metrics.add_metric("ListingsCutShort", MetricUnit.Count, sum(1 for r in reports if r.cut_short))
    _flush(metrics)


#: Metric name for each key of pipeline.total().
_OBJECT_METRICS = {
    "lines_in": "CommentsIn", "stored": "CommentsStored", "already_stored": "CommentsAlreadyStored",
    "quarantined": "CommentsQuarantined", "label_hate": "HateLabels", "endpoint_calls": "EndpointCalls",
}


def record_objects(reports: Sequence[ObjectReport]) -> None:
    sums = total(reports)
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    for key, name in _OBJECT_METRICS.items():
        metrics.add_metric(name, MetricUnit.Count, sums.get(key, 0))
    _flush(metrics)


def record_reconcile(report: ReconcileReport) -> None:
    """ObjectsNeedingAttention is the one to alarm on: raw objects still unclassified
    after RECONCILE_ATTENTION_AFTER tries. It is emitted on every run, so it stays
    above zero for as long as any such object waits."""
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_metric("ObjectsNeedingAttention", MetricUnit.Count, len(report.needing_attention))
    metrics.add_metric("ObjectsUnfinished", MetricUnit.Count, report.unfinished)
    metrics.add_metric("ObjectsRecovered", MetricUnit.Count, len(report.recovered))
    metrics.add_metric("ObjectsFailed", MetricUnit.Count, len(report.failed))
    _flush(metrics)


def record_sweep(report: SweepReport) -> None:
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_metric("SweepChecked", MetricUnit.Count, report.checked)
    metrics.add_metric("SweepDeleted", MetricUnit.Count, report.deleted)
    metrics.add_metric("SweepRedditRequests", MetricUnit.Count, report.requests)
    metrics.add_metric("SweepPassesCompleted", MetricUnit.Count, int(report.pass_completed))
    _flush(metrics)


def record_hate_rates(rates: Sequence[HateRate]) -> None:
    """The hate-rate alarms' inputs, one flush per series (each has its own ``subreddit`` dimension).

    Rates are fractions (0..1); the alarm divides one by the other, so the unit cancels out.
    """
    for rate in rates:
        metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
        metrics.add_dimension(name="subreddit", value=rate.series)
        metrics.add_metric("HateRateLastHour", MetricUnit.NoUnit, rate.rate_last_hour)
        metrics.add_metric("HateRateBaseline", MetricUnit.NoUnit, rate.baseline_rate)
        metrics.add_metric("CommentsLastHour", MetricUnit.Count, rate.comments_last_hour)
        _flush(metrics)
