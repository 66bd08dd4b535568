"""Moderator reviews: a verdict on a stored comment, and the counters that measure the model.

A review is one TransactWriteItems with two Update actions, so that the verdict and the
counters never disagree:

1. the comment item: SET verdict, reviewed_at, reviewer and review_note; REMOVE the
   review-queue attributes. Its condition says that the item is still the comment that was
   read (a comment, with the label read) and that its previous verdict is the one read;
2. the counter item ``stats#reviews``: ADD 1 to the bucket of the new verdict and -1 to the
   bucket of the replaced one, for all models and for the comment's model.

A second review of the same comment therefore moves the counters from the old bucket to the
new one exactly once, and a review that repeats the stored verdict changes no counter. If
another review lands between the read and the write, the condition fails, nothing is applied,
and the review is read and tried again. The ClientRequestToken, derived from the actions,
makes an SDK retry of a transaction that did commit a no-op (DynamoDB keeps tokens 10 min).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import schema
from chalicelib.errors import BodyTooLarge, StorageError, ValidationError
from chalicelib.repository import _from_ddb, public
from chalicelib.retry import Backoff
from chalicelib.transactions import add_counters, retry_reason, token_of, unchanged_since_read

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_NOTE_CHARS = 500
#: A note of 500 characters, each escaped as a JSON surrogate pair, is 6,000 bytes.
MAX_BODY_BYTES = 8192
#: Longest reviewer identity stored (an IAM ARN is at most 2,048 characters).
MAX_REVIEWER_CHARS = 2048
BUCKETS = ("hate_confirmed", "hate_overturned", "nothate_confirmed", "nothate_overturned")
#: Per-model counters are attributes named "<model id>|<bucket>" on the one counter item,
#: so that GET /stats reads every model's figures with one GetItem and no Scan.
MODEL_SEPARATOR = "|"
_BODY_FIELDS = frozenset({"verdict", "note"})


@dataclass(frozen=True)
class ReviewRequest:
    verdict: str  # "hate" | "nothate"
    note: str | None = None


def parse_review(raw: bytes | str | None) -> ReviewRequest:
    """Validate a POST /comments/{id}/review body; every failure names its field."""
    if raw is None or len(raw) == 0:
        raise ValidationError("body", 'a JSON object is required: {"verdict": "hate" | "nothate", "note": "..."}')
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_BODY_BYTES:
        raise BodyTooLarge(len(data), MAX_BODY_BYTES)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("body", "must be a JSON object") from None
    if not isinstance(doc, dict):
        raise ValidationError("body", "must be a JSON object")
    unknown = sorted(set(doc) - _BODY_FIELDS)
    if unknown:
        raise ValidationError(unknown[0], "unknown field; allowed: note, verdict")
    verdict = doc.get("verdict")
    if not isinstance(verdict, str) or verdict.strip().lower() not in schema.VERDICTS:
        raise ValidationError("verdict", f"must be one of {', '.join(schema.VERDICTS)}")
    note = doc.get("note")
    if note is not None and not isinstance(note, str):
        raise ValidationError("note", "must be a string")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise ValidationError("note", f"at most {MAX_NOTE_CHARS} characters (got {len(note)})")
    return ReviewRequest(verdict.strip().lower(), (note or "").strip() or None)


def reviewer_of(auth_mode: str, request_context: Mapping[str, Any] | None) -> str | None:
    """Who reviewed, when the auth mode tells: the API key's id (never the key) or the IAM ARN."""
    identity = (request_context or {}).get("identity") or {}
    if auth_mode == "api_key":
        value = identity.get("apiKeyId")
    elif auth_mode == "iam":
        value = identity.get("userArn")
    else:
        value = None
    return str(value)[:MAX_REVIEWER_CHARS] if value else None


def bucket(label: str, verdict: str) -> str:
    return f"{label}_{'confirmed' if verdict == label else 'overturned'}"


def counter_delta(label: str, model: str | None, old: str | None, new: str | None) -> dict[str, int]:
    """Counter changes when a comment's verdict goes from ``old`` to ``new`` (None: no verdict).

    The deletion sweep uses it with ``new=None`` to take a deleted comment's verdict back.
    """
    delta: dict[str, int] = {}
    for verdict, step in ((old, -1), (new, 1)):
        if verdict is None:
            continue
        names = [bucket(label, verdict)]
        if model:
            names.append(f"{model}{MODEL_SEPARATOR}{names[0]}")
        for name in names:
            delta[name] = delta.get(name, 0) + step
    return {name: step for name, step in delta.items() if step}


def precision(confirmed: int, overturned: int) -> float | None:
    """Share of the model's hate labels that moderators confirmed; None before any was reviewed."""
    reviewed = confirmed + overturned
    return round(confirmed / reviewed, 6) if reviewed else None


