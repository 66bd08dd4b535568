"""Measurement 6: estimated AWS cost per million comments, from measured call counts.

Everything the benchmark cannot measure offline is an explicit constant below:
list prices (us-east-1, on-demand, no free tier) and the latencies AWS would add.
Change them here; the table in bench/README.md explains each one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning.autoscaling import TARGET_UTILISATION_PERCENT

#: us-east-1 list prices in USD, as published on the AWS pricing pages (looked up November 2026;
#: DynamoDB on-demand after the November 2024 price cut). No free tier, no savings plans.
PRICES: dict[str, float] = {
    "lambda_per_request": 0.20 / 1e6,
    "lambda_per_gb_s": 0.0000166667,  # x86
    "sagemaker_serverless_per_s_3072mb": 0.00006,  # 0.0000200 per s per GB of MemorySizeInMB
    "sagemaker_data_per_gb": 0.016,  # charged for data in and again for data out
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    # Provisioned capacity (the --billing provisioned option): per unit of capacity per hour.
    "dynamodb_per_wcu_hour": 0.00065,
    "dynamodb_per_rcu_hour": 0.00013,
    "firehose_per_gb": 0.029,  # first 500 TB/month; every record is rounded up to 5 KB
    "s3_put_per_1000": 0.005,
    "s3_get_per_1000": 0.0004,
    "secrets_per_10000_calls": 0.05,
}
PRICE_NOTES = {
    "region": "us-east-1",
    "looked_up": "2026-11",
    "lambda": "$0.20 per 1M requests + $0.0000166667 per GB-s (x86); memory 512 MB as in .chalice/config.json",
    "sagemaker": "Serverless Inference $0.0000200 per second per GB (3072 MB -> $0.00006/s) + $0.016/GB "
                 "processed in and out",
    "dynamodb": "on-demand $0.625 per million write request units, $0.125 per million read request units; "
                "provisioned $0.00065 per WCU-hour, $0.00013 per RCU-hour",
    "firehose": "Direct PUT ingestion $0.029/GB, each record rounded up to 5 KB",
    "s3": "Standard PUT $0.005 per 1,000, GET $0.0004 per 1,000",
    "secrets_manager": "$0.05 per 10,000 API calls (the $0.40/secret/month is not per comment)",
}

LAMBDA_GB = 0.5
#: Lambda gives a function one full vCPU at 1,769 MB and a proportional share below that, so the
#: CPU seconds measured here on a full core take 1769/512 times longer in a 512 MB function.
LAMBDA_CPU_SCALE = 1769 / 512
#: roberta-base (125M parameters) on a 3 GB serverless endpoint (CPU only, ~2 vCPU): ~20 ms of
#: compute per short (~50-token) comment. The Hugging Face pipeline runs a list input one text at
#: a time unless batch_size is set, so batching saves the per-request part only, not this.
ENDPOINT_MS_PER_COMMENT = 20.0
#: What bench/endpoint_compute.py measured (bench/endpoint_compute.json) for the same model on this
#: shared 2-core machine over 160 recorded comments: CPU ms per comment / 2 threads, with the
#: batch_size the classifier sends (8), and one text at a time (what the original loop gets).
MEASURED_ENDPOINT_MS_PER_COMMENT = 268.4
MEASURED_ENDPOINT_MS_PER_COMMENT_UNBATCHED = 398.9
#: Billed per request on top of that: HTTP handling, JSON (de)serialisation, pipeline set-up.
ENDPOINT_MS_PER_REQUEST = 30.0
#: What each call adds to the calling Lambda's duration (round trip inside the region, p50).
#: InvokeEndpoint's figure is the routing overhead on top of the billed model time above.
LATENCY_MS: dict[str, float] = {
    "firehose.PutRecord": 10, "firehose.PutRecordBatch": 40,
    "s3.GetObject": 25, "s3.PutObject": 30,
    "dynamodb.GetItem": 5, "dynamodb.PutItem": 6, "dynamodb.UpdateItem": 6, "dynamodb.DeleteItem": 6,
    "dynamodb.BatchGetItem": 15, "dynamodb.BatchWriteItem": 25, "dynamodb.Query": 10,
    "secretsmanager.GetSecretValue": 20, "sagemaker-runtime.InvokeEndpoint": 15,
}
#: Assumption: share of comments the model labels hate (the issue's ~5 %); those are written to
#: the sparse hate and review-queue indexes as well.
HATE_SHARE = 0.05
#: Provisioned billing with auto scaling: capacity tracks the load at the utilisation target that
#: `deploy_model.py --billing provisioned` sets (Application Auto Scaling's default 70 %), so each
#: used unit is paid 1/0.7 times.
PROVISIONED_TARGET_UTILISATION = TARGET_UTILISATION_PERCENT / 100
#: The original loop's table had a key only (its API scanned): one write per comment.
SEED_GSIS = 0


def item_write_units(item: Mapping[str, Any], size_kb: Callable[[Mapping[str, Any]], float]) -> int:
    """Write units one PutItem of ``item`` costs: the table, plus every index whose key it carries.

    Each index item is the projected attributes (chalicelib.schema.PUBLIC_FIELDS, INCLUDE) plus
    the keys, rounded up to 1 KB like the table item.
    """
    from chalicelib import schema  # noqa: PLC0415

    units = math.ceil(size_kb(item))
    for partition in schema.INDEXES.values():
        if item.get(partition) is None:
            continue
        kept = {*schema.PUBLIC_FIELDS, schema.PARTITION_KEY, schema.SORT_ATTRIBUTE, partition}
        units += math.ceil(size_kb({k: v for k, v in item.items() if k in kept}))
    return units


@dataclass(frozen=True)
class Workload:
    """What 1,000 comments cost in calls and bytes, as measured."""

    calls: Mapping[str, int]  # per 1,000 comments, ingestion to stored
    lambda_cpu_s: float  # per 1,000 comments, measured in-process
    lambda_invocations: int  # per 1,000 comments
    #: Write units of each stored comment, table and indexes (item_write_units).
    item_write_units: Sequence[float]
    firehose_record_bytes: Sequence[int]
    endpoint_bytes_in: int  # per 1,000 comments
    endpoint_bytes_out: int
    #: Small single-item writes per 1,000 comments besides the comments themselves
    #: (checkpoints, leases): 1 write unit each.
    bookkeeping_writes: int = 0
    #: Actions of TransactWriteItems per 1,000 comments (the label counters): each item of a
    #: transaction costs 2 write units per KB, twice a standard write (read-write-operations.html).
    transact_write_actions: int = 0
    #: Keys read per 1,000 comments (GetItem, BatchGetItem), by consistency: each key costs one
    #: read unit per 4 KB strongly consistent, half eventually consistent, found or not. The
    #: already-stored check is strongly consistent, so it costs a full unit per comment.
    consistent_read_keys: int = 0
    eventual_read_keys: int = 0
    s3_objects: int = 1  # objects Firehose writes per 1,000 comments


def estimate(w: Workload, comments: int = 1000, ms_per_comment: float = ENDPOINT_MS_PER_COMMENT) -> dict[str, Any]:
    """USD per million comments, by service, plus the modelled Lambda and endpoint seconds."""
    scale = 1_000_000 / comments
    c = {k: v * scale for k, v in w.calls.items()}
    invocations = c.get("sagemaker-runtime.InvokeEndpoint", 0.0)
    endpoint_s = (invocations * ENDPOINT_MS_PER_REQUEST + 1_000_000 * ms_per_comment) / 1000
    waits_s = sum(n * LATENCY_MS.get(op, 10) for op, n in c.items()) / 1000
    lambda_s = w.lambda_cpu_s * LAMBDA_CPU_SCALE * scale + waits_s + endpoint_s
    items = 1_000_000
    wru_per_item = sum(w.item_write_units) / len(w.item_write_units)
    # Counter items stay far below 1 KB: 2 units per transactional action.
    writes = items * wru_per_item + (w.bookkeeping_writes + 2 * w.transact_write_actions) * scale
    # Keys read are comment and checkpoint items, all below 4 KB.
    reads = (w.consistent_read_keys + 0.5 * w.eventual_read_keys) * scale
    firehose_gb = sum(math.ceil(b / 5120) * 5120 for b in w.firehose_record_bytes) / len(
        w.firehose_record_bytes) * items / 1024**3
    parts = {
        "sagemaker_endpoint": endpoint_s * PRICES["sagemaker_serverless_per_s_3072mb"]
        + (w.endpoint_bytes_in + w.endpoint_bytes_out) * scale / 1024**3 * PRICES["sagemaker_data_per_gb"],
        "lambda": w.lambda_invocations * scale * PRICES["lambda_per_request"]
        + lambda_s * LAMBDA_GB * PRICES["lambda_per_gb_s"],
        "dynamodb": writes / 1e6 * PRICES["dynamodb_per_million_wru"]
        + reads / 1e6 * PRICES["dynamodb_per_million_rru"],
        "firehose": firehose_gb * PRICES["firehose_per_gb"],
        "s3": w.s3_objects * scale / 1000 * PRICES["s3_put_per_1000"]
        + c.get("s3.GetObject", 0) / 1000 * PRICES["s3_get_per_1000"],
        "secrets_manager": c.get("secretsmanager.GetSecretValue", 0) / 10_000 * PRICES["secrets_per_10000_calls"],
    }
    # The same units on provisioned capacity kept at the auto-scaling target utilisation.
    provisioned = (writes / 3600 * PRICES["dynamodb_per_wcu_hour"] + reads / 3600 * PRICES["dynamodb_per_rcu_hour"]
                   ) / PROVISIONED_TARGET_UTILISATION
    return {
        "total_usd": round(sum(parts.values()), 3),
        "by_service_usd": {k: round(v, 4) for k, v in parts.items()},
        "write_units_per_comment": round(wru_per_item, 3),
        "dynamodb_provisioned_usd": round(provisioned, 4),
        "total_provisioned_usd": round(sum(parts.values()) - parts["dynamodb"] + provisioned, 3),
        "endpoint_seconds": round(endpoint_s),
        "lambda_seconds": round(lambda_s),
        "lambda_seconds_per_1000": round(lambda_s / scale, 2),
        "write_units": round(writes),
        "read_units": round(reads),
    }


def assumptions() -> dict[str, Any]:
    return {"prices": PRICE_NOTES, "lambda_memory_gb": LAMBDA_GB, "lambda_cpu_scale": round(LAMBDA_CPU_SCALE, 2),
            "endpoint_ms_per_comment": ENDPOINT_MS_PER_COMMENT,
            "measured_endpoint_ms_per_comment": MEASURED_ENDPOINT_MS_PER_COMMENT,
            "measured_endpoint_ms_per_comment_unbatched": MEASURED_ENDPOINT_MS_PER_COMMENT_UNBATCHED,
            "endpoint_ms_per_request": ENDPOINT_MS_PER_REQUEST, "call_latency_ms": LATENCY_MS,
            "hate_share": HATE_SHARE, "provisioned_target_utilisation": PROVISIONED_TARGET_UTILISATION,
            "indexes": len(_indexes()), "seed_gsis": SEED_GSIS,
            "firehose_objects_per_1000_comments": 1}


def _indexes() -> dict[str, str]:
    from chalicelib import schema  # noqa: PLC0415

    return schema.INDEXES
