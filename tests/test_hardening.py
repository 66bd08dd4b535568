"""Issue 8: nothing is lost under bad input and faults.

Every case runs the real handlers (``app.handler_map``) or the real adapters,
with moto for AWS, botocore Stubber or small fakes for injected faults, real
PRAW against devtools.fake_reddit for the Reddit side. Cases already covered
elsewhere are listed in the hardening report, not repeated here.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.retries.standard
import prawcore
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

import app as app_module
from chalicelib.classifier import MAX_MODEL_CHARS, EndpointClassifier
from chalicelib.clients import AwsClients
from chalicelib.errors import ClassifierError, DeliveryError, ObjectBusy, StorageError, TimeBudgetExhausted
from chalicelib.factory import Services
from chalicelib.models import Checkpoint, Comment, LabeledComment, Prediction
from chalicelib.pipeline import ObjectProcessor
from chalicelib.records import MAX_STORED_BODY_CHARS
from chalicelib.repository import CommentRepository
from chalicelib.retry import LEASE_SECONDS, NO_WAIT, Backoff, Unlimited
from devtools import replay_quarantine
from devtools.fake_reddit import FakeRedditServer
from tests.conftest import FakeEndpoint, comment_doc, ndjson, s3_event

BUCKET = "test-bucket"
TABLE = "test-table"


# -- helpers -----------------------------------------------------------------------------


class FakeContext:
    """The parts of a Lambda context the handlers and Powertools read.

    ``remaining`` is consumed one value per call; the last value repeats.
    """

    function_name = "classify"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:reddit-hate-watch-dev-classify"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def __init__(self, *remaining: int) -> None:
        self.remaining = list(remaining or (300_000,))
        self.asked = 0

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


@pytest.fixture
def wired(services: Services) -> Iterator[Services]:
    """The Chalice app wired to the emulated stack."""
    app_module.set_services(services)
    yield services
    app_module.set_services(None)


def classify(event: dict[str, Any], context: FakeContext | None = None) -> dict[str, int]:
    result: dict[str, int] = app_module.app.handler_map["classify"](event, context or FakeContext())
    return result


def ingest(context: FakeContext | None = None) -> dict[str, Any]:
    event = {"version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2026-11-25T00:00:00Z", "region": "us-east-1",
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/ingest"], "detail": {}}
    result: dict[str, Any] = app_module.app.handler_map["ingest"](event, context or FakeContext())
    return result


def put(key: str, data: bytes) -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)


def quarantine_lines(key: str) -> list[dict[str, Any]] | None:
    try:
        body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"quarantine/{key}.rejected.jsonl")["Body"]
    except boto3.client("s3").exceptions.NoSuchKey:
        return None
    return [json.loads(line) for line in body.read().decode().splitlines()]


def stored() -> dict[str, dict[str, Any]]:
    """Every stored comment (not bookkeeping items), by id."""
    paginator = boto3.client("dynamodb").get_paginator("scan")
    return {i["comment_id"]["S"]: i for page in paginator.paginate(TableName=TABLE)
            for i in page["Items"] if "kind" in i}


def summaries(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.__dict__["object"] for r in caplog.records if r.getMessage() == "object summary"]


def good(i: int, **changes: Any) -> bytes:
    return json.dumps({**comment_doc(i), **changes}).encode()


def lines(*parts: bytes) -> bytes:
    return b"\n".join(parts) + b"\n"


def ids(*numbers: int) -> set[str]:
    return {f"c{i:05d}" for i in numbers}


# -- bad input: one S3 object through the real handler --------------------------------------

@dataclasses.dataclass(frozen=True)
class Case:
    data: bytes
    stored: set[str]
    reasons: list[str]  # substrings, in record order
    already: int = 0


NUL_ESCAPED = json.dumps(comment_doc(3, body="before\u0000after")).encode()

BAD_INPUT: dict[str, Case] = {
    "malformed JSON line among good ones": Case(lines(good(1), b'{"id": "m1", "body": ', good(2)),
                                                ids(1, 2), ["malformed JSON"]),
    "invalid UTF-8 bytes": Case(lines(good(1), b'{"id": "u1", "body": "caf\xe9 \xff"}', good(2)),
                                ids(1, 2), ["invalid UTF-8"]),
    "gzip content": Case(gzip.compress(ndjson([comment_doc(i) for i in range(3)])), ids(0, 1, 2), []),
    "corrupt gzip": Case(b"\x1f\x8b\x08\x00garbage-not-deflate", set(), ["corrupt gzip"]),
    "nothing at all": Case(b"", set(), []),
    "only blank lines": Case(b"\n\n   \n\r\n", set(), []),
    "a 1 MB comment body": Case(lines(good(1, body="x" * 1_000_000), good(2)), ids(1, 2), []),
    "a record without id": Case(lines(good(1), b'{"body": "no id here"}'), ids(1), ["missing or invalid id"]),
    "a record without body": Case(lines(good(1), b'{"id": "nb1"}'), ids(1), ["missing body"]),
    "body [deleted] or [removed]": Case(lines(good(1, body="[deleted]"), good(2, body="[removed]"), good(3)),
                                        ids(3), ["deleted or removed", "deleted or removed"]),
    "ids repeated inside one object": Case(lines(good(1), good(2), good(1), good(1, body="edited")),
                                           ids(1, 2), [], already=2),
    "body a number, a list or null": Case(lines(good(1, body=5), good(2, body=["x"]), good(3, body=None),
                                                good(4, body={"t": "x"}), good(5)),
                                          ids(5), ["body is a int", "body is a list", "missing body",
                                                   "body is a dict"]),
    "NUL bytes": Case(lines(good(1), b'{"id": "n1", "body": "a\x00b"}', b"\x00\x00\x00", NUL_ESCAPED),
                      ids(1, 3), ["malformed JSON", "malformed JSON"]),
    "JSON objects concatenated with no newline": Case(good(1) + good(2) + b" " + good(3) + b"\n" + good(4),
                                                      ids(1, 2, 3, 4), []),
    "a bare JSON value instead of an object": Case(lines(b"42", b'"text"', b"null", good(1)), ids(1),
                                                   ["JSON int", "JSON str", "JSON NoneType"]),
}


@pytest.mark.parametrize("name", list(BAD_INPUT))
def test_bad_input_is_stored_once_or_quarantined_with_a_reason(
        name: str, wired: Services, endpoint: FakeEndpoint, caplog: pytest.LogCaptureFixture) -> None:
    case = BAD_INPUT[name]
    key = "raw/2026/11/25/bad-input.json"
    put(key, case.data)
    with caplog.at_level(logging.INFO):
        result = classify(s3_event(BUCKET, key))  # the handler finishes: no exception

    table = stored()
    assert set(table) == case.stored
    quarantined = quarantine_lines(key)
    if case.reasons:
        assert quarantined is not None
        assert len(quarantined) == len(case.reasons)
        for entry, reason in zip(quarantined, case.reasons, strict=True):
            assert reason in entry["reason"]
            assert entry["source"] == f"s3://{BUCKET}/{key}" and isinstance(entry["record"], int) and entry["raw"]
    else:
        assert quarantined is None  # nothing rejected, no file

    # lines in = stored + already stored + quarantined, in the handler result and in one log summary.
    assert result.get("lines_in", 0) == result.get("stored", 0) + result.get("already_stored", 0) \
        + result.get("quarantined", 0)
    assert result.get("stored", 0) == len(case.stored) and result.get("already_stored", 0) == case.already
    assert result.get("quarantined", 0) == len(case.reasons)
    (summary,) = summaries(caplog)
    assert summary["key"] == key and summary["lines_in"] == result.get("lines_in", 0)
    assert summary["stored"] + summary["already_stored"] + summary["quarantined"] == summary["lines_in"]
    # Label counters agree with what is stored.
    assert sum(wired.repository.stats().values()) == len(case.stored)
    # Each stored comment went to the model once, within the model's text bound.
    sent = [t for call in endpoint.calls for t in call]
    assert len(sent) == len(case.stored) and all(len(t) <= MAX_MODEL_CHARS for t in sent)


def test_huge_body_is_truncated_for_the_model_never_rejected(wired: Services, endpoint: FakeEndpoint) -> None:
    captured: list[dict[str, Any]] = []
    original = endpoint.invoke_endpoint

    def spy(**kwargs: Any) -> dict[str, Any]:
        captured.append(json.loads(kwargs["Body"]))
        return original(**kwargs)

    endpoint.invoke_endpoint = spy  # type: ignore[method-assign]
    put("raw/huge.json", lines(good(1, body="hateful " * 125_000)))  # 1 MB
    result = classify(s3_event(BUCKET, "raw/huge.json"))
    assert result["stored"] == 1 and result.get("quarantined", 0) == 0
    (request,) = captured
    assert len(request["inputs"][0]) == MAX_MODEL_CHARS
    assert request["parameters"] == {"truncation": True, "max_length": 512, "batch_size": 8}
    item = stored()["c00001"]
    assert len(item["body"]["S"]) == MAX_STORED_BODY_CHARS and item["label"]["S"] == "hate"


def test_nul_escaped_in_json_is_kept_verbatim(wired: Services) -> None:
    put("raw/nul.json", lines(NUL_ESCAPED))
    classify(s3_event(BUCKET, "raw/nul.json"))
    assert stored()["c00003"]["body"]["S"] == "before\x00after"


def test_every_bad_line_of_one_object_keeps_its_record_number(wired: Services) -> None:
    data = lines(good(1), b"{oops", b'{"id": "a1"}', good(2), b'{"id": "x\xff"}') + good(3) + good(4)
    put("raw/mixed.json", data)
    result = classify(s3_event(BUCKET, "raw/mixed.json"))
    quarantined = quarantine_lines("raw/mixed.json") or []
    assert [q["record"] for q in quarantined] == [2, 3, 5]
    assert quarantined[2]["raw"].startswith("base64:")  # invalid UTF-8 is kept losslessly
    assert (result["lines_in"], result["stored"], result["quarantined"]) == (7, 4, 3)


def test_ids_repeated_across_objects_of_one_event(wired: Services, endpoint: FakeEndpoint,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    put("raw/one.json", ndjson([comment_doc(i) for i in range(4)]))
    put("raw/two.json", ndjson([comment_doc(i) for i in range(2, 6)]))
    with caplog.at_level(logging.INFO):
        result = classify(s3_event(BUCKET, "raw/one.json", "raw/two.json"))
    assert set(stored()) == ids(*range(6))
    assert (result["lines_in"], result["stored"], result["already_stored"]) == (8, 6, 2)
    assert [(s["key"], s["stored"], s["already_stored"]) for s in summaries(caplog)] == [
        ("raw/one.json", 4, 0), ("raw/two.json", 2, 2)]
    assert sum(len(c) for c in endpoint.calls) == 6  # the repeats cost no inference


def test_key_with_spaces_and_non_ascii_quarantines_under_the_decoded_key(wired: Services) -> None:
    key = "raw/2026/11/25/Firehose ünïcode+plus 01.json"
    put(key, lines(good(1), b"{bad"))
    event = s3_event(BUCKET, key)
    assert "%C3%BC" in event["Records"][0]["s3"]["object"]["key"]  # really URL-encoded
    result = classify(event)
    assert result["stored"] == 1
    (entry,) = quarantine_lines(key) or []
    assert entry["source"] == f"s3://{BUCKET}/{key}"


# -- Reddit side: real PRAW against the fake server --------------------------------------------


@pytest.fixture
def reddit_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record, instead of sleeping, every wait prawcore would make."""
    waits: list[float] = []
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda self: None)

    def delay(self: prawcore.rate_limit.RateLimiter) -> None:
        if self.next_request_timestamp_ns is not None:
            pending = (self.next_request_timestamp_ns - time.monotonic_ns()) / 1e9
            if pending > 0.5:  # ignore normal pacing noise
                waits.append(round(pending))
                self.next_request_timestamp_ns = None

    monkeypatch.setattr(prawcore.rate_limit.RateLimiter, "delay", delay)
    return waits


