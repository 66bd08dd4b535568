"""devtools.moto_server: moto's DynamoDB transactions copy each table once, and behave as before."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb import models

from devtools import moto_server
from tests.conftest import REGION, create_table


@pytest.fixture
def patched(aws: None, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The patch applied for this test only; yields the tables deep-copied while it is on."""
    monkeypatch.setattr(models, "copy", models.copy)
    monkeypatch.setattr(models.DynamoDBBackend, "transact_write_items",
                        models.DynamoDBBackend.transact_write_items)
    copied: list[Any] = []
    real = copy.deepcopy

    def counting(x: Any, memo: Any = None) -> Any:
        if isinstance(x, models.Table):
            copied.append(x)
        return real(x, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    assert moto_server.patch() is True
    assert moto_server.patch() is True  # a second call changes nothing
    create_table("t")
    return copied


def counter_update(key: str, condition: str | None = None) -> Any:  # a TransactWriteItem
    update: dict[str, Any] = {"TableName": "t", "Key": {"comment_id": {"S": key}},
                              "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}
    if condition:
        update["ConditionExpression"] = condition
    return {"Update": update}


def count(ddb: Any, key: str) -> int | None:
    item = ddb.get_item(TableName="t", Key={"comment_id": {"S": key}}).get("Item")
    return None if item is None else int(item["n"]["N"])


def test_a_transaction_copies_its_table_once_and_applies_every_action(patched: list[Any]) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.transact_write_items(TransactItems=[counter_update(f"k{i}") for i in range(10)])
    assert len(patched) == 1  # moto 5.2 as shipped: 10
    assert [count(ddb, f"k{i}") for i in range(10)] == [1] * 10


def test_a_cancelled_transaction_still_rolls_back_every_action(patched: list[Any]) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.transact_write_items(TransactItems=[counter_update("a")])
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=[counter_update("a"), counter_update("b", "attribute_exists(n)")])
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert (count(ddb, "a"), count(ddb, "b")) == (1, None)
    # The next transaction copies afresh: it does not reuse the backup of the one before.
    patched.clear()
    ddb.transact_write_items(TransactItems=[counter_update("a"), counter_update("b")])
    assert len(patched) == 1
    assert (count(ddb, "a"), count(ddb, "b")) == (2, 1)


def test_copies_outside_a_transaction_are_untouched(patched: list[Any]) -> None:
    proxy = models.copy
    table = models.dynamodb_backends["123456789012"][REGION].tables["t"]
    first, second = proxy.deepcopy(table), proxy.deepcopy(table)
    assert first is not second and first is not table


def test_an_unknown_moto_is_run_unpatched(aws: None, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(models.DynamoDBBackend, "transact_write_items",
                        models.DynamoDBBackend.transact_write_items)
    monkeypatch.setattr(models, "copy", object())  # the module no longer uses ``copy`` this way
    assert moto_server.patch() is False
    assert "running it unpatched" in capsys.readouterr().err
