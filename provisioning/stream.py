"""The Firehose delivery stream: DirectPut from the ingest Lambda, GZIP batches into raw/."""

from __future__ import annotations

from typing import Any

from chalicelib import schema

from .common import Context, Outcome, Status

KIND = "Firehose stream"
FIREHOSE_PREFIX = f"{schema.DEFAULT_RAW_PREFIX}!{{timestamp:yyyy/MM/dd/HH}}/"
FIREHOSE_ERROR_PREFIX = f"{schema.DEFAULT_ERROR_PREFIX}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/"
# Real AWS: a stream takes about 1 min to become ACTIVE.
STREAM_TIMEOUT_S = 10 * 60


def destination(ctx: Context) -> dict[str, Any]:
    names = ctx.names
    return {
        "RoleARN": names.role_arn(names.firehose_role),
        "BucketARN": names.bucket_arn,
        "Prefix": FIREHOSE_PREFIX,
        "ErrorOutputPrefix": FIREHOSE_ERROR_PREFIX,
        "BufferingHints": {
            "SizeInMBs": ctx.options.buffer_mb,
            "IntervalInSeconds": ctx.options.buffer_seconds,
        },
        "CompressionFormat": "GZIP",
    }


def describe(ctx: Context) -> dict[str, Any] | None:
    found = ctx.describe(lambda: ctx.firehose.describe_delivery_stream(DeliveryStreamName=ctx.names.stream))
    return None if found is None else dict(found["DeliveryStreamDescription"])


def status(ctx: Context) -> str | None:
    stream = describe(ctx)
    return None if stream is None else str(stream["DeliveryStreamStatus"])


def _wait_active(ctx: Context, *, failed: tuple[str, ...] = ()) -> None:
    ctx.wait(f"stream {ctx.names.stream} ACTIVE", lambda: status(ctx), "ACTIVE", timeout=STREAM_TIMEOUT_S,
             interval=5, failed=failed)


def apply(ctx: Context) -> list[Outcome]:
    name = ctx.names.stream
    wanted = destination(ctx)
    stream = describe(ctx)
    if stream is None:
        if not ctx.dry_run:
            ctx.retry_role_propagation(
                lambda: ctx.firehose.create_delivery_stream(
                    DeliveryStreamName=name,
                    DeliveryStreamType="DirectPut",
                    ExtendedS3DestinationConfiguration=wanted,  # type: ignore[arg-type]
                    Tags=ctx.tags(),
                )
            )
            _wait_active(ctx, failed=("CREATING_FAILED",))
        return [ctx.record(KIND, name, Status.CREATED)]
    destinations = stream.get("Destinations", [])
    current = destinations[0].get("ExtendedS3DestinationDescription", {}) if destinations else {}
    drift = [key for key, value in wanted.items() if current.get(key) != value]

    def update() -> None:
        latest = stream
        if latest["DeliveryStreamStatus"] != "ACTIVE":
            _wait_active(ctx)
            latest = describe(ctx) or latest
        ctx.firehose.update_destination(
            DeliveryStreamName=name,
            CurrentDeliveryStreamVersionId=latest["VersionId"],
            DestinationId=latest["Destinations"][0]["DestinationId"],
            ExtendedS3DestinationUpdate=wanted,  # type: ignore[arg-type]
        )

    return [ctx.drift(KIND, name, drift, update)]


def delete(ctx: Context) -> list[Outcome]:
    name = ctx.names.stream
    if describe(ctx) is None:
        return [ctx.record(KIND, name, Status.ABSENT)]
    outcome = ctx.deleted(KIND, name, lambda: ctx.firehose.delete_delivery_stream(DeliveryStreamName=name))
    if not ctx.dry_run:
        # Let in-flight records land before the bucket is emptied.
        ctx.wait(f"stream {name} deletion", lambda: status(ctx), None, timeout=STREAM_TIMEOUT_S, interval=5)
    return [outcome]
