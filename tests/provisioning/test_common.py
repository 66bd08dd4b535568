"""provisioning.common: names, statuses, outcomes, waiting, the IAM retry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioning.common import Context, DeployError, Names, Options, Status, as_json, is_not_found

from .conftest import FakeClock, make_ctx


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


def test_dry_run_statuses_say_would() -> None:
    assert Status.CREATED.describe(dry_run=True) == "would create"
    assert Status.DELETED.describe(dry_run=True) == "would delete"
    assert Status.UNCHANGED.describe(dry_run=True) == "exists, unchanged"
    assert Status.UPDATED.describe(dry_run=False) == "updated"


def test_names_and_arns() -> None:
    names = Names("reddit-hate", "dev", "123456789012", "eu-west-1", "aws-cn")
    assert names.bucket == "reddit-hate-dev-123456789012-eu-west-1"
    assert names.bucket_arn == "arn:aws-cn:s3:::reddit-hate-dev-123456789012-eu-west-1"
    assert names.secret_arn("p/dev/reddit") == (
        "arn:aws-cn:secretsmanager:eu-west-1:123456789012:secret:p/dev/reddit-??????")
    assert names.role_arn("r") == "arn:aws-cn:iam::123456789012:role/r"
    assert names.is_versioned_name("reddit-hate-dev-0123abcd")
    assert not names.is_versioned_name("reddit-hate-dev-0123abcdx")
    assert not names.is_versioned_name("reddit-hate-devx-0123abcd")


def test_not_found_recognises_every_service_spelling() -> None:
    for code in ("ResourceNotFoundException", "NoSuchEntity", "404", "NoSuchBucket", "NotFound"):
        assert is_not_found(client_error(code))
    assert is_not_found(client_error("ValidationException", "Could not find endpoint x"))
    assert not is_not_found(client_error("ValidationException", "bad value"))
    assert not is_not_found(client_error("AccessDenied"))


def test_describe_answers_none_only_for_the_codes_that_mean_absent() -> None:
    def raising(code: str) -> Callable[[], object]:
        def call() -> object:
            raise client_error(code)
        return call

    assert Context.describe(lambda: {"a": 1}) == {"a": 1}
    assert Context.describe(raising("NoSuchEntity")) is None
    assert Context.describe(raising("NoSuchLifecycleConfiguration"), {"NoSuchLifecycleConfiguration"}) is None
    with pytest.raises(ClientError):  # not one of this call's "absent" codes
        Context.describe(raising("NoSuchBucket"), {"NoSuchLifecycleConfiguration"})
    with pytest.raises(ClientError):
        Context.describe(raising("AccessDenied"))


def test_iam_documents_are_decoded_from_url_encoded_json() -> None:
    assert as_json("%7B%22a%22%3A%201%7D") == {"a": 1}
    assert as_json({"a": 1}) == {"a": 1}
    assert as_json("not json") == "not json"


def test_record_prints_one_aligned_line(ctx: Context, lines: list[str]) -> None:
    outcome = ctx.record("S3 bucket", "b", Status.UPDATED, "encryption")
    assert ctx.outcomes == [outcome]
    assert lines == [f"  {'S3 bucket':<22} {'b':<46} updated (encryption)"]


def test_note_prints_in_the_kind_column_without_an_outcome(ctx: Context, lines: list[str]) -> None:
    ctx.note("Lambda concurrency", "none reserved")
    assert ctx.outcomes == []
    assert lines == [f"  {'Lambda concurrency':<22} none reserved"]


def test_drift_updates_only_when_something_differs(aws: None, tmp_path: Path) -> None:
    calls: list[str] = []
    ctx = make_ctx(tmp_path)
    assert ctx.drift("k", "n", [], lambda: calls.append("x")).status is Status.UNCHANGED
    assert ctx.drift("k", "n", ["a", "b"], lambda: calls.append("x")).detail == "a, b"
    assert calls == ["x"]
    dry = make_ctx(tmp_path, dry_run=True)
    assert dry.drift("k", "n", ["a"], lambda: calls.append("y")).status is Status.UPDATED
    assert calls == ["x"]


def test_deleted_reports_absent_when_already_gone(ctx: Context) -> None:
    def gone() -> None:
        raise client_error("NoSuchEntity")

    assert ctx.deleted("IAM role", "r", gone).status is Status.ABSENT
    with pytest.raises(ClientError):
        ctx.deleted("IAM role", "r", lambda: (_ for _ in ()).throw(client_error("AccessDenied")))


def test_wait_announces_once_and_times_out(aws: None, tmp_path: Path) -> None:
    clock, lines = FakeClock(), list[str]()
    ctx = make_ctx(tmp_path, lines, clock)
    with pytest.raises(DeployError, match=r"timed out after 10s waiting for thing \(last state CREATING\)"):
        ctx.wait("thing", lambda: "CREATING", "ACTIVE", timeout=10, interval=3)
    assert lines == ["  ... waiting for thing (now CREATING)"] and clock.sleeps == [3, 3, 3, 3]
    with pytest.raises(DeployError, match="thing is Failed"):
        ctx.wait("thing", lambda: "Failed", "ACTIVE", timeout=10, interval=3, failed=("Failed",))
    states = iter(["CREATING", "ACTIVE"])
    ctx.wait("thing", lambda: next(states), "ACTIVE", timeout=10, interval=3)


def test_role_propagation_is_retried_then_given_up(aws: None, tmp_path: Path) -> None:
    clock = FakeClock()
    ctx = make_ctx(tmp_path, clock=clock)
    attempts = iter([client_error("InvalidArgumentException", "Firehose is unable to assume role"), "ok"])

    def call() -> str:
        item = next(attempts)
        if isinstance(item, Exception):
            raise item
        return str(item)

    assert ctx.retry_role_propagation(call) == "ok" and clock.sleeps == [5]

    def never() -> None:
        raise client_error("ValidationException", "could not assume role")

    with pytest.raises(ClientError):
        ctx.retry_role_propagation(never)
    assert clock.now >= 120

    def other() -> None:
        raise client_error("ValidationException", "MemorySize is invalid")

    before = len(clock.sleeps)
    with pytest.raises(ClientError):
        ctx.retry_role_propagation(other)
    assert len(clock.sleeps) == before  # not a propagation problem: no retry


def test_a_session_without_region_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(DeployError, match="no AWS region"):
        Context(boto3.Session(), Options(stage="dev", region=""))
