"""The classifier's writes run beside its endpoint requests, and in parallel chunks,
without losing exact counts (chalicelib.pipeline.ObjectProcessor)."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import boto3
import pytest

from chalicelib.errors import StorageError
from chalicelib.factory import Services
from chalicelib.pipeline import MIN_REQUEST_TEXTS, ObjectProcessor
from chalicelib.retry import Unlimited
from tests.conftest import FakeEndpoint, comment_doc, ndjson

WAIT_S = 10  # a test that would hang fails after this instead


def put(key: str, n: int) -> None:
    boto3.client("s3").put_object(Bucket="test-bucket", Key=key, Body=ndjson([comment_doc(i) for i in range(n)]))


def table_ids() -> set[str]:
    items = boto3.client("dynamodb").scan(TableName="test-table")["Items"]
    return {i["comment_id"]["S"] for i in items if "kind" in i}


def processor(services: Services, **changes: Any) -> ObjectProcessor:
    return dataclasses.replace(services.processor, **changes)


@dataclasses.dataclass(frozen=True)
class Text:
    body: str


def texts(n: int) -> Any:
    return [(i, Text(f"comment {i}")) for i in range(n)]


@pytest.mark.parametrize("n", [40, 200, 1000, 5000])
def test_windows_keep_every_comment_in_order_and_end_small(services: Services, n: int) -> None:
    p = processor(services, concurrency=4, batch_size=256)
    windows = p.windows(texts(n))
    assert [i for w in windows for b in w for i, _ in b] == list(range(n))
    sizes = [sum(map(len, w)) for w in windows]
    assert all(len(w) <= 4 for w in windows)
    if n >= 1000:
        # What is written after the endpoint's last answer is at most a quarter of the object.
        assert sizes[-1] <= n / 4 and sizes[-1] < sizes[0]
    assert all(len(b) >= MIN_REQUEST_TEXTS for w in windows for b in w) or n < 4 * 2 * MIN_REQUEST_TEXTS


def test_one_windows_chunks_are_written_at_the_same_time(services: Services, monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    put("raw/p1", 200)
    real = services.repository.put_labeled
    # The first two BatchWriteItem chunks must be in flight together: one after the
    # other, the first would wait here alone until the barrier breaks.
    together = threading.Barrier(2, timeout=WAIT_S)
    calls: list[int] = []
    lock = threading.Lock()

    def put_labeled(items: Any, retention_days: int) -> None:
        with lock:
            calls.append(len(items))
            first_two = len(calls) <= 2
        if first_two:
            together.wait()
        real(items, retention_days)

    monkeypatch.setattr(services.repository, "put_labeled", put_labeled)
    report = processor(services, concurrency=4).process("test-bucket", "raw/p1", Unlimited())
    assert report.stored == 200 and len(table_ids()) == 200
    assert services.repository.stats() == {"hate": 0, "nothate": 200}
    assert sum(calls) == 200 and max(calls) <= 25


def test_the_endpoint_is_not_kept_waiting_for_dynamodb(services: Services, endpoint: FakeEndpoint,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    put("raw/p2", 400)
    p = processor(services, concurrency=4, batch_size=32)  # 13 requests of <= 32 texts, in 4 windows
    requests = sum(len(w) for w in p.windows(texts(400)))
    assert requests == 13
    every_request_sent = threading.Event()

    def seen() -> None:
        if len(endpoint.calls) == requests:
            every_request_sent.set()

    endpoint.on_call = seen
    real = services.repository.put_labeled

    def slow_table(items: Any, retention_days: int) -> None:
        # DynamoDB holds the first window's writes until the last window's request is sent:
        # a loop that waited for its writes before the next window would never get there.
        if not every_request_sent.wait(timeout=WAIT_S):
            raise StorageError("the endpoint waited for DynamoDB")
        real(items, retention_days)

    monkeypatch.setattr(services.repository, "put_labeled", slow_table)
    report = p.process("test-bucket", "raw/p2", Unlimited())
    assert report.stored == 400 and report.endpoint_calls == 13
    assert services.repository.stats() == {"hate": 0, "nothate": 400}


def test_a_failed_chunk_stops_the_chunks_not_started_and_the_retry_stores_them(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    put("raw/p3", 100)
    p = processor(services, concurrency=1, batch_size=100)  # 2 windows of 50 texts: 2 chunks each
    real = services.repository.put_labeled
    calls: list[int] = []

    def refusing(items: Any, retention_days: int) -> None:
        calls.append(len(items))
        raise StorageError("throughput exceeded after retries")

    monkeypatch.setattr(services.repository, "put_labeled", refusing)
    with pytest.raises(StorageError):
        p.process("test-bucket", "raw/p3", Unlimited())
    # The second chunk of the window was never sent, and nothing was counted.
    assert calls == [25] and table_ids() == set() and services.repository.stats() == {"hate": 0, "nothate": 0}
    monkeypatch.setattr(services.repository, "put_labeled", real)
    report = p.process("test-bucket", "raw/p3", Unlimited())
    assert report.stored == 100 and services.repository.stats() == {"hate": 0, "nothate": 100}


def test_counts_are_exact_when_one_of_parallel_chunks_fails(services: Services, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    put("raw/p4", 300)
    real = services.repository.put_labeled
    lock = threading.Lock()
    calls: list[int] = []

    def third_refused(items: Any, retention_days: int) -> None:
        with lock:
            calls.append(len(items))
            number = len(calls)
        if number == 3:
            raise StorageError("throughput exceeded after retries")
        real(items, retention_days)

    monkeypatch.setattr(services.repository, "put_labeled", third_refused)
    with pytest.raises(StorageError):
        processor(services, concurrency=4).process("test-bucket", "raw/p4", Unlimited())
    stored = len(table_ids())
    assert 0 < stored < 300 and services.repository.stats() == {"hate": 0, "nothate": stored}
    monkeypatch.setattr(services.repository, "put_labeled", real)
    report = processor(services, concurrency=4).process("test-bucket", "raw/p4", Unlimited())
    assert (report.stored, report.already_stored) == (300 - stored, stored)
    assert services.repository.stats() == {"hate": 0, "nothate": 300}
