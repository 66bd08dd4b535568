"""DynamoDB repository: labeled comments, counters, checkpoints and leases.

Reads for the REST API use Query on the sparse indexes in chalicelib.schema,
never Scan (chalicelib.feed plans them). Missing items come back as None;
app.py turns that into 404.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import hate_rate, schema, transactions
from chalicelib.errors import PartialWriteError, StorageError
from chalicelib.feed import ShardedReader
from chalicelib.models import Attempts, Checkpoint, CommentQuery, LabeledComment, Page
from chalicelib.retry import Backoff

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

# DynamoDB limits: BatchWriteItem 25 requests, BatchGetItem 100 keys per call.
WRITE_BATCH = 25
GET_BATCH = 100
#: TransactWriteItems takes at most 100 actions.
TRANSACTION_ITEMS = 100
#: Public fields of a stored comment, in API order.
PUBLIC_FIELDS = schema.PUBLIC_FIELDS

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_ddb(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_number(v) if isinstance(v, float) else v)
            for k, v in value.items() if v is not None}


def _from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    """Decimal -> int/float so items serialise to JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _number(value: float) -> Decimal:
    # Decimal(str()) keeps what the user sees; Decimal(float) would carry binary noise.
    return Decimal(str(round(value, 6)))


def to_item(labeled: LabeledComment, retention_days: int) -> dict[str, Any]:
    c, p = labeled.comment, labeled.prediction
    subreddit = c.subreddit.lower()  # Reddit names are case-insensitive; so are the indexes
    item: dict[str, Any] = {
        schema.PARTITION_KEY: c.id,
        schema.KIND_ATTRIBUTE: schema.KIND_COMMENT,
        "fullname": c.fullname,
        "subreddit": subreddit,
        "author": c.author,
        "body": c.body,
        schema.SORT_ATTRIBUTE: _number(c.created_utc),
        "permalink": c.permalink,
        "link_id": c.link_id or None,
        "parent_id": c.parent_id or None,
        "label": p.label,
        "score": _number(p.score),
        schema.P_HATE_ATTRIBUTE: _number(schema.p_hate(p.label, p.score)),
        "model": p.model,
        "ingested_at": _number(c.ingested_at),
        "classified_at": _number(labeled.classified_at),
        **schema.index_keys(c.id, subreddit, p.label),
    }
    expires = schema.expiry(labeled.classified_at, retention_days)
    if expires is not None:
        item[schema.TTL_ATTRIBUTE] = expires
    return item


def public(item: dict[str, Any]) -> dict[str, Any]:
    """The API view of a stored comment: no bookkeeping attributes.

    Items stored before p_hate existed get it derived from their label and score.
    """
    view = {k: item.get(k) for k in PUBLIC_FIELDS}
    score = view.get("score")
    if view[schema.P_HATE_ATTRIBUTE] is None and view.get("label") in schema.LABELS and score is not None:
        view[schema.P_HATE_ATTRIBUTE] = round(schema.p_hate(str(view["label"]), float(score)), 6)
    return view


