"""The benchmark's own instruments: the call counter, the original-loop stand-in, the cost model."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bench.cost import Workload, estimate, item_write_units
from bench.counter import CallCounter
from bench.query_latency import item_size, read_units
from bench.seed_pipeline import seed_classify, seed_ingest
from bench.stack import firehose_object, s3_event, synthetic_comments
from chalicelib import config
from tests.conftest import REGION


def test_counter_counts_every_call_per_operation(aws: None) -> None:
    counter = CallCounter()
    session = counter.session(region_name=REGION)
    s3 = session.client("s3")
    s3.create_bucket(Bucket="bench-bucket")
    for i in range(3):
        s3.put_object(Bucket="bench-bucket", Key=f"k{i}", Body=b"x")
    s3.get_object(Bucket="bench-bucket", Key="k0")
    with counter.phase("reads"), pytest.raises(ClientError):
        s3.get_object(Bucket="bench-bucket", Key="missing")  # a failed call is still a request
    sm = session.client("secretsmanager")
    sm.create_secret(Name="s", SecretString="v")
    sm.get_secret_value(SecretId="s")

    assert counter.calls == {"s3.CreateBucket": 1, "s3.PutObject": 3, "s3.GetObject": 2,
                             "secretsmanager.CreateSecret": 1, "secretsmanager.GetSecretValue": 1}
    assert counter.total() == 8
    assert counter.phases["reads"] == {"s3.GetObject": 1}
    assert set(counter.seconds) >= {"s3.PutObject", "s3.GetObject"}


def test_counter_attaches_to_one_client_only(aws: None) -> None:
    counter = CallCounter()
    counted = counter.attach(boto3.client("s3", region_name=REGION))
    other = boto3.client("s3", region_name=REGION)
    counted.create_bucket(Bucket="bench-bucket")
    other.list_buckets()
    counted.list_buckets()
    assert counter.calls == {"s3.CreateBucket": 1, "s3.ListBuckets": 1}


def test_counter_tallies_what_dynamodb_bills_per_item(settings: config.Settings) -> None:
    from chalicelib.models import Comment, LabeledComment, Prediction  # noqa: PLC0415
    from chalicelib.repository import CommentRepository  # noqa: PLC0415

    counter = CallCounter()
    repo = CommentRepository(counter.session(region_name=REGION).client("dynamodb"), settings.table)
    labeled = [LabeledComment(Comment(id=f"u{i}", fullname=f"t1_u{i}", subreddit=sub, author="a", body="b",
                                      created_utc=1_790_000_000.0 + i, permalink="/p", link_id="t3_x",
                                      parent_id="t3_x", ingested_at=0.0),
                              Prediction("nothate", 0.9, "m"), 0.0)
               for i, sub in enumerate(["one", "two", "two"])]
    # Counters in one transaction: overall, one per subreddit, and the hour's "all" hate-rate series.
    repo.add_counts(labeled)
    repo.existing_ids(["u0", "u1", "missing"])  # strongly consistent: every key is a billed read
    repo.counters(["stats#all"])  # eventually consistent

    assert counter.calls["dynamodb.TransactWriteItems"] == 1
    assert counter.units == {"transact_write_actions": 4, "consistent_read_keys": 3, "eventual_read_keys": 1}


class RecordingRuntime:
    """Stands in for sagemaker-runtime: answers one prediction per request and keeps the payloads."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        self.bodies.append(json.loads(kwargs["Body"]))
        return {"Body": io.BytesIO(b'[{"label": "nothate", "score": 0.75}]')}


def test_seed_loop_makes_one_endpoint_call_and_one_put_item_per_comment(settings: config.Settings) -> None:
    docs = synthetic_comments(3, prefix="s")
    counter = CallCounter()
    session = counter.session(region_name=REGION)
    s3, ddb = session.client("s3"), session.client("dynamodb")
    boto3.client("s3", region_name=REGION).put_object(Bucket=settings.bucket, Key="raw/a", Body=firehose_object(docs))
    boto3.client("s3", region_name=REGION).put_object(Bucket=settings.bucket, Key="raw/b", Body=b"{}\n")
    runtime = RecordingRuntime()

    # Two records in one event: the original only ever looked at the first.
    report = seed_classify(s3_event(settings.bucket, "raw/a", "raw/b"), s3, runtime, ddb,
                           endpoint="e", table=settings.table)

    assert report.stored == 3
    assert [b["inputs"] for b in runtime.bodies] == [d["body"] for d in docs]  # one text per call
    assert counter.calls == {"s3.GetObject": 1, "dynamodb.PutItem": 3}
    stored = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=settings.table, Key={"comment_id": {"S": docs[1]["id"]}})["Item"]
    assert stored["label"] == {"S": "nothate"}