def reddit_comment(i: int, subreddit: str, **changes: Any) -> dict[str, Any]:
    cid = f"r{i:05d}"
    return {"id": cid, "name": f"t1_{cid}", "subreddit": subreddit, "author": f"user{i}",
            "body": f"reddit comment {i}", "created_utc": 1_790_000_000.0 + i, "link_id": "t3_abc",
            "parent_id": "t3_abc", "permalink": f"/r/{subreddit}/comments/abc/_/{cid}/", **changes}


def wire_reddit(settings: Any, server: FakeRedditServer, endpoint: FakeEndpoint, subreddits: tuple[str, ...],
                sleeps: list[float] | None = None) -> Services:
    settings = dataclasses.replace(settings, reddit_urls=dict(server.praw_kwargs()), subreddits=subreddits)
    backoff = Backoff(sleep=sleeps.append if sleeps is not None else (lambda _s: None), rand=lambda: 1.0)
    services = Services(settings, AwsClients(overrides={"sagemaker-runtime": endpoint}), backoff)
    app_module.set_services(services)
    return services


def classify_new(seen: set[str]) -> list[dict[str, int]]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/").get("Contents", [])]
    new = [k for k in keys if k not in seen]
    seen.update(new)
    return [classify(s3_event(BUCKET, k)) for k in new]


