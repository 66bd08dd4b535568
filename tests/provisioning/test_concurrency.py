"""provisioning.concurrency: reserve only what leaves AWS's minimum of 100 unreserved (Stubber for Lambda)."""

from __future__ import annotations

from pathlib import Path

import boto3
from botocore.stub import Stubber

from provisioning import concurrency
from provisioning.common import Context

from .conftest import REGION, make_ctx


def stubbed(tmp_path: Path) -> tuple[Context, Stubber]:
    ctx = make_ctx(tmp_path)
    client = boto3.client("lambda", region_name=REGION)
    ctx._clients["lambda"] = client
    return ctx, Stubber(client)


def settings(limit: int, unreserved: int) -> dict:
    return {"AccountLimit": {"ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": unreserved}}


def not_deployed(stub: Stubber) -> None:
    for _ in range(2):
        stub.add_client_error("get_function_concurrency", "ResourceNotFoundException", http_status_code=404)


def test_a_ten_concurrency_account_gets_no_reservation(aws: None, tmp_path: Path) -> None:
    ctx, stub = stubbed(tmp_path)
    stub.add_response("get_account_settings", settings(10, 10))
    not_deployed(stub)
    with stub:
        choice = concurrency.choose(ctx)
    assert choice.reserved == {}
    assert "account limit 10, 10 unreserved" in choice.describe() and "minimum of 100" in choice.describe()


def test_a_big_account_gets_the_caps(aws: None, tmp_path: Path) -> None:
    ctx, stub = stubbed(tmp_path)
    stub.add_response("get_account_settings", settings(1000, 1000))
    stub.add_response("get_function_concurrency", {}, {"FunctionName": "reddit-hate-watch-dev-ingest"})
    stub.add_response("get_function_concurrency", {}, {"FunctionName": "reddit-hate-watch-dev-classify"})
    with stub:
        assert concurrency.choose(ctx).reserved == {"ingest": 1, "classify": 1}


def test_our_own_current_reservations_count_as_free(aws: None, tmp_path: Path) -> None:
    """A redeploy must not lose its reservations because they already lower the unreserved count."""
    ctx, stub = stubbed(tmp_path)
    stub.add_response("get_account_settings", settings(102, 100))  # 1 + 1 already ours
    stub.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": 1})
    stub.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": 1})
    with stub:
        assert concurrency.choose(ctx).reserved == {"ingest": 1, "classify": 1}


def test_the_boundary_is_exactly_100_left() -> None:
    wanted = {"ingest": 1, "classify": 1}
    assert concurrency.decide(wanted, 102, 102, 0).reserved == wanted
    assert concurrency.decide(wanted, 101, 101, 0).reserved == {}


def test_unreadable_settings_mean_no_reservation(aws: None, tmp_path: Path) -> None:
    ctx, stub = stubbed(tmp_path)
    stub.add_client_error("get_account_settings", "AccessDeniedException", http_status_code=403)
    with stub:
        choice = concurrency.choose(ctx)
    assert choice.reserved == {} and "AccessDeniedException" in choice.reason
