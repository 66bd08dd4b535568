"""provisioning.stream against moto: DirectPut into raw/, buffering drift updated in place, deleted."""

from __future__ import annotations

from pathlib import Path

import boto3

from provisioning import stream
from provisioning.common import Context, Status

from .conftest import REGION, make_ctx


def test_apply_creates_the_destination_we_want(ctx: Context) -> None:
    assert [o.status for o in stream.apply(ctx)] == [Status.CREATED]
    described = stream.describe(ctx)
    assert described is not None and described["DeliveryStreamType"] == "DirectPut"
    dest = described["Destinations"][0]["ExtendedS3DestinationDescription"]
    for key, value in stream.destination(ctx).items():
        assert dest[key] == value
    assert [o.status for o in stream.apply(ctx)] == [Status.UNCHANGED]


def test_changed_buffering_is_an_update_naming_the_field(aws: None, tmp_path: Path) -> None:
    stream.apply(make_ctx(tmp_path))
    [outcome] = stream.apply(make_ctx(tmp_path, buffer_seconds=300))
    assert outcome.status is Status.UPDATED and outcome.detail == "BufferingHints"
    described = boto3.client("firehose", region_name=REGION).describe_delivery_stream(
        DeliveryStreamName="reddit-hate-dev-comments")["DeliveryStreamDescription"]
    hints = described["Destinations"][0]["ExtendedS3DestinationDescription"]["BufferingHints"]
    assert hints["IntervalInSeconds"] == 300


def test_delete_waits_until_gone(ctx: Context) -> None:
    assert [o.status for o in stream.delete(ctx)] == [Status.ABSENT]
    stream.apply(ctx)
    assert [o.status for o in stream.delete(ctx)] == [Status.DELETED]
    assert stream.status(ctx) is None
