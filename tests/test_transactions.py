"""The shared pieces of the one-transaction writers (reviews, deletions)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.errors import StorageError
from chalicelib.transactions import CHANGED, add_counters, retry_reason, token_of, unchanged_since_read
from tests.conftest import create_table


def cancelled(*reasons: str) -> ClientError:
    response: Any = {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                     "CancellationReasons": [{"Code": r} for r in reasons]}
    return ClientError(response, "TransactWriteItems")


def failed(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "TransactWriteItems")


def test_a_failed_first_condition_means_read_again() -> None:
    assert retry_reason(cancelled("ConditionalCheckFailed", "None"), "x") == CHANGED


def test_conflicts_and_throttling_are_tried_again() -> None:
    assert "TransactionConflict" in retry_reason(cancelled("None", "TransactionConflict"), "x")
    assert retry_reason(failed("ThrottlingException"), "x") == "ThrottlingException"
    assert retry_reason(failed("Odd"), "x", frozenset({"Odd"})) == "Odd"


def test_what_a_retry_cannot_mend_raises_naming_the_change() -> None:
    with pytest.raises(StorageError, match="review of c1 refused: ValidationError"):
        retry_reason(cancelled("ValidationError"), "review of c1")
    with pytest.raises(StorageError, match="review of c1 failed: AccessDeniedException"):
        retry_reason(failed("AccessDeniedException"), "review of c1")


def test_add_counters_names_every_counter_once() -> None:
    action = add_counters("t", "stats#all", {"nothate": -1, "hate": 2})["Update"]
    assert action["Key"] == {"comment_id": {"S": "stats#all"}}
    assert action["UpdateExpression"] == "ADD #c0 :c0, #c1 :c1"
    assert action["ExpressionAttributeNames"] == {"#c0": "hate", "#c1": "nothate"}
    assert action["ExpressionAttributeValues"] == {":c0": {"N": "2"}, ":c1": {"N": "-1"}}


def test_the_token_follows_the_actions() -> None:
    a = [add_counters("t", "k", {"hate": 1})]
    assert token_of(a) == token_of([add_counters("t", "k", {"hate": 1})])
    assert token_of(a) != token_of([add_counters("t", "k", {"hate": 2})])
    assert len(token_of(a)) == 36


@pytest.mark.parametrize(("stored", "verdict", "holds"), [
    ({"label": "hate"}, None, True),
    ({"label": "hate", "verdict": "hate"}, "hate", True),
    ({"label": "hate", "verdict": "nothate"}, "hate", False),  # another review came first
    ({"label": "hate", "verdict": "hate"}, None, False),
    ({"label": "nothate"}, None, False),  # relabelled since the read
    ({"label": "hate", "kind": "tombstone"}, None, False),
])
def test_unchanged_since_read_holds_only_for_the_comment_read(
        aws: None, stored: dict[str, str], verdict: str | None, holds: bool) -> None:
    create_table("t")
    client = boto3.client("dynamodb")
    item = {"comment_id": "c1", "kind": "comment", **stored}
    client.put_item(TableName="t", Item={k: {"S": v} for k, v in item.items()})
    condition, names, values = unchanged_since_read("hate", verdict)
    try:
        client.update_item(TableName="t", Key={"comment_id": {"S": "c1"}}, UpdateExpression="SET #x = :x",
                           ConditionExpression=condition, ExpressionAttributeNames={**names, "#x": "x"},
                           ExpressionAttributeValues={**values, ":x": {"S": "written"}})
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
        written = False
    else:
        written = True
    assert written is holds
