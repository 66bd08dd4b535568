"""Real PRAW against the fake Reddit server: ingest -> Firehose -> S3 -> classify -> DynamoDB."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import Iterator
from typing import Any, cast

import boto3
import prawcore
import pytest
from chalice.test import Client

import app as app_module
from chalicelib.clients import AwsClients
from chalicelib.factory import Services
from chalicelib.reddit_source import RedditSource
from chalicelib.retry import NO_WAIT
from devtools.fake_reddit import FakeRedditServer, load_replay_dir, load_sample
from tests.conftest import REDDIT_SECRET_VALUE, FakeEndpoint, s3_event, shared_data


@pytest.fixture(autouse=True)
def no_prawcore_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    # prawcore sleeps 0-6 s between its own 5xx retries.
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda self: None)


def make_client(settings: Any, server: FakeRedditServer, endpoint: FakeEndpoint, **changes: Any) -> Client:
    settings = dataclasses.replace(settings, reddit_urls=dict(server.praw_kwargs()), **changes)
    services = Services(settings, AwsClients(overrides={"sagemaker-runtime": endpoint}), NO_WAIT)
    services.processor.reserve_ms = 0
    services.ingestor.reserve_ms = 0
    cast(RedditSource, services.ingestor.source).reserve_ms = 0  # chalice.test's context has 3 s in all
    app_module.set_services(services)
    return Client(app_module.app)


def run_cycle(client: Client, processed: set[str]) -> tuple[dict[str, Any], list[dict[str, int]]]:
    """Fire the schedule, then deliver every new Firehose object to the S3 handler."""
    ingest = client.lambda_.invoke("ingest", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])).payload
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="test-bucket", Prefix="raw/").get("Contents", [])]
    new = [k for k in keys if k not in processed]
    processed.update(new)
    results = [client.lambda_.invoke("classify", s3_event("test-bucket", k)).payload for k in new]
    return ingest, results


def stored_ids() -> list[str]:
    paginator = boto3.client("dynamodb").get_paginator("scan")
    return [i["comment_id"]["S"] for page in paginator.paginate(TableName="test-table")
            for i in page["Items"] if "kind" in i]


@pytest.fixture
def cassettes() -> Iterator[Any]:
    folder = shared_data() / "reddit-cassettes"
    if not folder.is_dir():
        pytest.skip(f"recorded Reddit data not found at {folder} (CI-only data, absent from a user's clone)")
    yield load_replay_dir(folder)


def test_every_recorded_comment_is_stored_exactly_once_across_two_runs(
        settings: Any, endpoint: FakeEndpoint, cassettes: Any) -> None:
    # Reddit ids grow with time: order as Reddit (and the fake server) does, so
    # the "late" half really is newer, ties in created_utc included.
    comments = sorted(cassettes.comments, key=lambda c: (c["created_utc"], int(c["id"], 36)))
    early, late = comments[:500], comments[500:]
    with FakeRedditServer(early) as server:
        client = make_client(settings, server, endpoint)
        processed: set[str] = set()
        first, _ = run_cycle(client, processed)
        assert first["delivered"] == len(early)
        server.add_comments(late)
        second, _ = run_cycle(client, processed)
        assert second["delivered"] == len(late)  # the checkpoint stopped the listing
        third, _ = run_cycle(client, processed)
        assert third["delivered"] == 0
    ids = stored_ids()
    assert len(ids) == len(set(ids)) == len({c["id"] for c in comments}) == 634


def test_sample_run_with_configured_subreddits_and_a_private_one(
        settings: Any, endpoint: FakeEndpoint, caplog: pytest.LogCaptureFixture) -> None:
    sample = load_sample().comments
    with FakeRedditServer(sample) as server:
        server.set_fault("samplegaming", 403, times=None)
        client = make_client(settings, server, endpoint,
                             subreddits=("samplecity", "samplegaming", "doesnotexist", "sampleaskers"))
        with caplog.at_level(logging.INFO):
            ingest, results = run_cycle(client, set())
    expected = {c["id"] for c in sample if c["subreddit"].lower() in {"samplecity", "sampleaskers"}}
    assert ingest["delivered"] == len(expected) and ingest["subreddits"] == 4
    assert set(stored_ids()) == expected
    assert sum(r["stored"] for r in results) == len(expected)
    skipped = [r.__dict__ for r in caplog.records if r.getMessage() == "subreddit skipped this run"]
    assert {s["subreddit"] for s in skipped} == {"samplegaming", "doesnotexist"}


def test_credentials_never_reach_the_logs(settings: Any, endpoint: FakeEndpoint,
                                          caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    with FakeRedditServer(load_sample().comments) as server:
        client = make_client(settings, server, endpoint)
        with caplog.at_level(logging.DEBUG):
            run_cycle(client, set())
    out = capsys.readouterr()
    text = out.out + out.err + caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    basic = base64.b64encode(
        f"{REDDIT_SECRET_VALUE['client_id']}:{REDDIT_SECRET_VALUE['client_secret']}".encode()).decode()
    for secret in (REDDIT_SECRET_VALUE["client_id"], REDDIT_SECRET_VALUE["client_secret"], basic):
        assert secret not in text
    assert len(caplog.records) > 20  # DEBUG really was captured


def test_an_unexpected_reddit_answer_skips_only_that_subreddit(settings: Any, endpoint: FakeEndpoint) -> None:
    sample = load_sample().comments
    with FakeRedditServer(sample) as server:
        # An HTML outage page with status 200: prawcore raises BadJSON.
        server.set_fault("samplecity", 200, times=None, body="<html>we'll be right back</html>")
        client = make_client(settings, server, endpoint, subreddits=("samplecity", "sampleaskers"))
        ingest, _ = run_cycle(client, set())
    expected = {c["id"] for c in sample if c["subreddit"].lower() == "sampleaskers"}
    assert ingest["delivered"] == len(expected) and set(stored_ids()) == expected
