"""Helpers shared by the Issue 8 hardening tests (tests/test_hardening_*.py).

Issue 8: nothing is lost under bad input and faults. Every case runs the real
handlers (``app.handler_map``) or the real adapters, with moto for AWS, botocore
Stubber or small fakes for injected faults, real PRAW against
devtools.fake_reddit for the Reddit side. Cases already covered elsewhere are
listed in the hardening report, not repeated in these modules. The fixtures these modules
share (``wired``, ``reddit_sleeps``) are in tests/conftest.py.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import pytest

import app as app_module
from chalicelib.clients import AwsClients
from chalicelib.factory import Services
from chalicelib.retry import Backoff
from devtools.fake_reddit import FakeRedditServer
from tests.conftest import FakeEndpoint, comment_doc, s3_event

BUCKET = "test-bucket"
TABLE = "test-table"


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


# -- the Reddit side: real PRAW against the fake server --------------------------------------


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
