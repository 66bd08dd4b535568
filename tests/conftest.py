"""Shared fixtures: fake credentials, an emulated stack under moto, a fake endpoint, the app wired to it."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import prawcore
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib import config
from chalicelib.clients import AwsClients
from chalicelib.factory import Services
from chalicelib.retry import NO_WAIT
from provisioning.table import table_definition

REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    return Path(os.environ.get("SHARED_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; nothing can reach a real account."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "REDDIT_")) or name in {
            config.ENV_BUCKET, config.ENV_STREAM, config.ENV_TABLE, config.ENV_ENDPOINT, config.ENV_SUBREDDITS,
            config.ENV_API_AUTH, config.ENV_CORS_ORIGIN,
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


def create_table(name: str) -> None:
    """The table exactly as deploy_model.py creates it."""
    boto3.client("dynamodb", region_name=REGION).create_table(**table_definition(name))


REDDIT_SECRET_VALUE = {"client_id": "cid-SECRET-1234", "client_secret": "csecret-SECRET-5678",
                       "user_agent": "test:reddit-hate-watch:0.1 (by /u/tester)"}
CURSOR_KEY = "k" * 64


@pytest.fixture
def settings(aws: None) -> config.Settings:
    """A complete emulated stack: bucket, table, Firehose stream, secrets."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="test-bucket")
    create_table("test-table")
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="firehose", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("firehose", region_name=REGION).create_delivery_stream(
        DeliveryStreamName="test-stream",
        ExtendedS3DestinationConfiguration={"RoleARN": role, "BucketARN": "arn:aws:s3:::test-bucket",
                                            "Prefix": "raw/"},
    )
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="test/reddit", SecretString=json.dumps(REDDIT_SECRET_VALUE))
    sm.create_secret(Name="test/cursor", SecretString=CURSOR_KEY)
    return config.load({
        config.ENV_BUCKET: "test-bucket", config.ENV_STREAM: "test-stream", config.ENV_TABLE: "test-table",
        config.ENV_REDDIT_SECRET: "test/reddit", config.ENV_CURSOR_SECRET: "test/cursor",
        config.ENV_ENDPOINT: "test-endpoint", config.ENV_MODEL_ID: "test/model", config.ENV_SUBREDDITS: "all",
    })


def model_error(message: str, original_status: int = 400) -> ClientError:
    """What botocore raises for a container error (the real service answers HTTP 424)."""
    response: Any = {"Error": {"Code": "ModelError", "Message": message}, "OriginalStatusCode": original_status,
                     "ResponseMetadata": {"HTTPStatusCode": 424}}
    return ClientError(response, "InvokeEndpoint")


def client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "InvokeEndpoint")


class FakeEndpoint:
    """Stands in for the sagemaker-runtime client: a keyword rule labels texts.

    ``failures`` is a queue of exceptions raised by the next calls;
    ``reject`` makes any request containing that text fail with ModelError 4xx.
    """

    def __init__(self, model: str | None = None, nested: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.failures: list[Exception] = []
        self.reject: str | None = None
        self.model = model
        self.nested = nested
        self.on_call: Callable[[], None] | None = None

    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        texts = json.loads(kwargs["Body"])["inputs"]
        self.calls.append(texts)
        if self.on_call:
            self.on_call()
        if self.failures:
            raise self.failures.pop(0)
        if self.reject is not None and any(self.reject in t for t in texts):
            raise model_error("bad input in batch")
        out: list[Any] = []
        for text in texts:
            hate = "hateful" in text
            score = 0.9 if hate else 0.8
            best = {"label": "hate" if hate else "nothate", "score": score}
            other = {"label": "nothate" if hate else "hate", "score": round(1 - score, 2)}
            out.append([best, other] if self.nested else best)
        response: dict[str, Any] = {"Body": io.BytesIO(json.dumps(out).encode()), "ContentType": "application/json"}
        if self.model:
            response["CustomAttributes"] = f"model={self.model}"
        return response


@pytest.fixture
def endpoint() -> FakeEndpoint:
    return FakeEndpoint()


@pytest.fixture
def services(settings: config.Settings, endpoint: FakeEndpoint) -> Services:
    return Services(settings, AwsClients(overrides={"sagemaker-runtime": endpoint}), NO_WAIT)


@pytest.fixture
def wired(services: Services) -> Iterator[Services]:
    """The Chalice app wired to the emulated stack."""
    import app as app_module  # noqa: PLC0415 - the app only for the tests that use it

    app_module.set_services(services)
    yield services
    app_module.set_services(None)


@pytest.fixture
def client(wired: Services) -> Iterator[Any]:
    """chalice.test's Client over the app wired to the emulated stack."""
    from chalice.test import Client  # noqa: PLC0415

    import app as app_module  # noqa: PLC0415 - the app only for the tests that use it

    # chalice.test's fake Lambda context has 3 s in all: keep no reserve.
    wired.processor.reserve_ms = 0
    with Client(app_module.app) as c:
        yield c


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


def base36(n: int) -> str:
    """A Reddit-style id: ``n`` in base 36."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def comment_doc(i: int, subreddit: str = "testsub", body: str | None = None, created: float | None = None
                ) -> dict[str, Any]:
    cid = f"c{i:05d}"
    return {"id": cid, "fullname": f"t1_{cid}", "subreddit": subreddit, "author": f"user{i}",
            "body": body if body is not None else f"comment number {i}",
            "created_utc": created if created is not None else 1_790_000_000 + i,
            "permalink": f"/r/{subreddit}/comments/abc/_/{cid}/", "link_id": "t3_abc", "parent_id": "t3_abc",
            "ingested_at": 1_790_000_100.0}


def ndjson(docs: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in docs)


def s3_event(bucket: str, *keys: str) -> dict[str, Any]:
    return {"Records": [
        {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION, "eventName": "ObjectCreated:Put",
         "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                "object": {"key": quote_plus(key, safe="/"), "size": 1}}}
        for key in keys
    ]}
