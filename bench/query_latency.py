"""Measurement 3: GET /comments latency and read work with 1,000 and 100,000 stored comments.

Runs in its own interpreter against in-process moto (``python -m bench.query_latency``)
and requests the real Chalice route through chalice.test.Client.

moto answers a Query on a global secondary index by walking *every* item of the
table in Python and sorting the matches (moto/dynamodb/models/table.py,
Table.query), so its wall-clock time grows with the table and says nothing about
DynamoDB. DynamoDB reads only the index entries it returns: the read work
(ScannedCount, and read units from the bytes read) is what predicts its latency
and cost, and is reported next to the wall-clock figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
TABLE = "bench-comments"
CURSOR_SECRET = "bench/cursor"  # noqa: S105 - a secret's name
PATH = "/comments?limit=25"
#: Read units of that page before the sharded design (bench/results.json of 2026-11-25: one Query
#: of 25 ~0.45 KB items on the single-key index).
BEFORE_READ_UNITS = 1.5
#: Every filter shape of GET /comments, measured once on the largest table.
FILTERS = ("", "&label=hate", "&label=nothate", "&subreddit=benchgames", "&subreddit=benchgames&label=nothate",
           "&reviewed=false", "&label=hate&reviewed=false", "&min_score=0.8", "&min_score=0.05",
           "&since=1790000500&until=1790001000")


def ddb_size(value: dict[str, Any]) -> int:
    """Approximate DynamoDB size in bytes of one attribute value (AttributeValue JSON)."""
    (kind, raw), = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = len(raw.lstrip("-").replace(".", "").lstrip("0")) or 1
        return 1 + math.ceil(digits / 2)  # DynamoDB: ~1 byte per 2 significant digits + 1
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + ddb_size(v) for k, v in raw.items())
    if kind == "L":
        return 3 + sum(1 + ddb_size(v) for v in raw)
    return len(json.dumps(raw))


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + ddb_size(value) for name, value in item.items())


def read_units(total_bytes: int) -> float:
    """Eventually consistent read units of one Query: 0.5 per 4 KB read, rounded up per request."""
    return 0.5 * max(1, math.ceil(total_bytes / 4096))


def _setup_env() -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                       "POWERTOOLS_LOG_LEVEL": "WARNING"})


def _create_table(ddb: Any) -> None:
    from provisioning.table import table_definition  # noqa: PLC0415 - the table exactly as deployed

    ddb.create_table(**{**table_definition(TABLE), "TableName": TABLE})


def _labeled(start: int, count: int) -> list[Any]:
    from bench.stack import SUBREDDITS  # noqa: PLC0415
    from chalicelib.models import Comment, LabeledComment, Prediction  # noqa: PLC0415

    # Short fixed bodies: load time matters here, not text variety. ~0.5 KB items.
    out = []
    base = 1_790_000_000.0
    for i in range(start, start + count):
        cid = f"q{i:07d}"
        sub = SUBREDDITS[i % len(SUBREDDITS)]
        comment = Comment(id=cid, fullname=f"t1_{cid}", subreddit=sub, author=f"bench_user_{i % 500}",
                          body=f"synthetic comment number {i} about the weather, a game thread and coffee.",
                          created_utc=base + i, permalink=f"/r/{sub}/comments/abc/_/{cid}/", link_id="t3_abc",
                          parent_id="t3_abc", ingested_at=base + i + 5)
        label = "hate" if i % 10 == 0 else "nothate"
        out.append(LabeledComment(comment, Prediction(label, 0.9, "bench/model"), base + i + 10))
    return out


#: Items written through CommentRepository.put_labeled before the bulk load takes over.
API_LOAD = 1000


def _bulk_load(start: int, count: int) -> None:
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415
    from moto.core import DEFAULT_ACCOUNT_ID  # noqa: PLC0415
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

    from chalicelib.repository import to_item  # noqa: PLC0415

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    serializer = TypeSerializer()
    for labeled in _labeled(start, count):
        item = {k: serializer.serialize(Decimal(str(v)) if isinstance(v, float) else v)
                for k, v in to_item(labeled, 0).items() if v is not None}
        backend.put_item(TABLE, item)


def measure(sizes: Sequence[int], repeats: int) -> dict[str, Any]:
    _setup_env()
    sys.path.insert(0, str(REPO))
    import boto3  # noqa: PLC0415
    from chalice.test import Client  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    import app  # noqa: PLC0415
    from chalicelib import config  # noqa: PLC0415
    from chalicelib.clients import AwsClients  # noqa: PLC0415
    from chalicelib.factory import Services  # noqa: PLC0415
    from chalicelib.repository import CommentRepository  # noqa: PLC0415

    observed: list[dict[str, Any]] = []

    def ask_for_capacity(params: dict[str, Any], **_kwargs: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    def record(parsed: dict[str, Any], **_kwargs: Any) -> None:
        count = parsed.get("Count", 0)
        returned = sum(item_size(i) for i in parsed.get("Items", []))
        # A filter discards after reading: scanned items cost read units too (at the mean size seen).
        scanned = parsed.get("ScannedCount", 0)
        observed.append({"scanned": scanned, "count": count, "bytes": returned,
                         "scanned_bytes": returned + (scanned - count) * (returned // count if count else 450),
                         "moto_capacity": (parsed.get("ConsumedCapacity") or {}).get("CapacityUnits")})

    results: dict[str, Any] = {"path": PATH, "repeats": repeats, "sizes": {}}
    with mock_aws():
        session = boto3.session.Session()
        session.events.register("before-parameter-build.dynamodb.Query", ask_for_capacity)
        session.events.register("after-call.dynamodb.Query", record)
        ddb = session.client("dynamodb")
        _create_table(ddb)
        session.client("secretsmanager").create_secret(Name=CURSOR_SECRET, SecretString="k" * 64)
        settings = config.load({config.ENV_TABLE: TABLE, config.ENV_CURSOR_SECRET: CURSOR_SECRET,
                                config.ENV_BUCKET: "bench-bucket"})
        app.set_services(Services(settings, AwsClients(session=session)))
        loader = CommentRepository(boto3.session.Session().client("dynamodb"), TABLE)  # uncounted
        stored = 0
        load_s = 0.0
        with Client(app.app) as client:
            for size in sorted(sizes):
                started = time.perf_counter()
                if stored < API_LOAD:
                    # The first items go through the app's own BatchWriteItem path ...
                    count = min(size, API_LOAD) - stored
                    loader.put_labeled(_labeled(stored, count), retention_days=0)
                    stored += count
                # ... the bulk straight into moto's backend: moto spends ~0.6 ms per item
                # (de)serialising BatchWriteItem, which would make 100k items take a minute.
                _bulk_load(stored, size - stored)
                load_s += time.perf_counter() - started
                stored = size
                response = client.http.get(PATH)  # warm-up; also checks the route works
                body = json.loads(response.body)
                if response.status_code != 200 or len(body["items"]) != 25 or not body["next_cursor"]:
                    raise RuntimeError(f"GET {PATH} answered {response.status_code}: {response.body[:200]!r}")
                observed.clear()
                latencies = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    client.http.get(PATH)
                    latencies.append(time.perf_counter() - t0)
                per_request = len(observed) / repeats
                scanned = statistics.mean(o["scanned"] for o in observed) * per_request
                units = statistics.mean(read_units(o["bytes"]) for o in observed) * per_request
                results["sizes"][str(size)] = {
                    "items": size,
                    "median_ms": round(statistics.median(latencies) * 1000, 2),
                    "p90_ms": round(sorted(latencies)[int(0.9 * (len(latencies) - 1))] * 1000, 2),
                    "queries_per_request": per_request,
                    "scanned_count_per_request": scanned,
                    "read_units_per_request": units,
                    "moto_consumed_capacity": observed[0]["moto_capacity"],
                    "scan_read_units": read_units(int(size * statistics.mean(
                        o["bytes"] / max(1, o["count"]) for o in observed))),
                }
            results["filters"] = {}
            for extra in FILTERS:
                observed.clear()
                response = client.http.get(PATH + extra)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {PATH + extra} answered {response.status_code}")
                results["filters"][PATH + extra] = {
                    "items": len(json.loads(response.body)["items"]), "queries": len(observed),
                    "scanned": sum(o["scanned"] for o in observed),
                    "read_units": sum(read_units(o["scanned_bytes"]) for o in observed)}
        results["load_seconds"] = round(load_s, 1)
    small, large = (results["sizes"][str(s)] for s in (min(sizes), max(sizes)))
    results["latency_ratio"] = round(large["median_ms"] / small["median_ms"], 2)
    results["read_work_ratio"] = round(large["read_units_per_request"] / small["read_units_per_request"], 2)
    results["read_units_vs_before"] = round(large["read_units_per_request"] / BEFORE_READ_UNITS, 2)
    results["scanned_ratio"] = round(large["scanned_count_per_request"] / small["scanned_count_per_request"], 2)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.sizes, args.repeats), default=lambda v: float(v) if isinstance(v, Decimal) else v))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
