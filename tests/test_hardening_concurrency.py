"""Issue 8: nothing is lost under bad input and faults -- time budget and concurrent deliveries.

The time budget read through the handlers' Lambda context, the same event delivered
twice, two deliveries of one object at once, and a lease holder killed by the
Lambda timeout. Helpers: tests/hardening_support.py.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

import app as app_module
from chalicelib.classifier import EndpointClassifier
from chalicelib.errors import ObjectBusy, TimeBudgetExhausted
from chalicelib.factory import Services
from chalicelib.pipeline import ObjectProcessor
from chalicelib.repository import CommentRepository
from chalicelib.retry import LEASE_SECONDS, NO_WAIT, Unlimited
from devtools.fake_reddit import FakeRedditServer
from tests.conftest import FakeEndpoint, comment_doc, ndjson, s3_event
from tests.hardening_support import (
    BUCKET,
    TABLE,
    FakeContext,
    classify,
    good,
    ids,
    ingest,
    lines,
    listing_requests,
    put,
    quarantine_lines,
    reddit_comment,
    stored,
    wire_reddit,
)

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