def listing_requests(server: FakeRedditServer, subreddit: str) -> int:
    return sum(1 for r in server.requests if r.path.rstrip("/").removesuffix(".json") == f"/r/{subreddit}/comments")


def test_comment_whose_author_was_deleted(settings: Any, endpoint: FakeEndpoint, reddit_sleeps: list[float]
                                          ) -> None:
    # Reddit sends "[deleted]" for a deleted account; PRAW turns it into author None.
    comments = [reddit_comment(1, "ghosts", author="[deleted]"), reddit_comment(2, "ghosts")]
    with FakeRedditServer(comments) as server:
        services = wire_reddit(settings, server, endpoint, ("ghosts",))
        try:
            assert ingest()["delivered"] == 2
            classify_new(set())
        finally:
            app_module.set_services(None)
    table = stored()
    assert set(table) == {"r00001", "r00002"}
    assert "author" not in table["r00001"]  # stored as absent: no "[deleted]" or "None" string
    assert table["r00002"]["author"]["S"] == "user2"
    comment = services.repository.get_comment("r00001")
    assert comment is not None and comment["author"] is None  # the API answers null


def test_rate_limit_is_honoured_when_the_budget_allows(settings: Any, endpoint: FakeEndpoint,
                                                       reddit_sleeps: list[float]) -> None:
    sleeps: list[float] = []
    with FakeRedditServer([reddit_comment(i, "busy") for i in range(3)]) as server:
        server.set_fault("busy", 429, times=1, headers={"retry-after": "7", "x-ratelimit-reset": "7"})
        wire_reddit(settings, server, endpoint, ("busy",), sleeps)
        try:
            result = ingest(FakeContext(300_000))
        finally:
            app_module.set_services(None)
        assert result["delivered"] == 3
        assert listing_requests(server, "busy") == 2
    assert sleeps[0] == 7.0  # waited what Reddit asked (then one jittered backoff pause)


