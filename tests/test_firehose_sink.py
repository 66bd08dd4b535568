"""PutRecordBatch batching and partial-failure retries."""

from __future__ import annotations

import gzip
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.errors import DeliveryError
from chalicelib.firehose_sink import MAX_BATCH_BYTES, MAX_RECORDS, FirehoseSink, batches, encode
from chalicelib.models import Comment
from chalicelib.records import decode
from chalicelib.retry import NO_WAIT


def comment(i: int, body: str = "hello") -> Comment:
    return Comment(f"f{i}", f"t1_f{i}", "sub", None, body, 1.0 + i, "/p", "t3_x", "t3_x")


def test_batches_respect_count_and_byte_limits() -> None:
    small = [encode(comment(i)) for i in range(1201)]
    assert [len(b) for b in batches(small)] == [MAX_RECORDS, MAX_RECORDS, 201]
    big = [encode(comment(i, "x" * 900_000)) for i in range(10)]
    sizes = [sum(map(len, b)) for b in batches(big)]
    assert all(s <= MAX_BATCH_BYTES for s in sizes) and sum(len(b) for b in batches(big)) == 10


def test_each_record_is_one_json_line() -> None:
    data = b"".join(encode(comment(i, "line\nbreak")) for i in range(3))
    assert [c.body for _, c in decode(data).comments] == ["line\nbreak"] * 3


def test_records_over_the_record_limit_are_truncated_and_marked() -> None:
    record = encode(comment(1, "é" * 2_000_000))
    assert len(record) <= 1000 * 1024 and b'"truncated":true' in record


def test_delivery_reaches_s3_through_moto(settings: Any) -> None:
    sink = FirehoseSink(boto3.client("firehose"), "test-stream", NO_WAIT)
    assert sink.send([comment(i) for i in range(3)]) == 3
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="test-bucket")["Contents"]]
    data = b"".join(s3.get_object(Bucket="test-bucket", Key=k)["Body"].read() for k in keys)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    assert sorted(c.id for _, c in decode(data).comments) == ["f0", "f1", "f2"]


def _response(codes: list[str | None]) -> dict[str, Any]:
    return {"FailedPutCount": sum(1 for c in codes if c),
            "Encrypted": False,
            "RequestResponses": [{"ErrorCode": c, "ErrorMessage": "slow down"} if c else {"RecordId": "r"}
                                 for c in codes]}


def test_only_failed_entries_are_resent() -> None:
    client = boto3.client("firehose", region_name="us-east-1")
    records = [encode(comment(i)) for i in range(3)]
    with Stubber(client) as stub:
        stub.add_response("put_record_batch", _response([None, "ServiceUnavailableException", None]),
                          {"DeliveryStreamName": "s", "Records": [{"Data": r} for r in records]})
        stub.add_response("put_record_batch", _response([None]),
                          {"DeliveryStreamName": "s", "Records": [{"Data": records[1]}]})
        assert FirehoseSink(client, "s", NO_WAIT).send([comment(i) for i in range(3)]) == 3
        stub.assert_no_pending_responses()


def test_persistent_failure_raises() -> None:
    client = boto3.client("firehose", region_name="us-east-1")
    with Stubber(client) as stub:
        for _ in range(NO_WAIT.attempts):
            stub.add_response("put_record_batch", _response(["InternalFailure"]),
                              {"DeliveryStreamName": "s", "Records": ANY})
        with pytest.raises(DeliveryError, match="1 records not delivered"):
            FirehoseSink(client, "s", NO_WAIT).send([comment(1)])


def test_service_unavailable_is_retried() -> None:
    client = boto3.client("firehose", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("put_record_batch", "ServiceUnavailableException", http_status_code=503)
        stub.add_response("put_record_batch", _response([None]), {"DeliveryStreamName": "s", "Records": ANY})
        assert FirehoseSink(client, "s", NO_WAIT).send([comment(1)]) == 1