def _figures(counts: Mapping[str, int]) -> dict[str, Any]:
    block: dict[str, Any] = {name: int(counts.get(name, 0)) for name in BUCKETS}
    block["precision"] = precision(block["hate_confirmed"], block["hate_overturned"])
    return block


def figures_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """The ``reviews`` block of GET /stats from the counter item's attributes."""
    overall: dict[str, int] = {}
    per_model: dict[str, dict[str, int]] = {}
    for name, value in item.items():
        model, sep, name_bucket = name.rpartition(MODEL_SEPARATOR)
        if name_bucket not in BUCKETS:
            continue
        target = per_model.setdefault(model, {}) if sep else overall
        target[name_bucket] = int(value)
    answer = _figures(overall)
    answer["models"] = {m: _figures(c) for m, c in sorted(per_model.items())}
    return answer


class ReviewStore:
    """Writes reviews and reads the review counters (DynamoDB client in the constructor)."""

    def __init__(self, client: DynamoDBClient, table: str, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._backoff = backoff or Backoff(attempts=4)
        self._clock = clock

    def review(self, comment_id: str, request: ReviewRequest, reviewer: str | None) -> dict[str, Any] | None:
        """Store the verdict; the updated comment as GET /comments/{id} shows it, or None if unknown."""
        last = ""
        for _ in self._backoff.pauses():
            item = self._read(comment_id)
            if item is None or item.get(schema.KIND_ATTRIBUTE) != schema.KIND_COMMENT:
                return None
            label = item.get("label")
            if label not in schema.LABELS:
                raise StorageError(f"comment {comment_id} has no label to review")
            actions, updated = self._actions(item, request, reviewer)
            try:
                self._client.transact_write_items(TransactItems=actions, ClientRequestToken=token_of(actions))
            except ClientError as exc:
                # CHANGED: another review or a deletion came first; read the comment again.
                last = retry_reason(exc, f"review of {comment_id}")
                continue
            except BotoCoreError as exc:
                raise StorageError(f"review of {comment_id} failed: {exc}") from exc
            return public(updated)
        raise StorageError(f"review of {comment_id} still refused after retries: {last}")

    def figures(self) -> dict[str, Any]:
        try:
            response = self._client.get_item(TableName=self._table,
                                              Key={schema.PARTITION_KEY: {"S": schema.REVIEW_STATS_KEY}})
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot read the review counters: {exc}") from exc
        return figures_of(_from_ddb(response.get("Item") or {}))

    # -- helpers ---------------------------------------------------------------------------

    def _read(self, comment_id: str) -> dict[str, Any] | None:
        try:
            # Strongly consistent: the condition below is built from what this read returns.
            response = self._client.get_item(TableName=self._table, ConsistentRead=True,
                                              Key={schema.PARTITION_KEY: {"S": comment_id}})
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot read comment {comment_id}: {exc}") from exc
        raw = response.get("Item")
        return _from_ddb(raw) if raw else None

    def _actions(self, item: Mapping[str, Any], request: ReviewRequest, reviewer: str | None
                 ) -> tuple[list[Any], dict[str, Any]]:
        """The transaction for this review, and the item as it will be once it commits."""
        label, model, old = str(item["label"]), item.get("model"), item.get(schema.VERDICT_ATTRIBUTE)
        now = round(self._clock(), 3)
        condition, names, values = unchanged_since_read(label, str(old) if old is not None else None)
        names["#at"] = schema.REVIEWED_AT_ATTRIBUTE
        values.update({":v": {"S": request.verdict}, ":at": {"N": str(now)}})
        sets = ["#v = :v", "#at = :at"]
        removes: list[str] = []
        updated = dict(item)
        updated.update({schema.VERDICT_ATTRIBUTE: request.verdict, schema.REVIEWED_AT_ATTRIBUTE: now})
        # A second review replaces the first whole: a field it leaves out is removed, not kept.
        for attribute, alias, value in ((schema.REVIEW_NOTE_ATTRIBUTE, "#n", request.note),
                                        (schema.REVIEWER_ATTRIBUTE, "#r", reviewer)):
            names[alias] = attribute
            if value is None:
                removes.append(alias)
                updated.pop(attribute, None)
            else:
                values[":" + alias[1:]] = {"S": value}
                sets.append(f"{alias} = :{alias[1:]}")
                updated[attribute] = value
        for i, attribute in enumerate(schema.REVIEW_QUEUE_ATTRIBUTES):
            names[f"#q{i}"] = attribute
            removes.append(f"#q{i}")
            updated.pop(attribute, None)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        actions: list[Any] = [{"Update": {
            "TableName": self._table,
            "Key": {schema.PARTITION_KEY: {"S": str(item[schema.PARTITION_KEY])}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }}]
        delta = counter_delta(label, str(model) if model else None, str(old) if old else None, request.verdict)
        if delta:
            actions.append(add_counters(self._table, schema.REVIEW_STATS_KEY, delta))
        return actions, updated