def test_rate_limit_longer_than_the_budget_skips_without_blowing_it(
        settings: Any, endpoint: FakeEndpoint, reddit_sleeps: list[float]) -> None:
    sleeps: list[float] = []
    comments = [reddit_comment(i, "busy") for i in range(2)] + [reddit_comment(i, "calm") for i in range(2, 4)]
    with FakeRedditServer(comments) as server:
        # remaining=0 with a 5 minute reset: prawcore itself would sleep 300 s before the next request.
        server.set_fault("busy", 429, times=1, headers={"x-ratelimit-reset": "300", "x-ratelimit-remaining": "0"})
        services = wire_reddit(settings, server, endpoint, ("busy", "calm"), sleeps)
        services.repository.put_checkpoint(Checkpoint("busy", "old1", 1.0))
        try:
            result = ingest(FakeContext(120_000))  # two minutes left
        finally:
            app_module.set_services(None)
        assert listing_requests(server, "busy") == 1
    assert sleeps == [] and reddit_sleeps == []  # no wait was started that the budget cannot cover
    assert services.repository.get_checkpoint("busy") == Checkpoint("busy", "old1", 1.0)
    assert result["delivered"] == 0  # "calm" shares the same client rate limit: left for the next run


def test_server_errors_are_retried_then_the_subreddit_is_skipped(
        settings: Any, endpoint: FakeEndpoint, reddit_sleeps: list[float]) -> None:
    sleeps: list[float] = []
    comments = [reddit_comment(i, "flaky") for i in range(2)] + [reddit_comment(i, "fine") for i in range(2, 5)]
    with FakeRedditServer(comments) as server:
        server.set_fault("flaky", 503, times=None)
        services = wire_reddit(settings, server, endpoint, ("flaky", "fine"), sleeps)
        services.repository.put_checkpoint(Checkpoint("flaky", "old1", 1.0))
        try:
            result = ingest()
        finally:
            app_module.set_services(None)
        # prawcore tries 3 times per call, RedditSource makes 3 calls with backoff between them.
        assert listing_requests(server, "flaky") == 9
    # Two pauses between three attempts, full jitter under a doubling cap (base 1 s).
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0
    assert result == {"delivered": 3, "subreddits": 2}
    assert services.repository.get_checkpoint("flaky") == Checkpoint("flaky", "old1", 1.0)
    assert services.repository.get_checkpoint("fine") is not None


# -- SageMaker runtime faults: botocore Stubber on the real client -------------------------------


def runtime_stub() -> tuple[Any, Stubber]:
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    return client, Stubber(client)


def answer(labels: list[str]) -> dict[str, Any]:
    body = json.dumps([{"label": label, "score": 0.9} for label in labels]).encode()
    return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json"}


def model_error_4xx(stub: Stubber) -> None:
    # The real service answers 424 and carries the container's own status in OriginalStatusCode.
    stub.add_client_error("invoke_endpoint", service_error_code="ModelError", service_message="bad input",
                          http_status_code=424, modeled_fields={"OriginalStatusCode": 400})


