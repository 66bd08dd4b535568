"""chalicelib.hate_rate: hourly keys, the sliding last hour, the baseline, and the metrics emitted."""

from __future__ import annotations

import calendar
import json
import warnings
from collections.abc import Sequence

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib import observability, schema
from chalicelib.errors import StorageError
from chalicelib.hate_rate import HOURLY_TTL_S, HateRate, HateRateMonitor, figures, hour_of, hourly_key, series_of
from chalicelib.models import Comment, LabeledComment, Prediction
from chalicelib.repository import CommentRepository
from chalicelib.retry import NO_WAIT

from .conftest import REGION, create_table

# 2026-12-01 14:15:00 UTC: a quarter of the current hour has elapsed.
NOW = calendar.timegm((2026, 12, 1, 14, 15, 0))


def test_keys_are_per_utc_hour_and_series() -> None:
    assert hour_of(NOW) == "2026120114"
    assert hourly_key("2026120114", "all") == "stats#h#2026120114#all"
    assert hourly_key("2026120114", "News") == "stats#h#2026120114#r#news"


def test_only_configured_subreddits_get_a_series() -> None:
    assert series_of("News", ("news", "worldnews")) == ["all", "news"]
    assert series_of("pics", ("news",)) == ["all"]
    assert series_of("pics", ("all",)) == ["all"]  # r/all: every subreddit counts in "all" only


def test_last_hour_slides_over_two_buckets_and_baseline_spans_the_hours_before() -> None:
    counts = {
        hourly_key("2026120114", "all"): {"hate": 10, "nothate": 30},  # current hour so far
        hourly_key("2026120113", "all"): {"hate": 4, "nothate": 36},  # 3/4 of it still in the window
        hourly_key("2026120112", "all"): {"hate": 2, "nothate": 98},  # baseline (2 hours)
        hourly_key("2026120111", "all"): {"hate": 0, "nothate": 100},
        hourly_key("2026120110", "all"): {"hate": 50, "nothate": 50},  # outside a 2 h baseline
    }
    rate = figures(counts, NOW, "all", baseline_hours=2)
    assert rate.comments_last_hour == pytest.approx(40 + 40 * 0.75)
    assert rate.rate_last_hour == pytest.approx((10 + 4 * 0.75) / 70, abs=1e-6)
    assert rate.baseline_rate == pytest.approx(2 / 200) and rate.baseline_comments == 200


def test_no_history_is_zero_not_a_division_error() -> None:
    rate = figures({}, NOW, "news", baseline_hours=24)
    assert (rate.comments_last_hour, rate.rate_last_hour, rate.baseline_rate) == (0, 0, 0)


class FakeReader:
    def __init__(self, counts: dict[str, dict[str, int]]) -> None:
        self.counts = counts
        self.calls: list[list[str]] = []

    def counters(self, keys: Sequence[str]) -> dict[str, dict[str, int]]:
        self.calls.append(list(keys))
        return {k: v for k, v in self.counts.items() if k in keys}


def test_monitor_reads_every_series_in_one_call() -> None:
    reader = FakeReader({hourly_key("2026120114", "news"): {"hate": 3, "nothate": 1}})
    rates = HateRateMonitor(reader, ("news",), baseline_hours=24, clock=lambda: NOW).current()
    [keys] = reader.calls
    assert len(keys) == 2 * 26 and keys[0] == "stats#h#2026120114#all" and keys[-1] == "stats#h#2026113013#r#news"
    assert [r.series for r in rates] == ["all", "news"]
    assert rates[1].rate_last_hour == 0.75 and rates[0].comments_last_hour == 0