class CommentRepository:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        tracked_subreddits: Sequence[str] = (),
    ) -> None:
        self._client = client
        self._table = table
        self._backoff = backoff or Backoff()
        self._clock = clock
        # The configured subreddits: each gets hourly counters of its own (chalicelib.hate_rate).
        self._tracked = tuple(s.lower() for s in tracked_subreddits)

    # -- writes -------------------------------------------------------------

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are stored already (BatchGetItem, 100 keys a call)."""
        # Strongly consistent: an item written a moment ago by another delivery counts.
        wanted = list(dict.fromkeys(ids))
        return {i[schema.PARTITION_KEY] for i in self._batch_get(wanted, consistent=True, projection=True)}

    def put_labeled(self, labeled: Sequence[LabeledComment], retention_days: int) -> None:
        """Store comments (BatchWriteItem, 25 a call), retrying UnprocessedItems with backoff."""
        self._batch_write([to_item(x, retention_days) for x in labeled])

    def add_counts(self, labeled: Sequence[LabeledComment]) -> None:
        """Bump the label counters (overall and per subreddit) that GET /stats reads.

        One TransactWriteItems for up to 100 counter items: one call instead of
        one UpdateItem per subreddit, all counters move together, and the
        ClientRequestToken (derived from the comment ids) makes a retried call
        count once.
        """
        per_key: dict[str, Counter[str]] = {}
        expires: dict[str, int] = {}  # hourly items only: they expire, the totals do not
        for x in labeled:
            for key in (schema.stats_key(None), schema.stats_key(x.comment.subreddit)):
                per_key.setdefault(key, Counter())[x.prediction.label] += 1
            hour_start = int(x.comment.created_utc) // hate_rate.HOUR_S * hate_rate.HOUR_S
            for series in hate_rate.series_of(x.comment.subreddit, self._tracked):
                key = hate_rate.hourly_key(hate_rate.hour_of(hour_start), series)
                per_key.setdefault(key, Counter())[x.prediction.label] += 1
                expires[key] = hour_start + hate_rate.HOURLY_TTL_S
        keys = sorted(per_key)
        ids = ",".join(sorted(x.comment.id for x in labeled))
        for start in range(0, len(keys), TRANSACTION_ITEMS):
            actions = [transactions.add_counters(self._table, key, per_key[key], expires.get(key))
                       for key in keys[start : start + TRANSACTION_ITEMS]]
            token = hashlib.sha256(f"{start}|{ids}".encode()).hexdigest()[:36]
            self._transact(actions, token)

    def _transact(self, actions: list[Any], token: str) -> None:
        last = ""
        for _ in self._backoff.pauses():
            try:
                self._client.transact_write_items(TransactItems=actions, ClientRequestToken=token)
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                # Another Lambda touched the same counter at that instant: nothing was
                # applied, and the token keeps a retry from counting twice.
                if code not in ("TransactionCanceledException", "TransactionConflictException",
                                "TransactionInProgressException"):
                    raise StorageError(f"dynamodb transact_write_items failed: {exc}") from exc
                last = code
            except BotoCoreError as exc:
                raise StorageError(f"dynamodb transact_write_items failed: {exc}") from exc
        raise StorageError(f"counter transaction still refused after retries: {last}")

    def counters(self, keys: Sequence[str]) -> dict[str, dict[str, int]]:
        """Label counts of the counter items ``keys`` (BatchGetItem); absent items are left out."""
        return {str(item[schema.PARTITION_KEY]): {label: int(item.get(label, 0)) for label in schema.LABELS}
                for item in self._batch_get(list(dict.fromkeys(keys)))}

    # -- checkpoints and leases ------------------------------------------------

    def get_checkpoint(self, subreddit: str) -> Checkpoint | None:
        return self.get_checkpoints([subreddit]).get(subreddit)

    def get_checkpoints(self, subreddits: Sequence[str]) -> dict[str, Checkpoint]:
        """Checkpoints of all ``subreddits`` in one BatchGetItem (up to 100 at a time)."""
        by_key = {schema.checkpoint_key(s): s for s in subreddits}
        found: dict[str, Checkpoint] = {}
        for item in self._batch_get(list(by_key), consistent=True):
            subreddit = by_key[item[schema.PARTITION_KEY]]
            found[subreddit] = Checkpoint(subreddit, str(item["last_id"]), float(item["last_created_utc"]))
        return found

    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.put_checkpoints([checkpoint])

    def put_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Write checkpoints with BatchWriteItem (one call for up to 25 subreddits)."""
        now = _number(self._clock())
        self._batch_write([
            {schema.PARTITION_KEY: schema.checkpoint_key(c.subreddit), "last_id": c.last_id,
             "last_created_utc": _number(c.last_created_utc), "updated_at": now}
            for c in checkpoints
        ])

    def acquire_lease(self, name: str, owner: str, seconds: int) -> bool:
        """Take a named lease unless someone else holds an unexpired one."""
        now = int(self._clock())
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_to_ddb({schema.PARTITION_KEY: schema.LEASE_PREFIX + name, "owner": owner,
                              schema.TTL_ATTRIBUTE: now + seconds}),
                ConditionExpression="attribute_not_exists(#k) OR #t < :now",
                ExpressionAttributeNames={"#k": schema.PARTITION_KEY, "#t": schema.TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"cannot take lease {name}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot take lease {name}: {exc}") from exc
        return True

    def release_lease(self, name: str, owner: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={schema.PARTITION_KEY: {"S": schema.LEASE_PREFIX + name}},
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": owner}},
            )
        except ClientError as exc:
            # Someone took over an expired lease: theirs to release. Ours expires anyway.
            log.warning("lease not released", extra={"lease": name, "error": exc.response.get("Error", {})})

    # -- completion and attempt records of raw objects --------------------------

    def mark_done(self, uri: str, expires_at: int | None) -> None:
        """Record that every line of ``uri`` is stored or quarantined."""
        item: dict[str, Any] = {schema.PARTITION_KEY: schema.DONE_PREFIX + uri, "done_at": _number(self._clock())}
        if expires_at is not None:
            item[schema.TTL_ATTRIBUTE] = expires_at
        call(self._client.put_item, TableName=self._table, Item=_to_ddb(item))

    def done(self, uris: Sequence[str]) -> set[str]:
        """Which of ``uris`` have a completion record (strongly consistent BatchGetItem)."""
        keys = [schema.DONE_PREFIX + u for u in dict.fromkeys(uris)]
        return {str(i[schema.PARTITION_KEY]).removeprefix(schema.DONE_PREFIX)
                for i in self._batch_get(keys, consistent=True, projection=True)}

    def attempts(self, uris: Sequence[str]) -> dict[str, Attempts]:
        keys = [schema.ATTEMPTS_PREFIX + u for u in dict.fromkeys(uris)]
        return {str(i[schema.PARTITION_KEY]).removeprefix(schema.ATTEMPTS_PREFIX):
                Attempts(int(i.get("attempts", 0)), float(i.get("next_at", 0)), str(i.get("last_error", "")))
                for i in self._batch_get(keys, consistent=True)}

    def record_failure(self, uri: str, error: str, next_at: float, expires_at: int | None) -> int:
        """Count one more failed try on ``uri``; returns the new count (one atomic UpdateItem)."""
        names = {"#a": "attempts", "#n": "next_at", "#e": "last_error"}
        values: dict[str, Any] = {":one": {"N": "1"}, ":n": {"N": str(_number(next_at))},
                                  ":e": {"S": error[:500] or "unknown"}}
        update = "ADD #a :one SET #n = :n, #e = :e"
        if expires_at is not None:
            names["#t"] = schema.TTL_ATTRIBUTE
            values[":t"] = {"N": str(expires_at)}
            update += ", #t = :t"
        response = call(
            self._client.update_item, TableName=self._table,
            Key={schema.PARTITION_KEY: {"S": schema.ATTEMPTS_PREFIX + uri}}, UpdateExpression=update,
            ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["attempts"]["N"])

    def clear_attempts(self, uri: str) -> None:
        call(self._client.delete_item, TableName=self._table,
             Key={schema.PARTITION_KEY: {"S": schema.ATTEMPTS_PREFIX + uri}})

    # -- reads -----------------------------------------------------------------

    def get_comment(self, comment_id: str) -> dict[str, Any] | None:
        item = self._get(comment_id)
        if not item or item.get(schema.KIND_ATTRIBUTE) != schema.KIND_COMMENT:
            return None
        return public(item)

    def query(self, q: CommentQuery) -> Page:
        """Newest first through the index that matches the filters (never a Scan)."""
        page = ShardedReader(self._query_call, self._table).page(q)
        return Page([public(i) for i in page.items], page.last_key)

    def _query_call(self, **params: Any) -> dict[str, Any]:
        if "ExclusiveStartKey" in params:
            params["ExclusiveStartKey"] = _to_ddb(params["ExclusiveStartKey"])
        response = call(self._client.query, **params)
        last = response.get("LastEvaluatedKey")
        return {"Items": [_from_ddb(i) for i in response.get("Items", [])],
                "LastEvaluatedKey": _from_ddb(last) if last else None}

    def stats(self, subreddit: str | None = None) -> dict[str, int]:
        item = self._get(schema.stats_key(subreddit)) or {}
        return {label: int(item.get(label, 0)) for label in schema.LABELS}

    def export(self, since: float | None = None, subreddit: str | None = None,
               page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every stored comment (newest first), for reports: paginated index queries."""
        start: dict[str, Any] | None = None
        while True:
            page = self.query(CommentQuery(subreddit=subreddit, since=since,
                                           limit=page_size, start_key=start))
            yield from page.items
            if page.last_key is None:
                return
            start = page.last_key

    # -- helpers ---------------------------------------------------------------

    def _batch_get(self, keys: list[str], consistent: bool = False, projection: bool = False
                   ) -> Iterator[dict[str, Any]]:
        for start in range(0, len(keys), GET_BATCH):
            request: dict[str, Any] = {
                "Keys": [{schema.PARTITION_KEY: {"S": k}} for k in keys[start : start + GET_BATCH]],
                "ConsistentRead": consistent,
            }
            if projection:
                request["ProjectionExpression"] = "#k"
                request["ExpressionAttributeNames"] = {"#k": schema.PARTITION_KEY}
            for _ in self._backoff.pauses():
                response = call(self._client.batch_get_item, RequestItems={self._table: request})
                yield from (_from_ddb(i) for i in response["Responses"].get(self._table, []))
                unprocessed = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not unprocessed:
                    break
                request = {**request, "Keys": unprocessed}
            else:
                raise StorageError(f"{len(request['Keys'])} keys still unprocessed by BatchGetItem")

    def _batch_write(self, items: Sequence[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks of 25, retrying UnprocessedItems with backoff.

        When the retries run out, PartialWriteError names every item that *was*
        written (all earlier chunks, and the processed part of this one), so the
        caller can count exactly what is stored.
        """
        written: list[str] = []
        for start in range(0, len(items), WRITE_BATCH):
            chunk = items[start : start + WRITE_BATCH]
            requests: list[Any] = [{"PutRequest": {"Item": _to_ddb(i)}} for i in chunk]
            for _ in self._backoff.pauses():
                try:
                    response = call(self._client.batch_write_item, RequestItems={self._table: requests})
                except StorageError as exc:
                    # The failed call may or may not have written its requests: ask.
                    raise PartialWriteError(str(exc), written + self._done(chunk, requests)
                                            + self._stored_anyway(requests)) from exc
                requests = response.get("UnprocessedItems", {}).get(self._table, [])
                if not requests:
                    break
                log.warning("dynamodb unprocessed items, retrying", extra={"count": len(requests)})
            else:
                raise PartialWriteError(f"{len(requests)} items still unprocessed by BatchWriteItem",
                                        written + self._done(chunk, requests))
            written += [str(i[schema.PARTITION_KEY]) for i in chunk]

    def _stored_anyway(self, requests: list[Any]) -> list[str]:
        keys = [r["PutRequest"]["Item"][schema.PARTITION_KEY]["S"] for r in requests]
        try:
            return sorted(self.existing_ids(keys))
        except StorageError:
            log.warning("cannot tell whether a failed BatchWriteItem wrote its items", extra={"count": len(keys)})
            return []

    @staticmethod
    def _done(chunk: Sequence[dict[str, Any]], unprocessed: list[Any]) -> list[str]:
        """Keys of ``chunk`` that are not among the still-unprocessed requests."""
        left = {r["PutRequest"]["Item"][schema.PARTITION_KEY]["S"] for r in unprocessed}
        return [str(i[schema.PARTITION_KEY]) for i in chunk if str(i[schema.PARTITION_KEY]) not in left]

    def _get(self, key: str, consistent: bool = False) -> dict[str, Any] | None:
        return get_item(self._client, self._table, key, consistent)


def call(method: Callable[..., Any], **kwargs: Any) -> Any:
    """``method(**kwargs)`` with the client's errors as StorageError naming the operation."""
    try:
        return method(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"dynamodb {getattr(method, '__name__', 'call')} failed: {exc}") from exc


def get_item(client: DynamoDBClient, table: str, key: str, consistent: bool = False) -> dict[str, Any] | None:
    """The item with partition key ``key`` (plain values), or None."""
    response = call(client.get_item, TableName=table, Key={schema.PARTITION_KEY: {"S": key}},
                    ConsistentRead=consistent)
    item = response.get("Item")
    return _from_ddb(item) if item else None