def test_throttling_cold_start_and_read_timeout_are_retried_with_jittered_backoff() -> None:
    client, stub = runtime_stub()
    stub.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)
    stub.add_client_error("invoke_endpoint", "ModelNotReadyException", http_status_code=429)
    # A serverless cold start that overruns: the container's status is not 4xx.
    stub.add_client_error("invoke_endpoint", service_error_code="ModelError", http_status_code=424,
                          service_message="Your invocation timed out while waiting for a response from container",
                          modeled_fields={"OriginalStatusCode": 500})
    stub.add_response("invoke_endpoint", answer(["hate", "nothate"]))
    pauses: list[float] = []
    jitter = iter([0.5, 0.25, 1.0, 0.75])
    backoff = Backoff(attempts=6, base=0.2, cap=8.0, sleep=pauses.append, rand=lambda: next(jitter))

    class TimesOutOnce:
        """A read timeout is raised by the HTTP layer, which Stubber short-circuits: wrap it."""

        def __init__(self) -> None:
            self.raised = False

        def invoke_endpoint(self, **kwargs: Any) -> Any:
            if not self.raised:
                self.raised = True
                raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com")
            return client.invoke_endpoint(**kwargs)

    with stub:
        result = EndpointClassifier(TimesOutOnce(), "ep", "m", backoff).classify(["a", "b"])  # type: ignore[arg-type]
        stub.assert_no_pending_responses()
    assert [p if isinstance(p, str) else p.label for p in result.predictions] == ["hate", "nothate"]
    assert result.calls == 5
    # sleep before attempt n+1 = rand() * min(cap, base * 2**n): full jitter under a doubling cap.
    assert pauses == pytest.approx([0.5 * 0.2, 0.25 * 0.4, 1.0 * 0.8, 0.75 * 1.6])


def test_persistent_endpoint_failure_raises_after_all_attempts() -> None:
    client, stub = runtime_stub()
    for _ in range(4):
        stub.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)
    with stub, pytest.raises(ClassifierError, match="still failing after 4 attempts"):
        EndpointClassifier(client, "ep", "m", Backoff(attempts=4, sleep=lambda _s: None)).classify(["a"])


def test_model_error_on_one_input_is_isolated_by_splitting(services: Services) -> None:
    client, stub = runtime_stub()
    model_error_4xx(stub)                   # [0 1 2 3] fails
    stub.add_response("invoke_endpoint", answer(["nothate", "hate"]))  # [0 1]
    model_error_4xx(stub)                   # [2 3] fails
    model_error_4xx(stub)                   # [2] is the bad one
    stub.add_response("invoke_endpoint", answer(["nothate"]))  # [3]
    model_error_4xx(stub)                   # [2] asked again: still refused ...
    stub.add_response("invoke_endpoint", answer(["nothate"]))  # ... while a text it answered (0) passes
    processor = dataclasses.replace(
        services.processor, classifier=EndpointClassifier(client, "ep", "m", NO_WAIT))
    put("raw/poison.json", ndjson([comment_doc(i) for i in range(4)]))
    with stub:
        report = processor.process(BUCKET, "raw/poison.json", Unlimited())
        stub.assert_no_pending_responses()
    assert (report.stored, report.quarantined, report.endpoint_calls) == (3, 1, 7)
    assert set(stored()) == ids(0, 1, 3)
    (entry,) = quarantine_lines("raw/poison.json") or []
    assert entry["record"] == 3 and "rejected by the model" in entry["reason"] and entry["raw"] == "comment number 2"


# -- DynamoDB faults ----------------------------------------------------------------------------------


def labeled(i: int) -> LabeledComment:
    comment = Comment(f"d{i}", f"t1_d{i}", "sub", "u", f"text {i}", 1.0 + i, "/p", "t3_x", "t3_x")
    return LabeledComment(comment, Prediction("nothate", 0.8, "m"), 2.0)


def test_unprocessed_items_are_resent_over_several_rounds() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    repo = CommentRepository(client, TABLE, NO_WAIT)
    items = [labeled(i) for i in range(5)]
    requests = [{"PutRequest": {"Item": ANY}} for _ in items]

    def unprocessed(n: int) -> dict[str, Any]:
        return {"UnprocessedItems": {TABLE: [{"PutRequest": {"Item": {"comment_id": {"S": f"d{i}"}}}}
                                             for i in range(n)]}}

    with Stubber(client) as stub:
        stub.add_response("batch_write_item", unprocessed(3), {"RequestItems": {TABLE: requests}})
        # Only the 3 unprocessed requests are resent, then the 1 left after that.
        stub.add_response("batch_write_item", unprocessed(1),
                          {"RequestItems": {TABLE: unprocessed(3)["UnprocessedItems"][TABLE]}})
        stub.add_response("batch_write_item", {"UnprocessedItems": {}},
                          {"RequestItems": {TABLE: unprocessed(1)["UnprocessedItems"][TABLE]}})
        repo.put_labeled(items, 0)
        stub.assert_no_pending_responses()


def test_unprocessed_items_that_never_clear_raise() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        for _ in range(NO_WAIT.attempts):
            stub.add_response("batch_write_item", {"UnprocessedItems": {TABLE: [
                {"PutRequest": {"Item": {"comment_id": {"S": "d0"}}}}]}})
        with pytest.raises(StorageError, match="1 items still unprocessed"):
            CommentRepository(client, TABLE, NO_WAIT).put_labeled([labeled(0)], 0)


