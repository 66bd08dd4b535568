"""provisioning.secrets against moto: placeholders or REDDIT_* values, a cursor key made once, recoverable delete."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from provisioning import secrets
from provisioning.common import Context, RedditCredentials, Status

from .conftest import REGION, make_ctx

REDDIT = "reddit-hate/dev/reddit"
CURSOR = "reddit-hate/dev/api-cursor-key"


def value(name: str) -> str:
    return boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=name)["SecretString"]


def test_without_credentials_placeholders_are_written_and_flagged(ctx: Context) -> None:
    outcome, needs_values = secrets.apply_reddit(ctx)
    assert outcome.status is Status.CREATED and outcome.detail == "placeholder values" and needs_values
    assert set(json.loads(value(REDDIT)).values()) == {secrets.PLACEHOLDER}
    outcome, needs_values = secrets.apply_reddit(ctx)
    assert outcome.status is Status.UNCHANGED and outcome.detail == "still placeholder values" and needs_values


def test_credentials_replace_placeholders_and_are_never_in_the_outcome(aws: None, tmp_path: Path) -> None:
    secrets.apply_reddit(make_ctx(tmp_path))
    creds = RedditCredentials("id-XYZ", "secret-XYZ", "agent")
    lines: list[str] = []
    outcome, needs_values = secrets.apply_reddit(make_ctx(tmp_path, lines, reddit=creds))
    assert outcome.status is Status.UPDATED and not needs_values
    assert json.loads(value(REDDIT)) == creds.as_dict()
    assert "XYZ" not in repr(outcome) + "".join(lines) + repr(creds)


def test_cursor_key_is_generated_once(ctx: Context) -> None:
    assert secrets.apply_cursor(ctx).status is Status.CREATED
    key = value(CURSOR)
    assert len(key) == 64 and secrets.apply_cursor(ctx).status is Status.UNCHANGED and value(CURSOR) == key


def test_delete_is_recoverable_and_apply_restores(ctx: Context) -> None:
    secrets.apply(ctx)
    outcomes = secrets.delete(ctx)
    assert [o.status for o in outcomes] == [Status.DELETED, Status.DELETED]
    assert all("recoverable for 7 days" in o.detail for o in outcomes)
    assert [o.status for o in secrets.delete(ctx)] == [Status.ABSENT, Status.ABSENT]  # already pending
    assert [o.detail for o in secrets.apply(ctx)] == ["restored", "restored"]


def test_force_deletes_without_recovery(aws: None, tmp_path: Path) -> None:
    secrets.apply(make_ctx(tmp_path))
    forced = secrets.delete(make_ctx(tmp_path, force=True))
    assert [o.detail for o in forced] == ["", ""]
    assert boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"] == []