class FakeListing:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def subreddit(self, name: str) -> FakeListing:
        return FakeListing([d for d in self.docs if d["subreddit"] == name])

    def comments(self, limit: int) -> list[Any]:
        return [type("C", (), d)() for d in self.docs[:limit]]


def test_seed_ingestion_puts_one_record_per_comment(settings: config.Settings) -> None:
    docs = synthetic_comments(6, prefix="g", subreddits=("one", "two"))
    counter = CallCounter()
    firehose = counter.session(region_name=REGION).client("firehose")
    report = seed_ingest(FakeListing(docs), firehose, settings.stream, ("one", "two"))
    assert report.ingested == 6
    assert counter.calls == {"firehose.PutRecord": 6}


def test_cost_model_charges_every_index_write_and_rounds_firehose_records() -> None:
    def workload(units: float) -> Workload:
        return Workload(calls={"sagemaker-runtime.InvokeEndpoint": 1000}, lambda_cpu_s=0.0, lambda_invocations=0,
                        item_write_units=[units], firehose_record_bytes=[300], endpoint_bytes_in=0,
                        endpoint_bytes_out=0)

    plain = estimate(workload(1))
    indexed = estimate(workload(4))
    assert plain["write_units"] == 1_000_000
    assert indexed["write_units"] == 4_000_000
    # Provisioned at 70 % utilisation: 1M units = 277.8 unit-hours / 0.7 at $0.00065.
    assert plain["dynamodb_provisioned_usd"] == pytest.approx(1e6 / 3600 * 0.00065 / 0.7, rel=1e-3)
    # 1M records of 300 bytes are billed as 1M x 5 KB.
    assert plain["by_service_usd"]["firehose"] == pytest.approx(1_000_000 * 5120 / 1024**3 * 0.029, rel=1e-3)


def test_cost_model_doubles_transaction_writes_and_charges_reads_by_consistency() -> None:
    def workload(**units: int) -> Workload:
        return Workload(calls={}, lambda_cpu_s=0.0, lambda_invocations=0, item_write_units=[1],
                        firehose_record_bytes=[300], endpoint_bytes_in=0, endpoint_bytes_out=0, **units)

    base = estimate(workload())
    # Per 1,000 comments: 10 counter actions in transactions = 2 units each, per million x1000.
    assert estimate(workload(transact_write_actions=10))["write_units"] == base["write_units"] + 20_000
    assert estimate(workload(bookkeeping_writes=10))["write_units"] == base["write_units"] + 10_000
    reads = estimate(workload(consistent_read_keys=1000, eventual_read_keys=1000))["read_units"]
    assert reads == 1_000_000 + 500_000


def test_item_write_units_follow_the_indexes_an_item_is_in() -> None:
    from chalicelib.models import Comment, LabeledComment, Prediction  # noqa: PLC0415
    from chalicelib.repository import _to_ddb, to_item  # noqa: PLC0415

    def units(label: str, body: str) -> int:
        c = Comment("abc", "t1_abc", "sub", "me", body, 1.0, "/r/sub/comments/x/_/abc/", "t3_x", "t3_x")
        item = to_item(LabeledComment(c, Prediction(label, 0.9, "m"), 2.0), 30)
        return item_write_units(item, lambda i: item_size(_to_ddb(dict(i))) / 1024)

    assert units("nothate", "short") == 3  # table, feed, subreddit
    assert units("hate", "short") == 5  # + hate index + review queue
    assert units("nothate", "x" * 1500) == 6  # every copy is over 1 KB: 2 units each


def test_dynamodb_item_size_and_read_units() -> None:
    assert item_size({"id": {"S": "abc"}, "n": {"N": "12345"}}) == 2 + 3 + 1 + 1 + 3
    assert read_units(100) == 0.5
    assert read_units(4096 * 3 + 1) == 2.0