class Throttle:
    """Answers DynamoDB operations with ProvisionedThroughputExceededException, before moto sees them."""

    def __init__(self, client: Any, operation: str, times: int | None) -> None:
        self.left = times
        self.seen = 0
        client.meta.events.register_first(f"before-send.dynamodb.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        self.seen += 1
        if self.left is not None:
            if self.left <= 0:
                return None
            self.left -= 1
        # botocore offers the request to every before-send handler and uses the first
        # answer: empty the batch so that moto, called after us, writes nothing.
        request.body = b"{\"RequestItems\": {}}"
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                           "message": "The level of configured provisioned throughput for the table was exceeded"})
        raw = _Raw(body.encode())
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 400, headers, raw)


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


@pytest.fixture
def no_botocore_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def test_throughput_exceeded_is_absorbed_by_the_sdk_retries(services: Services, no_botocore_delay: None) -> None:
    throttle = Throttle(services.clients.dynamodb, "BatchWriteItem", times=2)
    put("raw/throttled.json", ndjson([comment_doc(i) for i in range(3)]))
    report = services.processor.process(BUCKET, "raw/throttled.json", Unlimited())
    assert report.stored == 3 and throttle.seen == 3  # the real client's standard retry mode
    assert set(stored()) == ids(0, 1, 2)


def test_persistent_throughput_exceeded_fails_the_event_and_redelivery_stores_once(
        services: Services, endpoint: FakeEndpoint, no_botocore_delay: None) -> None:
    put("raw/throttled.json", ndjson([comment_doc(i) for i in range(3)]))
    throttle = Throttle(services.clients.dynamodb, "BatchWriteItem", times=None)
    with pytest.raises(StorageError, match="ProvisionedThroughputExceeded"):
        services.processor.process(BUCKET, "raw/throttled.json", Unlimited())
    assert throttle.seen == 6  # 1 call + the client config's max_attempts=5 retries
    assert stored() == {} and services.repository.stats() == {"hate": 0, "nothate": 0}
    throttle.left = 0  # the table recovers; Lambda redelivers the event
    report = services.processor.process(BUCKET, "raw/throttled.json", Unlimited())
    assert report.stored == 3 and set(stored()) == ids(0, 1, 2)
    assert services.repository.stats() == {"hate": 0, "nothate": 3}


# -- Firehose faults and a crash between delivery and checkpoint ----------------------------------------


def firehose_response(codes: list[str | None]) -> dict[str, Any]:
    return {"FailedPutCount": sum(1 for c in codes if c), "Encrypted": False,
            "RequestResponses": [{"ErrorCode": c, "ErrorMessage": "busy"} if c else {"RecordId": "r"} for c in codes]}


def delivered_ids() -> list[str]:
    """Comment ids in every raw/ object, in delivery order, repeats kept."""
    s3 = boto3.client("s3")
    out: list[str] = []
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/").get("Contents", []):
        data = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        out += [json.loads(line)["id"] for line in data.decode().splitlines() if line]
    return out


def test_firehose_outage_keeps_the_checkpoint_and_partial_failures_resend_only_the_failed(
        settings: Any, endpoint: FakeEndpoint, reddit_sleeps: list[float]) -> None:
    comments = [reddit_comment(i, "news") for i in range(3)]
    with FakeRedditServer(comments) as server:
        services = wire_reddit(settings, server, endpoint, ("news",))
        firehose = boto3.client("firehose", region_name="us-east-1")
        services.clients._clients["firehose"] = firehose
        try:
            with Stubber(firehose) as stub:
                # Run 1: partial failure, then the service stays unavailable.
                stub.add_response("put_record_batch", firehose_response([None, "ServiceUnavailableException", None]))
                for _ in range(NO_WAIT.attempts - 1):
                    stub.add_client_error("put_record_batch", "ServiceUnavailableException", http_status_code=503)
                with pytest.raises(DeliveryError):
                    ingest()
                assert services.repository.get_checkpoint("news") is None  # not moved past undelivered
                # Run 2: two records fail once; only those two are resent.
                stub.add_response("put_record_batch", firehose_response(["InternalFailure", None, "InternalFailure"]),
                                  {"DeliveryStreamName": "test-stream", "Records": ANY})
                stub.add_response("put_record_batch", firehose_response([None, None]),
                                  {"DeliveryStreamName": "test-stream", "Records": ANY})
                assert ingest()["delivered"] == 3
                stub.assert_no_pending_responses()
        finally:
            app_module.set_services(None)
    assert services.repository.get_checkpoint("news") == Checkpoint("news", "r00002", 1_790_000_002.0)


