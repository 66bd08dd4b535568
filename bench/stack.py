"""The offline stack the benchmarks run against, and the helpers that feed it.

Same backends as ``make run`` (devtools/backends.py): a moto server for AWS, the
local model server for the SageMaker runtime, deploy_model.py --stage local to
provision, and an in-process fake Reddit. Everything binds 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3

from bench.model_speed import synthetic_texts
from chalicelib.firehose_sink import encode
from chalicelib.models import Comment
from devtools.backends import REGION, Processes, provision, start_backends

REPO = Path(__file__).resolve().parents[1]
LOG_DIR = REPO / ".local" / "bench-logs"
SUBREDDITS = ("benchnews", "benchgames", "benchscience", "benchcooking")


@dataclass(frozen=True)
class Stack:
    """Addresses and names of a running offline stack."""

    aws_env: dict[str, str]
    stage_env: dict[str, str]

    @property
    def bucket(self) -> str:
        return self.stage_env["BUCKET_NAME"]

    @property
    def raw_prefix(self) -> str:
        return self.stage_env.get("RAW_PREFIX", "raw/")

    @property
    def table(self) -> str:
        return self.stage_env["TABLE_NAME"]

    @property
    def stream(self) -> str:
        return self.stage_env["STREAM_NAME"]

    @property
    def endpoint(self) -> str:
        return self.stage_env["ENDPOINT_NAME"]

    def client(self, service: str) -> Any:
        """An uncounted client for the benchmark's own bookkeeping (never the code under test)."""
        return boto3.session.Session(region_name=REGION).client(service)  # type: ignore[call-overload]


@contextmanager
def offline_stack() -> Iterator[Stack]:
    """Start moto + the model server, provision with deploy_model.py, export the Lambda environment.

    Like the runner, the handlers then run in this process with the stage's
    environment variables; the children are stopped on exit.
    """
    from devtools.hatemodel import load  # noqa: PLC0415

    procs = Processes(LOG_DIR)
    saved = dict(os.environ)
    try:
        aws, env = start_backends(procs)
        stage_env = provision(env, load().model_id)
        for name in list(os.environ):
            if name.startswith("AWS_"):
                del os.environ[name]
        # The handlers' structured logs would drown the tables; warnings still show.
        os.environ.update({**aws, **stage_env, "POWERTOOLS_LOG_LEVEL": "WARNING",
                           "POWERTOOLS_METRICS_DISABLED": "true"})
        yield Stack(aws, stage_env)
    finally:
        procs.stop()
        os.environ.clear()
        os.environ.update(saved)


def synthetic_comments(n: int, prefix: str, subreddits: Sequence[str] = SUBREDDITS, seed: int = 7,
                       newest: float | None = None) -> list[dict[str, Any]]:
    """Reddit-like comment dicts, newest first, spread evenly over ``subreddits``; bodies are neutral filler."""
    rng = random.Random(seed)
    texts = synthetic_texts(n, seed=seed)
    newest = time.time() - 60 if newest is None else newest
    out = []
    for i, text in enumerate(texts):
        cid = f"{prefix}{i:06d}"
        sub = subreddits[i % len(subreddits)]
        link = f"t3_{prefix}{i // 40:04d}"
        out.append({
            "id": cid, "name": f"t1_{cid}", "subreddit": sub, "author": f"bench_user_{rng.randrange(500)}",
            "body": text, "created_utc": round(newest - i * 0.5, 1), "link_id": link, "parent_id": link,
            "permalink": f"/r/{sub}/comments/{link[3:]}/_/{cid}/", "score": 1,
        })
    return out


def firehose_object(comments: Sequence[Mapping[str, Any]]) -> bytes:
    """The bytes Firehose would deliver for these comments (the app's own record encoding)."""
    now = time.time()
    return b"".join(
        encode(Comment(id=c["id"], fullname=c["name"], subreddit=c["subreddit"], author=c["author"],
                       body=c["body"], created_utc=float(c["created_utc"]), permalink=c["permalink"],
                       link_id=c["link_id"], parent_id=c["parent_id"], ingested_at=now))
        for c in comments
    )


def s3_event(bucket: str, *keys: str) -> dict[str, Any]:
    """An S3 ObjectCreated notification as Lambda receives it (keys URL-encoded)."""
    return {"Records": [
        {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION, "eventName": "ObjectCreated:Put",
         "eventTime": dt.datetime.now(dt.UTC).isoformat(),
         "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                "object": {"key": quote_plus(key, safe="/"), "size": 1}}}
        for key in keys
    ]}


def buffer_delivery(stack: Stack, name: str) -> tuple[str, int]:
    """Emulate Firehose buffering: merge what moto wrote under raw/ into one object.

    moto writes one S3 object per Put call; real Firehose (60 s / 5 MB buffer)
    concatenates a run's records into one object. Both pipelines get the same
    treatment, with uncounted calls, because Firehose's own writes are not calls
    the code makes. Returns (key, objects merged).
    """
    s3 = stack.client("s3")
    keys: list[tuple[Any, str]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=stack.raw_prefix):
        keys += [(o["LastModified"], o["Key"]) for o in page.get("Contents", [])
                 if not o["Key"].startswith(f"{stack.raw_prefix}bench/")]
    keys.sort()
    data = b"".join(s3.get_object(Bucket=stack.bucket, Key=k)["Body"].read() for _, k in keys)
    target = f"{stack.raw_prefix}bench/{name}"
    s3.put_object(Bucket=stack.bucket, Key=target, Body=data)
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=stack.bucket,
                          Delete={"Objects": [{"Key": k} for _, k in keys[start:start + 1000]], "Quiet": True})
    return target, len(keys)


def put_object(stack: Stack, name: str, data: bytes) -> str:
    key = f"{stack.raw_prefix}bench/{name}"
    stack.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=data)
    return key


def lines(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.strip())


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