def test_hate_rates_are_emitted_with_a_subreddit_dimension(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    observability.record_hate_rates([HateRate("all", 70.0, 0.186, 0.01, 200), HateRate("news", 4.0, 0.75, 0, 0)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["subreddit"], e["HateRateLastHour"], e["HateRateBaseline"], e["CommentsLastHour"]) for e in lines] == [
        ("all", [0.186], [0.01], [70.0]), ("news", [0.75], [0.0], [4.0])]
    for emf in lines:
        [directive] = emf["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "RedditHateWatch"
        assert sorted(directive["Dimensions"][0]) == ["service", "subreddit"]


def test_disabled_metrics_leave_nothing_behind_for_the_next_flush(capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Dimension 'subreddit' has already been added" would raise
        observability.record_hate_rates([HateRate("all", 70.0, 0.186, 0.01, 200), HateRate("news", 4, 0.75, 0, 0)])
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    observability.record_hate_rates([HateRate("pics", 2.0, 0.5, 0.1, 10)])
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (emf["subreddit"], emf["HateRateLastHour"], emf["CommentsLastHour"]) == ("pics", [0.5], [2.0])


def comment(i: int, subreddit: str, created: float, label: str) -> LabeledComment:
    c = Comment(f"h{i}", f"t1_h{i}", subreddit, "u", f"text {i}", created, "/p", "t3_x", "t3_x")
    return LabeledComment(c, Prediction(label, 0.9, "m"), created + 60)


def test_hourly_counters_ride_in_the_counter_transaction_and_are_read_back_in_one_batch(aws: None) -> None:
    create_table("hourly")
    client = boto3.client("dynamodb", region_name=REGION)
    repo = CommentRepository(client, "hourly", NO_WAIT, tracked_subreddits=("News",))
    hour = NOW - NOW % 3600
    repo.add_counts([comment(1, "news", hour + 5, "hate"), comment(2, "News", hour + 10, "nothate"),
                     comment(3, "pics", hour + 20, "hate"), comment(4, "news", hour - 1, "nothate")])
    this, last = hour_of(hour), hour_of(hour - 1)
    assert repo.counters([hourly_key(this, "all"), hourly_key(this, "news"), hourly_key(last, "news"),
                          hourly_key(this, "pics")]) == {
        hourly_key(this, "all"): {"hate": 2, "nothate": 1},
        hourly_key(this, "news"): {"hate": 1, "nothate": 1},  # pics is not configured: counted in all only
        hourly_key(last, "news"): {"hate": 0, "nothate": 1},
    }
    item = client.get_item(TableName="hourly", Key={schema.PARTITION_KEY: {"S": hourly_key(this, "all")}})["Item"]
    assert int(item[schema.TTL_ATTRIBUTE]["N"]) == hour + HOURLY_TTL_S  # hourly items expire; totals do not
    total = client.get_item(TableName="hourly", Key={schema.PARTITION_KEY: {"S": schema.stats_key(None)}})["Item"]
    assert schema.TTL_ATTRIBUTE not in total and repo.stats() == {"hate": 2, "nothate": 2}
    rates = HateRateMonitor(repo, ("news",), baseline_hours=24, clock=lambda: NOW).current()
    assert [(r.series, r.rate_last_hour) for r in rates] == [
        ("all", pytest.approx(2 / 3.75, abs=1e-6)), ("news", pytest.approx(1 / 2.75, abs=1e-6))]


def test_an_unreadable_table_skips_the_figures_and_says_so(aws_env: None, caplog: pytest.LogCaptureFixture) -> None:
    """BatchGetItem keys left unprocessed after every retry: the comments are stored, the metrics wait."""
    client = boto3.client("dynamodb", region_name=REGION)
    repo = CommentRepository(client, "t", NO_WAIT)
    monitor = HateRateMonitor(repo, (), baseline_hours=2, clock=lambda: NOW)
    keys = [{schema.PARTITION_KEY: {"S": k}} for k in monitor.keys(NOW)]
    with Stubber(client) as stub:
        for _ in range(len(list(NO_WAIT.pauses()))):
            stub.add_response("batch_get_item", {"Responses": {"t": []}, "UnprocessedKeys": {"t": {"Keys": keys}}})
        assert monitor.current() == []
    assert "hate-rate figures not emitted" in caplog.text
    with Stubber(client) as stub:  # the repository itself raises; only the monitor absorbs it
        for _ in range(len(list(NO_WAIT.pauses()))):
            stub.add_response("batch_get_item", {"Responses": {"t": []}, "UnprocessedKeys": {"t": {"Keys": keys}}})
        with pytest.raises(StorageError, match="unprocessed"):
            repo.counters(monitor.keys(NOW))