def test_crash_between_delivery_and_checkpoint_resends_at_most_that_batch(
        settings: Any, endpoint: FakeEndpoint, reddit_sleeps: list[float]) -> None:
    with FakeRedditServer([reddit_comment(i, "news") for i in range(4)]) as server:
        services = wire_reddit(settings, server, endpoint, ("news",))
        real_put_checkpoints = services.repository.put_checkpoints

        def crash(checkpoints: Any) -> None:
            raise SystemExit("Lambda killed after Firehose accepted the batch")

        try:
            services.repository.put_checkpoints = crash  # type: ignore[method-assign]
            with pytest.raises(SystemExit):
                ingest()
            first = delivered_ids()
            assert sorted(first) == [f"r{i:05d}" for i in range(4)]
            services.repository.put_checkpoints = real_put_checkpoints  # type: ignore[method-assign]
            server.add_comments([reddit_comment(i, "news") for i in range(4, 6)])
            assert ingest()["delivered"] == 6  # the lost batch again, plus what is new
            assert ingest()["delivered"] == 0  # the checkpoint now holds
            deliveries = delivered_ids()
            assert len(deliveries) == 4 + 6  # resent: at most the batch whose checkpoint was lost
            classify_new(set())
        finally:
            app_module.set_services(None)
    assert set(stored()) == {f"r{i:05d}" for i in range(6)}  # stored exactly once
    assert services.repository.stats() == {"hate": 0, "nothate": 6}


# -- time budget, through the handlers' Lambda context ----------------------------------------------


def test_classify_stops_taking_batches_when_time_runs_low(wired: Services, endpoint: FakeEndpoint) -> None:
    wired.processor.batch_size = 2
    wired.processor.concurrency = 1
    put("raw/slow.json", lines(*(good(i) for i in range(6)), b"{bad"))

    class RunningLow(FakeContext):
        """Plenty of time until the first endpoint call has been made."""

        def get_remaining_time_in_millis(self) -> int:
            self.asked += 1
            return 300_000 if not endpoint.calls else 10_000

    context = RunningLow()
    with pytest.raises(TimeBudgetExhausted):
        classify(s3_event(BUCKET, "raw/slow.json"), context)  # the handler reads the real context
    assert context.asked >= 2 and len(endpoint.calls) == 1
    # State is consistent: what is stored is counted, rejects are quarantined, the lease is free.
    assert set(stored()) == ids(0, 1) and wired.repository.stats()["nothate"] == 2
    assert len(quarantine_lines("raw/slow.json") or []) == 1
    assert wired.repository.acquire_lease(f"s3://{BUCKET}/raw/slow.json", "probe", 1)
    wired.repository.release_lease(f"s3://{BUCKET}/raw/slow.json", "probe")
    # Lambda's retry finishes the object.
    result = classify(s3_event(BUCKET, "raw/slow.json"))
    assert (result["stored"], result["already_stored"], result["quarantined"]) == (4, 2, 1)
    assert wired.repository.stats()["nothate"] == 6


def test_ingest_takes_no_subreddit_when_time_is_short(settings: Any, endpoint: FakeEndpoint,
                                                      reddit_sleeps: list[float]) -> None:
    with FakeRedditServer([reddit_comment(i, "news") for i in range(3)]) as server:
        services = wire_reddit(settings, server, endpoint, ("news", "other"))
        try:
            assert ingest(FakeContext(5_000)) == {"delivered": 0, "subreddits": 0}
            assert listing_requests(server, "news") == 0
            assert services.repository.get_checkpoint("news") is None
            assert ingest(FakeContext(300_000))["delivered"] == 3  # the next run catches up
        finally:
            app_module.set_services(None)


# -- the same event twice, and two deliveries at once --------------------------------------------------


