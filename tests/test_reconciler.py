"""The reconciler: raw objects without a completion record are found and classified, once."""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib import observability
from chalicelib.factory import Services
from chalicelib.object_store import ObjectStore
from chalicelib.pipeline import CONTROL_TEXT
from chalicelib.reconciler import Reconciler, start_key
from chalicelib.repository import CommentRepository
from chalicelib.retry import NO_WAIT, Unlimited
from tests.conftest import FakeEndpoint, comment_doc, ndjson

BUCKET = "test-bucket"


class Clock:
    """Real time plus an offset the test moves forward (moto stamps LastModified with real time)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def wire(services: Services, clock: Clock) -> Reconciler:
    repo = CommentRepository(services.clients.dynamodb, "test-table", NO_WAIT, clock=clock)
    processor = dataclasses.replace(services.processor, repository=repo, clock=clock)
    return dataclasses.replace(services.reconciler, repository=repo, processor=processor, clock=clock)


def put(key: str, first: int, count: int) -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key,
                                  Body=ndjson([comment_doc(i) for i in range(first, first + count)]))


def stored_ids() -> list[str]:
    items = boto3.client("dynamodb").scan(TableName="test-table")["Items"]
    return sorted(i["comment_id"]["S"] for i in items if "kind" in i)


def item(key: str) -> dict[str, Any] | None:
    return boto3.client("dynamodb").get_item(TableName="test-table", Key={"comment_id": {"S": key}},
                                             ConsistentRead=True).get("Item")


def test_an_object_whose_event_never_succeeded_is_classified_once(services: Services,
                                                                   endpoint: FakeEndpoint) -> None:
    # Before: nothing looked for it; it stayed unclassified until the retention rules deleted it.
    put("raw/2026/12/01/10/a", 0, 3)
    clock = Clock()
    reconciler = wire(services, clock)
    assert reconciler.run(Unlimited()).listed == 0  # too young: its S3 event and retries own it
    clock.offset = 11 * 60
    report = reconciler.run(Unlimited())
    assert (report.listed, report.unfinished, len(report.recovered), report.stored) == (1, 1, 1, 3)
    assert stored_ids() == ["c00000", "c00001", "c00002"]
    assert item(f"done#s3://{BUCKET}/raw/2026/12/01/10/a")
    calls = len(endpoint.calls)
    again = reconciler.run(Unlimited())
    assert (again.listed, again.unfinished, again.recovered) == (1, 0, [])
    assert len(endpoint.calls) == calls and services.repository.stats()["nothate"] == 3


def test_an_object_the_event_path_finished_costs_nothing(services: Services, endpoint: FakeEndpoint) -> None:
    put("raw/b", 0, 2)
    services.processor.process(BUCKET, "raw/b", Unlimited())
    calls = len(endpoint.calls)
    clock = Clock()
    clock.offset = 3600
    report = wire(services, clock).run(Unlimited())
    assert (report.listed, report.unfinished) == (1, 0) and len(endpoint.calls) == calls


def test_a_crashed_holders_lease_delays_recovery_only_until_it_expires(services: Services) -> None:
    # An OOM or Runtime.ExitError never runs `finally`: the lease stays. It was taken for
    # at most the holder's remaining time plus a margin (here a 900 s Lambda: 930 s).
    put("raw/c", 0, 2)
    clock = Clock()
    reconciler = wire(services, clock)
    assert reconciler.repository.acquire_lease(f"s3://{BUCKET}/raw/c", "crashed", 900 + 30)
    clock.offset = 11 * 60
    first = reconciler.run(Unlimited())
    assert (first.busy, first.recovered, first.failed) == (1, [], []) and stored_ids() == []
    clock.offset = 931
    second = reconciler.run(Unlimited())
    assert second.recovered == [f"s3://{BUCKET}/raw/c"] and stored_ids() == ["c00000", "c00001"]


def test_repeated_failures_are_flagged_retried_slowly_and_recover(services: Services, endpoint: FakeEndpoint,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    put("raw/d", 0, 1)
    endpoint.reject = ""  # the container answers 400 to everything
    clock = Clock()
    clock.offset = 11 * 60
    reconciler = wire(services, clock)
    uri = f"s3://{BUCKET}/raw/d"
    for attempt in (1, 2, 3):
        report = reconciler.run(Unlimited())
        assert report.failed == [uri]
        assert int(item(f"attempts#{uri}")["attempts"]["N"]) == attempt  # type: ignore[index]
    assert report.needing_attention == {uri: 3}
    capsys.readouterr()
    observability.record_reconcile(report)
    emf = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert emf["ObjectsNeedingAttention"] == [1.0]
    # From now on at the slow cadence: the next run leaves it alone, and still reports it.
    calls = len(endpoint.calls)
    waiting = reconciler.run(Unlimited())
    assert (waiting.deferred, waiting.needing_attention, len(endpoint.calls)) == (1, {uri: 3}, calls)
    endpoint.reject = None
    clock.offset += reconciler.slow_retry_seconds + 1
    healed = reconciler.run(Unlimited())
    assert healed.recovered == [uri] and healed.needing_attention == {} and stored_ids() == ["c00000"]
    assert item(f"attempts#{uri}") is None and item(f"done#{uri}")


def test_a_failing_endpoint_stops_the_run_after_one_object(services: Services, endpoint: FakeEndpoint) -> None:
    put("raw/e1", 0, 1)
    put("raw/e2", 10, 1)
    endpoint.reject = ""
    clock = Clock()
    clock.offset = 11 * 60
    report = wire(services, clock).run(Unlimited())
    assert (len(report.failed), report.left) == (1, 1)
    # The second object was not sent to a failing endpoint (the first one's text, asked
    # again alone, then a control text, were refused too).
    assert endpoint.calls == [["comment number 0"], ["comment number 0"], [CONTROL_TEXT]]


def test_listing_starts_at_the_lookback_hour_and_follows_continuation_tokens(aws: None) -> None:
    # ListObjectsV2 returns at most 1,000 keys a call; moto would not make us page.
    client = boto3.client("s3", region_name="us-east-1")
    stub = Stubber(client)
    modified = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
    first_page = {"IsTruncated": True, "NextContinuationToken": "t1", "KeyCount": 1000,
                  "Contents": [{"Key": f"raw/2026/12/01/08/k{i:04d}", "LastModified": modified}
                               for i in range(1000)]}
    second_page = {"IsTruncated": False, "KeyCount": 1,
                   "Contents": [{"Key": "raw/2026/12/01/09/last", "LastModified": modified}]}
    stub.add_response("list_objects_v2", first_page,
                      {"Bucket": BUCKET, "Prefix": "raw/", "StartAfter": "raw/2026/12/01/08"})
    stub.add_response("list_objects_v2", second_page,
                      {"Bucket": BUCKET, "Prefix": "raw/", "StartAfter": "raw/2026/12/01/08",
                       "ContinuationToken": "t1"})
    oldest = datetime.datetime(2026, 12, 1, 8, 30, tzinfo=datetime.UTC).timestamp()
    with stub:
        keys = [o.key for o in ObjectStore(client, "quarantine/").list_objects(BUCKET, "raw/",
                                                                              start_key("raw/", oldest))]
        stub.assert_no_pending_responses()
    assert len(keys) == 1001 and keys[-1] == "raw/2026/12/01/09/last"


def test_subprefixes_follow_continuation_tokens_too(aws: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response("list_objects_v2", {"IsTruncated": True, "NextContinuationToken": "t1",
                                          "CommonPrefixes": [{"Prefix": "raw/a/"}]},
                      {"Bucket": BUCKET, "Prefix": "raw/", "Delimiter": "/"})
    stub.add_response("list_objects_v2", {"IsTruncated": False, "CommonPrefixes": [{"Prefix": "raw/b/"}]},
                      {"Bucket": BUCKET, "Prefix": "raw/", "Delimiter": "/", "ContinuationToken": "t1"})
    with stub:
        assert ObjectStore(client, "quarantine/").subprefixes(BUCKET, "raw/") == ["raw/a/", "raw/b/"]
        stub.assert_no_pending_responses()


def test_only_the_lookback_hours_are_listed_whatever_folder_holds_the_time_path(services: Services) -> None:
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    put(f"raw/{hour}/firehose-object", 0, 1)
    put("raw/2020/01/01/00/older-than-the-window", 10, 1)  # not even listed
    put(f"raw/!{{timestamp:yyyy/MM/dd/HH}}/{hour}/moto-object", 20, 1)  # moto keeps the template literally
    put("raw/replay/fixed-by-hand.jsonl", 30, 1)
    clock = Clock()
    clock.offset = 11 * 60
    reconciler = wire(services, clock)
    reconciler.lookback_seconds = 2 * 3600
    report = reconciler.run(Unlimited())
    assert (report.listed, len(report.recovered)) == (3, 3)
    assert stored_ids() == ["c00000", "c00020", "c00030"]
