"""Issue 8: nothing is lost under bad input and faults -- AWS service faults.

Faults moto cannot produce, injected with botocore Stubber or a before-send hook on
the real clients: SageMaker runtime throttling, cold starts, timeouts and model
errors; DynamoDB unprocessed items and throughput exceeded; Firehose partial
failures and outages, and a crash between delivery and checkpoint.
Helpers: tests/hardening_support.py.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

import app as app_module
from chalicelib.classifier import EndpointClassifier
from chalicelib.errors import ClassifierError, DeliveryError, StorageError
from chalicelib.factory import Services
from chalicelib.models import Checkpoint, Comment, LabeledComment, Prediction
from chalicelib.repository import CommentRepository
from chalicelib.retry import NO_WAIT, Backoff, Unlimited
from devtools.fake_reddit import FakeRedditServer
from tests.conftest import FakeEndpoint, comment_doc, ndjson
from tests.hardening_support import (
    BUCKET,
    TABLE,
    classify_new,
    ids,
    ingest,
    put,
    quarantine_lines,
    reddit_comment,
    stored,
    wire_reddit,
)

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
