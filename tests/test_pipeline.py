"""The two use cases against moto, a fake endpoint and a fake Reddit source."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.errors import ClassifierError, DeliveryError, ObjectBusy, StorageError, TimeBudgetExhausted
from chalicelib.factory import Services
from chalicelib.models import Checkpoint, Comment, IngestReport, LabeledComment, Prediction
from chalicelib.pipeline import CONTROL_TEXT, Ingestor
from chalicelib.reddit_source import FetchResult
from chalicelib.repository import CommentRepository
from chalicelib.retry import NO_WAIT, Unlimited
from tests.conftest import FakeEndpoint, client_error, comment_doc, model_error, ndjson, s3_event


def put(key: str, data: bytes) -> None:
    boto3.client("s3").put_object(Bucket="test-bucket", Key=key, Body=data)


def quarantined(key: str) -> list[dict[str, Any]]:
    body = boto3.client("s3").get_object(Bucket="test-bucket", Key=f"quarantine/{key}.rejected.jsonl")["Body"]
    return [json.loads(line) for line in body.read().splitlines()]


def table_ids() -> set[str]:
    items = boto3.client("dynamodb").scan(TableName="test-table")["Items"]
    return {i["comment_id"]["S"] for i in items if "kind" in i}


class ShortDeadline:
    def __init__(self, values: list[int]) -> None:
        self.values = values

    def remaining_ms(self) -> int:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_counts_add_up_and_bad_lines_are_quarantined(services: Services) -> None:
    docs = [comment_doc(i) for i in range(4)]
    data = ndjson(docs[:2]) + b"{broken\n" + ndjson([docs[2], docs[2], {"id": "x1", "body": "[deleted]"}, docs[3]])
    put("raw/o1", data)
    report = services.processor.process("test-bucket", "raw/o1", Unlimited())
    assert (report.lines_in, report.stored, report.already_stored, report.quarantined) == (7, 4, 1, 2)
    assert report.lines_in == report.stored + report.already_stored + report.quarantined
    reasons = [q["reason"] for q in quarantined("raw/o1")]
    assert reasons[0].startswith("malformed JSON") and "deleted" in reasons[1]
    assert table_ids() == {d["id"] for d in docs}


def test_redelivery_costs_no_inference_and_stores_once(services: Services, endpoint: FakeEndpoint) -> None:
    put("raw/o2", ndjson([comment_doc(i) for i in range(10)]))
    first = services.processor.process("test-bucket", "raw/o2", Unlimited())
    calls = len(endpoint.calls)
    second = services.processor.process("test-bucket", "raw/o2", Unlimited())
    assert first.stored == 10 and second.stored == 0 and second.already_stored == 10
    assert len(endpoint.calls) == calls
    assert services.repository.stats() == {"hate": 0, "nothate": 10}


def test_ids_repeated_across_objects_are_stored_once(services: Services) -> None:
    put("raw/a", ndjson([comment_doc(i) for i in range(5)]))
    put("raw/b", ndjson([comment_doc(i) for i in range(3, 8)]))
    a = services.processor.process("test-bucket", "raw/a", Unlimited())
    b = services.processor.process("test-bucket", "raw/b", Unlimited())
    assert (a.stored, b.stored, b.already_stored) == (5, 3, 2)
    assert len(table_ids()) == 8
    assert sum(services.repository.stats().values()) == 8


def test_batches_respect_batch_size(services: Services, endpoint: FakeEndpoint) -> None:
    services.processor.batch_size = 4
    put("raw/o3", ndjson([comment_doc(i) for i in range(10)]))
    services.processor.process("test-bucket", "raw/o3", Unlimited())
    assert [len(c) for c in endpoint.calls] == [4, 4, 2]


def test_model_error_on_one_input_isolates_it(services: Services, endpoint: FakeEndpoint) -> None:
    endpoint.reject = "poison"
    docs = [comment_doc(i) for i in range(8)]
    docs[5]["body"] = "poison pill"
    put("raw/o4", ndjson(docs))
    report = services.processor.process("test-bucket", "raw/o4", Unlimited())
    assert (report.stored, report.quarantined) == (7, 1)
    (q,) = quarantined("raw/o4")
    assert q["record"] == 6 and "rejected by the model" in q["reason"] and q["raw"] == "poison pill"
    assert "c00005" not in table_ids()


def test_throttling_and_cold_start_are_retried(services: Services, endpoint: FakeEndpoint) -> None:
    endpoint.failures = [client_error("ThrottlingException"), model_error("cold start", 0),
                         client_error("ModelNotReadyException", status=429)]
    put("raw/o5", ndjson([comment_doc(1)]))
    report = services.processor.process("test-bucket", "raw/o5", Unlimited())
    assert report.stored == 1 and report.endpoint_calls == 4


def test_persistent_failure_raises_and_the_retry_stores_each_once(services: Services, endpoint: FakeEndpoint) -> None:
    services.processor.batch_size = 2
    services.processor.concurrency = 1
    put("raw/o6", ndjson([comment_doc(i) for i in range(4)]))
    # The second request keeps failing: the first batch is stored, then the handler raises.
    endpoint.on_call = lambda: (
        endpoint.failures.append(client_error("ServiceUnavailable", status=503)) if len(endpoint.calls) > 1 else None)
    with pytest.raises(ClassifierError):
        services.processor.process("test-bucket", "raw/o6", Unlimited())
    assert len(table_ids()) == 2
    endpoint.on_call = None
    endpoint.calls.clear()
    report = services.processor.process("test-bucket", "raw/o6", Unlimited())
    assert (report.stored, report.already_stored) == (2, 2)
    assert [len(c) for c in endpoint.calls] == [2]
    assert services.repository.stats() == {"hate": 0, "nothate": 4}


def test_time_budget_stops_before_new_work(services: Services, endpoint: FakeEndpoint) -> None:
    services.processor.batch_size = 2
    services.processor.concurrency = 1  # one request per window, one deadline check per request
    put("raw/o7", ndjson([comment_doc(i) for i in range(6)]))
    with pytest.raises(TimeBudgetExhausted):
        services.processor.process("test-bucket", "raw/o7", ShortDeadline([200_000, 200_000, 200_000, 1_000]))
    assert len(endpoint.calls) == 2 and len(table_ids()) == 4
    # The lease was released, so Lambda's retry finishes the object.
    report = services.processor.process("test-bucket", "raw/o7", Unlimited())
    assert (report.stored, report.already_stored) == (2, 4)


def test_concurrent_delivery_is_refused_while_leased(services: Services, endpoint: FakeEndpoint) -> None:
    put("raw/o8", ndjson([comment_doc(1)]))
    assert services.repository.acquire_lease("s3://test-bucket/raw/o8", "someone-else", 60)
    with pytest.raises(ObjectBusy):
        services.processor.process("test-bucket", "raw/o8", Unlimited())
    assert endpoint.calls == []


def test_missing_object_is_reported_not_raised(services: Services) -> None:
    report = services.processor.process("test-bucket", "raw/gone", Unlimited())
    assert report.lines_in == 0


def test_key_with_spaces_and_non_ascii(services: Services) -> None:
    key = "raw/2026/11/25/some file ü+x.json"
    put(key, ndjson([comment_doc(1)]))
    (report,) = services.processor.process_event(s3_event("test-bucket", key), Unlimited())
    assert report.key == key and report.stored == 1


# -- ingestion ---------------------------------------------------------------------------


def make_comment(i: int, subreddit: str = "sub") -> Comment:
    return Comment(f"i{i}", f"t1_i{i}", subreddit, "u", f"text {i}", 1_790_000_000.0 + i, "/p", "t3_x", "t3_x")


@dataclass
class FakeSource:
    results: dict[str, FetchResult]
    seen: list[tuple[str, Checkpoint | None]] = field(default_factory=list)

    def fetch(self, subreddit: str, checkpoint: Checkpoint | None, limit: int, deadline: Any) -> FetchResult:
        self.seen.append((subreddit, checkpoint))
        return self.results[subreddit]


@dataclass
class FailingSink:
    fail_for: str
    sent: list[Comment] = field(default_factory=list)

    def send(self, comments: Any) -> int:
        self.sent.extend(c for c in comments if c.subreddit != self.fail_for)
        refused = frozenset(c.id for c in comments if c.subreddit == self.fail_for)
        if refused:
            raise DeliveryError("refused", refused)
        return len(comments)


def test_ingest_moves_checkpoints_only_past_delivered_comments(services: Services) -> None:
    source = FakeSource({
        "good": FetchResult("good", [make_comment(2, "good"), make_comment(1, "good")], gap=False),
        "bad": FetchResult("bad", [make_comment(3, "bad")], gap=False),
        "private": FetchResult("private", [], gap=False, skipped_reason="Forbidden"),
    })
    sink = FailingSink("bad")
    ingestor = Ingestor(source, sink, services.repository, ["good", "bad", "private"], 100)
    with pytest.raises(DeliveryError):
        ingestor.run(Unlimited())
    assert services.repository.get_checkpoint("good") == Checkpoint("good", "i2", 1_790_000_002.0)
    assert services.repository.get_checkpoint("bad") is None
    assert services.repository.get_checkpoint("private") is None
    assert [c.id for c in sink.sent] == ["i2", "i1"]


def test_ingest_stops_taking_subreddits_when_time_is_short(services: Services) -> None:
    source = FakeSource({s: FetchResult(s, [], gap=False) for s in ("a", "b", "c")})
    ingestor = Ingestor(source, FailingSink("none"), services.repository, ["a", "b", "c"], 100)
    reports = ingestor.run(ShortDeadline([100_000, 100_000, 1_000]))  # the first read sizes the ingest lease
    assert [r.subreddit for r in reports] == ["a"] and [s for s, _ in source.seen] == ["a"]


def test_counters_match_the_table_when_a_later_write_fails(services: Services, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    put("raw/o9", ndjson([comment_doc(i) for i in range(60)]))
    real = services.repository.put_labeled
    calls: list[int] = []

    def flaky(items: Any, retention_days: int) -> None:
        calls.append(len(items))
        if len(calls) == 2:
            raise StorageError("throughput exceeded after retries")
        real(items, retention_days)

    monkeypatch.setattr(services.repository, "put_labeled", flaky)
    with pytest.raises(StorageError):
        services.processor.process("test-bucket", "raw/o9", Unlimited())
    # Writes run beside inference, so a later window's write may land after the failed one:
    # whatever was stored, the counters say exactly that, and the retry stores the rest.
    stored = len(table_ids())
    assert 25 <= stored < 60 and services.repository.stats() == {"hate": 0, "nothate": stored}
    report = services.processor.process("test-bucket", "raw/o9", Unlimited())
    assert (report.stored, report.already_stored) == (60 - stored, stored)
    assert services.repository.stats() == {"hate": 0, "nothate": 60} and len(table_ids()) == 60


def test_counter_transaction_retries_with_the_same_token() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    labeled = [LabeledComment(make_comment(i, "a" if i % 2 else "b"), Prediction("hate", 0.9, "m"), 1.0)
               for i in range(4)]
    tokens: list[str] = []
    client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems",
                                lambda params, **_: tokens.append(params["ClientRequestToken"]))
    with Stubber(client) as stub:
        stub.add_client_error("transact_write_items", "TransactionCanceledException")
        stub.add_response("transact_write_items", {}, {"TransactItems": ANY, "ClientRequestToken": ANY})
        CommentRepository(client, "t", NO_WAIT).add_counts(labeled)
        stub.assert_no_pending_responses()
    assert len(tokens) == 2 and tokens[0] == tokens[1]


def test_two_overlapping_ingest_runs_cannot_both_proceed(services: Services) -> None:
    """Issue 12 item 2: without reserved concurrency 1, the lease alone keeps runs apart."""
    second_reports: list[IngestReport] = []

    @dataclass
    class OverlappingSource(FakeSource):
        def fetch(self, subreddit: str, checkpoint: Checkpoint | None, limit: int, deadline: Any) -> FetchResult:
            if not second_reports:  # a second Lambda starts while the first is reading
                other = Ingestor(FakeSource({"a": FetchResult("a", [], gap=False)}), FailingSink("none"),
                                 services.repository, ["a"], 100)
                second_reports.extend(other.run(Unlimited()))
                assert other.source.seen == []  # type: ignore[attr-defined]
            return super().fetch(subreddit, checkpoint, limit, deadline)

    first = Ingestor(OverlappingSource({"a": FetchResult("a", [], gap=False)}), FailingSink("none"),
                     services.repository, ["a"], 100)
    assert [r.skipped_reason for r in first.run(Unlimited())] == [None]
    assert second_reports == [IngestReport("a", 0, 0, gap=False, skipped_reason="another ingestion run is in progress")]
    # Released at the end (also after a failure), so the next scheduled run proceeds.
    third = Ingestor(FakeSource({"a": FetchResult("a", [], gap=False)}), FailingSink("none"), services.repository,
                     ["a"], 100)
    assert [r.skipped_reason for r in third.run(Unlimited())] == [None]


def test_the_ingest_lease_is_released_after_a_failed_delivery(services: Services) -> None:
    comment = Comment("i1", "t1_i1", "bad", "u", "text", 1_790_000_001.0, "/r/bad/1", "t3_x", "t3_x")
    failing = Ingestor(FakeSource({"bad": FetchResult("bad", [comment], gap=False)}), FailingSink("bad"),
                       services.repository, ["bad"], 100)
    with pytest.raises(DeliveryError):
        failing.run(Unlimited())
    assert services.repository.acquire_lease("ingest", "someone-else", 60)


def test_the_ingest_lease_lasts_no_longer_than_the_run_can(services: Services, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    taken: list[int] = []
    real = services.repository.acquire_lease

    def spy(name: str, owner: str, seconds: int) -> bool:
        taken.append(seconds)
        return real(name, owner, seconds)

    monkeypatch.setattr(services.repository, "acquire_lease", spy)
    Ingestor(FakeSource({}), FailingSink("none"), services.repository, [], 100).run(ShortDeadline([200_000]))
    assert taken == [200 + 30]  # remaining time plus the clock-skew margin, not 16 minutes


# -- a 400 is bad input only when the endpoint answers other texts of the object around it ------------


def done_record(key: str) -> bool:
    return bool(boto3.client("dynamodb").get_item(
        TableName="test-table", Key={"comment_id": {"S": f"done#s3://test-bucket/{key}"}}, ConsistentRead=True
    ).get("Item"))


def test_a_one_text_object_refused_by_a_failing_container_is_a_fault(services: Services,
                                                                      endpoint: FakeEndpoint) -> None:
    # Before: the one text was quarantined as "rejected by the model", with no retry.
    endpoint.reject = ""  # the container answers 400 to everything (a model that did not load)
    put("raw/one", ndjson([comment_doc(1)]))
    with pytest.raises(ClassifierError, match="refuses a control text too"):
        services.processor.process("test-bucket", "raw/one", Unlimited())
    assert not table_ids() and not done_record("raw/one")
    with pytest.raises(boto3.client("s3").exceptions.NoSuchKey):
        quarantined("raw/one")
    endpoint.reject = None  # the container recovers: the retry stores the comment
    report = services.processor.process("test-bucket", "raw/one", Unlimited())
    assert (report.stored, report.quarantined) == (1, 0) and done_record("raw/one")


def test_a_one_text_object_the_model_really_refuses_is_quarantined(services: Services,
                                                                    endpoint: FakeEndpoint) -> None:
    # Before: no text of the object was answered, so no control existed and the object was
    # retried until it showed up in ObjectsNeedingAttention, never quarantined.
    endpoint.reject = "comment number 1"  # this text only; the container answers others
    put("raw/lone", ndjson([comment_doc(1)]))
    report = services.processor.process("test-bucket", "raw/lone", Unlimited())
    assert (report.stored, report.quarantined) == (0, 1) and done_record("raw/lone")
    [row] = quarantined("raw/lone")
    assert row["record"] == 1 and "bad input in batch" in row["reason"] and "comment number 1" in row["raw"]
    assert endpoint.calls[-1] == [CONTROL_TEXT]  # the control was asked after the text alone
    assert endpoint.calls[:2] == [["comment number 1"], ["comment number 1"]]


def test_a_transient_400_at_a_bisection_leaf_is_asked_again_not_quarantined(services: Services,
                                                                             endpoint: FakeEndpoint) -> None:
    # [a b] -> 400, [a] -> 400 (still the transient fault), [b] -> ok: before, a was quarantined.
    endpoint.failures = [model_error("CUDA out of memory"), model_error("CUDA out of memory")]
    put("raw/two", ndjson([comment_doc(1), comment_doc(2)]))
    report = services.processor.process("test-bucket", "raw/two", Unlimited())
    assert (report.stored, report.quarantined) == (2, 0)
    assert endpoint.calls == [["comment number 1", "comment number 2"], ["comment number 1"],
                              ["comment number 2"], ["comment number 1"]]


def test_a_container_that_breaks_mid_object_quarantines_nothing(services: Services,
                                                                endpoint: FakeEndpoint) -> None:
    services.processor.batch_size = 2
    services.processor.concurrency = 1
    put("raw/mid", ndjson([comment_doc(i) for i in range(3)]))  # requests [0 1] and [2]

    def break_after_first() -> None:
        if len(endpoint.calls) > 1:
            endpoint.reject = ""
    endpoint.on_call = break_after_first
    with pytest.raises(ClassifierError, match="refuses a control text too"):
        services.processor.process("test-bucket", "raw/mid", Unlimited())
    assert table_ids() == {"c00000", "c00001"} and not done_record("raw/mid")
    with pytest.raises(boto3.client("s3").exceptions.NoSuchKey):
        quarantined("raw/mid")


def test_a_text_refused_while_its_neighbours_pass_is_quarantined(services: Services,
                                                                 endpoint: FakeEndpoint) -> None:
    endpoint.reject = "poison"
    put("raw/bad", ndjson([comment_doc(1), comment_doc(2, body="poison pill")]))
    report = services.processor.process("test-bucket", "raw/bad", Unlimited())
    assert (report.stored, report.quarantined) == (1, 1) and done_record("raw/bad")
    # asked again alone, then a control text of the same object that the endpoint answers
    assert endpoint.calls[-2:] == [["poison pill"], ["comment number 1"]]
    (entry,) = quarantined("raw/bad")
    assert "rejected by the model" in entry["reason"]


class TimedOut(Exception):
    """Stands in for the Lambda timeout killing the run in the middle of a listing."""


def test_each_subreddit_is_delivered_and_checkpointed_before_the_next_is_read(services: Services) -> None:
    # Before: delivery and checkpoints waited for every subreddit, so a run killed
    # while reading the last one lost (and later repeated) everything it had read.
    sink = FailingSink("none")

    @dataclass
    class SlowSecond(FakeSource):
        def fetch(self, subreddit: str, checkpoint: Checkpoint | None, limit: int, deadline: Any) -> FetchResult:
            if subreddit == "slow":
                raise TimedOut
            return super().fetch(subreddit, checkpoint, limit, deadline)

    source = SlowSecond({"fast": FetchResult("fast", [make_comment(2, "fast"), make_comment(1, "fast")], gap=False)})
    with pytest.raises(TimedOut):
        Ingestor(source, sink, services.repository, ["fast", "slow"], 100).run(Unlimited())
    assert [c.id for c in sink.sent] == ["i2", "i1"]
    assert services.repository.get_checkpoint("fast") == Checkpoint("fast", "i2", 1_790_000_002.0)


def test_a_listing_cut_short_is_delivered_and_keeps_its_checkpoint(services: Services) -> None:
    services.repository.put_checkpoint(Checkpoint("busy", "i0", 1_790_000_000.0))
    sink = FailingSink("none")
    read = [make_comment(9, "busy"), make_comment(8, "busy")]
    source = FakeSource({"busy": FetchResult("busy", read, gap=False, stopped_reason="time ran out after 2"),
                         "next": FetchResult("next", [make_comment(20, "next")], gap=False)})
    reports = Ingestor(source, sink, services.repository, ["busy", "next"], 100).run(Unlimited())
    assert [c.id for c in sink.sent] == ["i9", "i8", "i20"]
    # The part between i8 and the checkpoint is unread: the checkpoint stays, the next run reads it.
    assert services.repository.get_checkpoint("busy") == Checkpoint("busy", "i0", 1_790_000_000.0)
    assert reports[0].delivered == 2 and reports[0].cut_short == "time ran out after 2"
    assert reports[0].skipped_reason is None
    assert services.repository.get_checkpoint("next") == Checkpoint("next", "i20", 1_790_000_020.0)
