"""A faithful re-implementation of the ORIGINAL per-comment loop, for comparison only.

What the original code did, minus its ``time.sleep(0.1)`` per comment:

* ingestion read each subreddit with PRAW and sent every comment to Firehose
  with its own ``put_record`` call;
* the S3-event Lambda looked only at ``event["Records"][0]``, read that object,
  and for each comment called ``invoke_endpoint`` with that one text and then
  ``put_item`` for that one comment.

It deliberately keeps those shapes (and their cost); nothing here is used by the app.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus


@dataclass(frozen=True)
class SeedReport:
    ingested: int = 0
    stored: int = 0


def seed_ingest(reddit: Any, firehose: Any, stream: str, subreddits: Iterable[str], limit: int = 1000) -> SeedReport:
    """One ``put_record`` per comment, as the original scheduled function did."""
    sent = 0
    for name in subreddits:
        for comment in reddit.subreddit(name).comments(limit=limit):
            record = {
                "id": comment.id, "subreddit": str(comment.subreddit), "author": str(comment.author),
                "body": comment.body, "created_utc": comment.created_utc, "permalink": comment.permalink,
            }
            firehose.put_record(DeliveryStreamName=stream, Record={"Data": (json.dumps(record) + "\n").encode()})
            sent += 1
    return SeedReport(ingested=sent)


def seed_classify(event: Mapping[str, Any], s3: Any, runtime: Any, dynamodb: Any, *, endpoint: str,
                  table: str) -> SeedReport:
    """The original S3-event handler: first record only, one endpoint call and one put_item per comment."""
    record = event["Records"][0]  # the original ignored any further records
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    stored = 0
    for line in body.splitlines():
        if not line.strip():
            continue
        comment = json.loads(line)
        response = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="application/json", Accept="application/json",
            Body=json.dumps({"inputs": comment["body"]}).encode(),
        )
        prediction = json.loads(response["Body"].read())
        best = prediction[0] if isinstance(prediction, list) else prediction
        dynamodb.put_item(TableName=table, Item={
            "comment_id": {"S": comment["id"]},
            "subreddit": {"S": str(comment.get("subreddit", ""))},
            "body": {"S": comment["body"]},
            "created_utc": {"N": str(comment.get("created_utc", 0))},
            "label": {"S": str(best["label"])},
            "score": {"N": str(round(float(best["score"]), 6))},
        })
        stored += 1
    return SeedReport(stored=stored)
