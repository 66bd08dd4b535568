"""Deleting stored comments with their counters, exactly once (the deletion sweep and forget requests).

One TransactWriteItems per comment:

1. a Put that replaces the comment's item with a *tombstone*: the id, when and why it was deleted,
   and an expiry, nothing of the text or the author. Its condition says that the item is still
   the comment that was read (a comment, with the label and the verdict read). The tombstone is
   in no index, GET /comments/{id} answers 404 for it, and it keeps a redelivered S3 event or a
   replayed raw object from storing (and counting) the comment again: the pipeline skips ids that
   are stored already. It expires with the raw objects that could bring the comment back;
2. ``ADD -1`` to the comment's label on the counters for all and for its subreddit (GET /stats);
3. when the comment had a moderator's verdict, the review counters taken back
   (``reviews.counter_delta(..., new=None)``).

If the condition fails, the transaction is cancelled and nothing moved: the item is read again.
Gone (a tombstone, TTL, or another sweep was first) means nothing to do; a changed verdict or label
means the transaction is built anew from what is stored now. The ClientRequestToken, derived from
the actions, makes an SDK retry of a transaction that did commit a no-op (DynamoDB keeps tokens
for 10 minutes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import reviews, schema
from chalicelib.errors import StorageError
from chalicelib.models import StoredRef
from chalicelib.repository import _from_ddb, _to_ddb, call, get_item
from chalicelib.retry import Backoff
from chalicelib.sweep import Deletion, StoredPage, SweepCursor
from chalicelib.transactions import CHANGED, add_counters, retry_reason, token_of, unchanged_since_read

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

#: Bookkeeping item that holds the sweep's position.
SWEEP_CURSOR_KEY = "sweep#cursor"
TOMBSTONE_ATTRIBUTE = "tombstone"  # why the comment was deleted: deleted, removed, author gone, forget ...
DELETED_AT_ATTRIBUTE = "deleted_at"
#: Attributes a ref is built from (every index projects them).
_REF_FIELDS = ("comment_id", "subreddit", "label", "model", schema.VERDICT_ATTRIBUTE)


def ref_of(item: Mapping[str, Any]) -> StoredRef | None:
    """The ref of a stored comment item, or None when the item is not a labeled comment."""
    if item.get(schema.KIND_ATTRIBUTE, schema.KIND_COMMENT) != schema.KIND_COMMENT or TOMBSTONE_ATTRIBUTE in item:
        return None
    label = item.get("label")
    if label not in schema.LABELS or not item.get("subreddit"):
        return None
    verdict = item.get(schema.VERDICT_ATTRIBUTE)
    model = item.get("model")
    return StoredRef(str(item[schema.PARTITION_KEY]), str(item["subreddit"]), str(label),
                     str(model) if model else None, str(verdict) if verdict else None)


def sweep_partitions() -> list[tuple[str, str, str]]:
    """(index, partition attribute, partition value) the sweep walks, in turn, oldest first.

    The shards of the feed index: every comment is in exactly one, so one walk over all of
    them checks each comment once.
    """
    return [(schema.INDEX_FEED, schema.FEED_ATTRIBUTE, key) for key in schema.feed_keys()]


class DeletionStore:
    """Implements the sweep's store seam; forget uses ``refs`` and ``delete_comments`` too."""

    def __init__(self, client: DynamoDBClient, table: str, retention_days: int = 0,
                 backoff: Backoff | None = None, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._retention_days = retention_days
        self._backoff = backoff or Backoff(attempts=5)
        self._clock = clock

    # -- the sweep's position ------------------------------------------------------------------

    def sweep_cursor(self) -> SweepCursor:
        item = self._get(SWEEP_CURSOR_KEY) or {}
        after = item.get("after")
        partition = int(item.get("partition", 0))
        if partition >= len(sweep_partitions()):  # the partitions changed since it was saved
            return SweepCursor(0, None, int(item.get("passes", 0)))
        return SweepCursor(partition, dict(after) if isinstance(after, dict) else None, int(item.get("passes", 0)))

    def save_sweep_cursor(self, cursor: SweepCursor) -> None:
        item: dict[str, Any] = {schema.PARTITION_KEY: SWEEP_CURSOR_KEY, "partition": cursor.partition,
                                "passes": cursor.passes, "updated_at": int(self._clock())}
        if cursor.after:
            item["after"] = cursor.after
        call(self._client.put_item, TableName=self._table, Item=_to_ddb(item))

    def stored_page(self, cursor: SweepCursor, limit: int) -> StoredPage:
        """Up to ``limit`` stored comments after ``cursor``, oldest first (Query on the indexes, no Scan)."""
        partitions = sweep_partitions()
        number, after = cursor.partition, cursor.after
        refs: list[StoredRef] = []
        while len(refs) < limit:
            index, attribute, value = partitions[number]
            params: dict[str, Any] = {
                "TableName": self._table, "IndexName": index, "ScanIndexForward": True,
                "KeyConditionExpression": "#p = :p", "Limit": limit - len(refs),
                "ExpressionAttributeNames": {"#p": attribute, **{f"#f{i}": f for i, f in enumerate(_REF_FIELDS)}},
                "ExpressionAttributeValues": {":p": {"S": value}},
                "ProjectionExpression": ", ".join(f"#f{i}" for i in range(len(_REF_FIELDS))) + ", #p, #t",
            }
            params["ExpressionAttributeNames"]["#t"] = schema.SORT_ATTRIBUTE
            if after:
                params["ExclusiveStartKey"] = _to_ddb(after)
            response = call(self._client.query, **params)
            for raw in response.get("Items", []):
                ref = ref_of(_from_ddb(raw))
                if ref is not None:
                    refs.append(ref)
            last = response.get("LastEvaluatedKey")
            if last:
                after = _from_ddb(last)
                continue
            # This partition is done: the next one, or the pass is complete.
            number, after = number + 1, None
            if number == len(partitions):
                return StoredPage(refs, SweepCursor(0, None, cursor.passes), wrapped=True)
        return StoredPage(refs, SweepCursor(number, after, cursor.passes), wrapped=False)

    # -- deleting --------------------------------------------------------------------------------

    def refs(self, comment_ids: Sequence[str]) -> dict[str, StoredRef]:
        """The stored comments among ``comment_ids`` (strongly consistent reads)."""
        found: dict[str, StoredRef] = {}
        for cid in dict.fromkeys(comment_ids):
            item = self._get(cid)
            ref = ref_of(item) if item else None
            if ref is not None:
                found[cid] = ref
        return found

    def delete_comments(self, refs: Sequence[StoredRef], reason: str | Mapping[str, str] = "deleted") -> Deletion:
        """Delete each comment with its counters; ``reason`` is one for all, or per comment id."""
        deleted: list[str] = []
        already: list[str] = []
        for ref in refs:
            why = reason if isinstance(reason, str) else reason.get(ref.comment_id, "deleted")
            (deleted if self._delete(ref, why) else already).append(ref.comment_id)
        return Deletion(tuple(deleted), tuple(already))

    def _delete(self, ref: StoredRef, reason: str) -> bool:
        """True when this call deleted the comment, False when it was gone already."""
        current: StoredRef | None = ref
        last = ""
        # One timestamp for every attempt: the same actions keep the same token across retries.
        now = int(self._clock())
        for _ in self._backoff.pauses():
            if current is None:
                return False
            actions = self._actions(current, reason, now)
            try:
                self._client.transact_write_items(TransactItems=actions, ClientRequestToken=token_of(actions))
                return True
            except ClientError as exc:
                # The token carries this deletion's timestamp: a retry after a lost answer can meet
                # IdempotentParameterMismatch only if the actions changed, and is then read anew.
                last = retry_reason(exc, f"deleting comment {ref.comment_id}",
                                    frozenset({"IdempotentParameterMismatchException"}))
                if last == CHANGED:
                    item = self._get(ref.comment_id)
                    current = ref_of(item) if item else None
            except BotoCoreError as exc:
                raise StorageError(f"deleting comment {ref.comment_id} failed: {exc}") from exc
        if current is None:
            return False
        raise StorageError(f"deleting comment {ref.comment_id} still refused after retries: {last}")

    def _actions(self, ref: StoredRef, reason: str, now: int) -> list[Any]:
        tombstone: dict[str, Any] = {schema.PARTITION_KEY: ref.comment_id, TOMBSTONE_ATTRIBUTE: reason,
                                     DELETED_AT_ATTRIBUTE: now}
        expires = schema.expiry(now, self._retention_days)
        if expires is not None:
            tombstone[schema.TTL_ATTRIBUTE] = expires
        condition, names, values = unchanged_since_read(ref.label, ref.verdict)
        actions: list[Any] = [{"Put": {
            "TableName": self._table, "Item": _to_ddb(tombstone), "ConditionExpression": condition,
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
        }}]
        for key in (schema.stats_key(None), schema.stats_key(ref.subreddit)):
            actions.append(add_counters(self._table, key, {ref.label: -1}))
        if ref.verdict is not None:
            # The moderator's verdict leaves the review figures with the comment.
            delta = reviews.counter_delta(ref.label, ref.model, ref.verdict, None)
            if delta:
                actions.append(add_counters(self._table, schema.REVIEW_STATS_KEY, delta))
        return actions

    # -- helpers -----------------------------------------------------------------------------------

    def _get(self, key: str) -> dict[str, Any] | None:
        # Strongly consistent: a deletion's condition is built from what this read returns.
        return get_item(self._client, self._table, key, consistent=True)