class Serialized:
    """DynamoDB applies each conditional write atomically; moto in-process does not lock: emulate that."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(**kwargs: Any) -> Any:
            with self._lock:
                return method(**kwargs)
        return call


def test_two_deliveries_at_once_store_once_and_the_second_calls_no_endpoint(services: Services) -> None:
    put("raw/twice.json", ndjson([comment_doc(i) for i in range(5)]))
    dynamodb = Serialized(services.clients.dynamodb)
    endpoint = FakeEndpoint()
    start = threading.Barrier(2, timeout=10)
    loser_done = threading.Event()
    # The winner holds the object (inside its endpoint call) until the loser has finished.
    def hold() -> None:
        loser_done.wait(timeout=10)

    endpoint.on_call = hold

    def processor() -> ObjectProcessor:
        repo = CommentRepository(dynamodb, TABLE, NO_WAIT)  # type: ignore[arg-type]
        return dataclasses.replace(services.processor, repository=repo,
                                   classifier=EndpointClassifier(endpoint, "ep", "m", NO_WAIT))  # type: ignore[arg-type]

    outcomes: dict[str, Any] = {}

    def deliver(name: str, p: ObjectProcessor) -> None:
        start.wait()
        try:
            outcomes[name] = p.process(BUCKET, "raw/twice.json", Unlimited())
        except ObjectBusy as exc:
            outcomes[name] = exc
            loser_done.set()

    threads = [threading.Thread(target=deliver, args=(n, processor())) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert loser_done.is_set()
    busy = [v for v in outcomes.values() if isinstance(v, ObjectBusy)]
    done = [v for v in outcomes.values() if not isinstance(v, ObjectBusy)]
    assert len(busy) == 1 and len(done) == 1 and done[0].stored == 5
    assert len(endpoint.calls) == 1  # the loser made no endpoint call
    # Lambda retries the loser's event later: nothing left to do, still no endpoint call.
    again = processor().process(BUCKET, "raw/twice.json", Unlimited())
    assert (again.stored, again.already_stored) == (0, 5) and len(endpoint.calls) == 1
    assert set(stored()) == ids(*range(5)) and services.repository.stats()["nothate"] == 5


def test_same_event_delivered_twice_through_the_handler(wired: Services, endpoint: FakeEndpoint) -> None:
    put("raw/dup.json", lines(good(1), good(2), b"{bad"))
    event = s3_event(BUCKET, "raw/dup.json")
    first, second = classify(event), classify(event)
    assert (first["stored"], second.get("stored", 0), second["already_stored"]) == (2, 0, 2)
    assert len(endpoint.calls) == 1
    assert len(quarantine_lines("raw/dup.json") or []) == 1  # overwritten, not appended
    assert wired.repository.stats()["nothate"] == 2


def test_a_holder_killed_by_the_lambda_timeout_does_not_block_lambdas_retries(services: Services) -> None:
    put("raw/killed.json", ndjson([comment_doc(i) for i in range(3)]))
    now = [1_800_000_000.0]
    repo = CommentRepository(services.clients.dynamodb, TABLE, NO_WAIT, clock=lambda: now[0])
    endpoint = FakeEndpoint()

    def killed() -> None:
        raise SystemExit("Lambda timeout: the process is frozen, no finally block runs")

    endpoint.on_call = killed
    holder = dataclasses.replace(services.processor, repository=repo,
                                 classifier=EndpointClassifier(endpoint, "ep", "m", NO_WAIT))  # type: ignore[arg-type]
    repo.release_lease = lambda *_: None  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        holder.process(BUCKET, "raw/killed.json", FakeDeadline(300_000))  # a 5 minute function
    # Lambda's retries arrive 1 and 3 minutes after the timeout.
    retry = dataclasses.replace(holder, owner="other-container",
                                repository=CommentRepository(services.clients.dynamodb, TABLE, NO_WAIT,
                                                             clock=lambda: now[0]))
    endpoint.on_call = None
    now[0] += 300 + 60
    report = retry.process(BUCKET, "raw/killed.json", FakeDeadline(300_000))
    assert report.stored == 3 and set(stored()) == ids(0, 1, 2)
    assert LEASE_SECONDS > 300 + 60 + 120  # what the old fixed lease would have blocked


class FakeDeadline:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def remaining_ms(self) -> int:
        return self.ms


# -- replaying quarantined records ------------------------------------------------------------------


def test_quarantined_lines_can_be_fixed_and_replayed(wired: Services, tmp_path: Any,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    key = "raw/2026/11/25/broken part.json"
    broken = b'{"id": "fx1", "body": "fixed later", "subreddit": "news", "created_utc": 1790000000'
    put(key, lines(good(1), broken, b'{"id": "z\xff"}', good(2, body="[removed]")))
    assert classify(s3_event(BUCKET, key))["quarantined"] == 3
    source = f"s3://{BUCKET}/quarantine/{key}.rejected.jsonl"
    s3 = boto3.client("s3")

    edit = tmp_path / "fix.jsonl"
    assert replay_quarantine.main(["export", source, str(edit), "--reason", "malformed"], s3) == 0
    assert edit.read_bytes() == broken + b"\n"  # only the selected line, byte for byte
    edit.write_bytes(broken + b"}\n" + b'{"id": "still", "body": "[deleted]"}\n')  # one fixed, one hopeless

    assert replay_quarantine.main(["submit", str(edit), "--bucket", BUCKET, "--dry-run"], s3) == 0
    assert len(s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/replay/").get("Contents", [])) == 0
    assert replay_quarantine.main(["submit", str(edit), "--bucket", BUCKET], s3) == 0
    out = capsys.readouterr().out
    assert "still rejected, not submitted: record 2: body deleted or removed on Reddit" in out
    (replayed,) = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/replay/")["Contents"]]
    # The normal S3 handler picks it up like any Firehose object.
    result = classify(s3_event(BUCKET, replayed))
    assert (result["lines_in"], result["stored"]) == (1, 1)
    assert set(stored()) == ids(1) | {"fx1"}

    # Invalid UTF-8 comes back as the original bytes; nothing valid means exit code 1.
    raw = tmp_path / "raw.jsonl"
    assert replay_quarantine.main(["export", source, str(raw), "--records", "3"], s3) == 0
    assert raw.read_bytes() == b'{"id": "z\xff"}\n'
    assert replay_quarantine.main(["submit", str(raw), "--bucket", BUCKET], s3) == 1
