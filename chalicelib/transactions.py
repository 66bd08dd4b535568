"""Pieces shared by the writers that use one TransactWriteItems per change (reviews, deletions).

DynamoDB cancels a whole transaction when any condition fails or another transaction
touches the same item; the CancellationReasons list, in action order, says which.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import schema
from chalicelib.errors import StorageError

#: Cancellation reasons that mean "try the same transaction again a little later".
TRANSIENT_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
                               "RequestLimitExceeded"})
#: Error codes of the call itself that a retry with the same token may get past.
TRANSIENT_ERRORS = frozenset({"TransactionConflictException", "TransactionInProgressException",
                              "ProvisionedThroughputExceededException", "ThrottlingException",
                              "RequestLimitExceeded", "InternalServerError"})
#: What retry_reason() answers when the first action's condition failed: the item changed
#: since it was read, so read it again and build the transaction anew.
CHANGED = "changed"


def token_of(actions: list[Any]) -> str:
    """ClientRequestToken from the actions: a retried call with the same actions applies once."""
    return hashlib.sha256(json.dumps(actions, sort_keys=True).encode()).hexdigest()[:36]


def add_counters(table: str, key: str, delta: Mapping[str, int], expires: int | None = None) -> dict[str, Any]:
    """One Update action that ADDs each delta to its counter attribute of item ``key``.

    ``expires``: a TTL (epoch seconds) the item gets when it has none yet (hourly counters).
    """
    counters = sorted(delta)
    names = {f"#c{i}": name for i, name in enumerate(counters)}
    values = {f":c{i}": {"N": str(delta[name])} for i, name in enumerate(counters)}
    expression = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
    if expires is not None:
        names["#ttl"] = schema.TTL_ATTRIBUTE
        values[":ttl"] = {"N": str(expires)}
        expression += " SET #ttl = if_not_exists(#ttl, :ttl)"
    return {"Update": {
        "TableName": table,
        "Key": {schema.PARTITION_KEY: {"S": key}},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }}


def unchanged_since_read(label: str, verdict: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Condition that the item is still the comment read: a comment, with ``label`` and ``verdict``.

    (ConditionExpression, names, values); the names are ``#k``, ``#l``, ``#v`` (the verdict
    attribute), the values ``:kind``, ``:label`` and, with a verdict, ``:old``.
    """
    names = {"#k": schema.KIND_ATTRIBUTE, "#l": "label", "#v": schema.VERDICT_ATTRIBUTE}
    values: dict[str, Any] = {":kind": {"S": schema.KIND_COMMENT}, ":label": {"S": label}}
    condition = "#k = :kind AND #l = :label AND "
    if verdict is None:
        condition += "attribute_not_exists(#v)"
    else:
        condition += "#v = :old"
        values[":old"] = {"S": verdict}
    return condition, names, values


def retry_reason(exc: ClientError, what: str, also_transient: frozenset[str] = frozenset()) -> str:
    """CHANGED, another reason to try again, or StorageError when trying again cannot help."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    if code == "TransactionCanceledException":
        reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            return CHANGED
        if any(r in TRANSIENT_REASONS for r in reasons):
            return f"transaction cancelled ({', '.join(reasons)})"
        raise StorageError(f"{what} refused: {', '.join(reasons) or error.get('Message')}") from exc
    if code in TRANSIENT_ERRORS | also_transient:
        return code
    raise StorageError(f"{what} failed: {code}: {error.get('Message', '')}") from exc
