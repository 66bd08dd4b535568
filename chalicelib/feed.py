"""GET /comments reads: which index serves a query, and an exact newest-first merge of its shards.

Every filter is served by Query (never Scan) on one index of chalicelib.schema. An
index whose writes are sharded is read as a k-way merge: each shard is queried
newest first, and the page takes the newest head of all shards until it is full.
The cursor holds, per shard, the key of the last item the page took from it (or
"done"), so the next page resumes every shard exactly where this one stopped: no
item is skipped or served twice, whatever the ties in ``created_utc``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib import schema
from chalicelib.models import CommentQuery, Page

#: Query calls one request may make in all (shards included) before it returns what it has.
MAX_QUERY_CALLS = 24
#: A filter that keeps few items reads pages of at least this many per call.
SELECTIVE_LIMIT = 50
DONE = "done"


@dataclass(frozen=True)
class Plan:
    index: str
    partition_attribute: str
    partitions: tuple[str, ...]
    #: FilterExpression parts, with their names and values (empty: no filter).
    filters: tuple[str, ...] = ()
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    #: True when the filter may keep only a small share of what the index holds.
    selective: bool = False
    #: A query that can match nothing (e.g. label=nothate with min_score above 0.5).
    empty: bool = False


def plan(q: CommentQuery) -> Plan:
    """The index, partitions and filter that serve ``q``."""
    filters: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    selective = False

    def where(expression: str, name: str, attribute: str, value: Any = None, *, sparse: bool) -> None:
        nonlocal selective
        names[name] = attribute
        if value is not None:
            values[expression.rsplit(maxsplit=1)[-1]] = value
        filters.append(expression)
        selective = selective or sparse

    hate_only = q.label == "hate" or (q.min_score is not None and q.min_score > 0.5)
    if q.label == "nothate" and q.min_score is not None and q.min_score > 0.5:
        # p_hate > 0.5 is exactly what makes the label hate.
        return Plan(schema.INDEX_FEED, schema.FEED_ATTRIBUTE, (), empty=True)
    if q.reviewed is True:
        index, partitions = schema.INDEX_REVIEWED, tuple(schema.VERDICTS)
        if q.label is not None:
            where("#l = :l", "#l", "label", {"S": q.label}, sparse=False)
        if q.subreddit is not None:
            where("#s = :s", "#s", "subreddit", {"S": q.subreddit}, sparse=True)
    elif hate_only and q.reviewed is False:
        index, partitions = schema.INDEX_REVIEW_QUEUE, tuple(schema.review_queue_keys())
        if q.subreddit is not None:
            where("#s = :s", "#s", "subreddit", {"S": q.subreddit}, sparse=True)
    elif hate_only and q.subreddit is not None:
        # Same read work as before the redesign: the subreddit's items, filtered on the label.
        index, partitions = schema.INDEX_BY_SUBREDDIT, tuple(schema.subreddit_keys(q.subreddit))
        where("#l = :l", "#l", "label", {"S": "hate"}, sparse=True)
    elif hate_only:
        index, partitions = schema.INDEX_HATE, tuple(schema.hate_keys())
    else:
        if q.subreddit is not None:
            index, partitions = schema.INDEX_BY_SUBREDDIT, tuple(schema.subreddit_keys(q.subreddit))
        else:
            index, partitions = schema.INDEX_FEED, tuple(schema.feed_keys())
        if q.label == "nothate":
            where("#l = :l", "#l", "label", {"S": "nothate"}, sparse=False)
        if q.reviewed is False:
            where("attribute_not_exists(#v)", "#v", schema.VERDICT_ATTRIBUTE, sparse=False)
    if q.min_score is not None:
        where("#h >= :h", "#h", schema.P_HATE_ATTRIBUTE, {"N": repr(q.min_score)},
              sparse=False)  # unknown share: refills read on, within MAX_QUERY_CALLS
    return Plan(index, schema.INDEXES[index], partitions, tuple(filters), names, values, selective)


def _order(item: dict[str, Any]) -> tuple[float, str]:
    return float(item[schema.SORT_ATTRIBUTE]), str(item[schema.PARTITION_KEY])


class _Shard:
    def __init__(self, partition: str, start: dict[str, Any] | None) -> None:
        self.partition = partition
        self.start = start  # where the next Query begins (None: from the newest)
        self.resume = start  # where the next page begins: after the last item taken
        self.buffer: deque[dict[str, Any]] = deque()
        self.exhausted = False


class ShardedReader:
    """Runs a Plan: ``query`` is a Query call taking plain keys and returning plain items."""

    def __init__(self, query: Callable[..., dict[str, Any]], table: str) -> None:
        self._query = query
        self._table = table

    def page(self, q: CommentQuery) -> Page:
        p = plan(q)
        if p.empty:
            return Page([], None)
        state = q.start_key or {}
        shards = [_Shard(part, None if state.get(part) is None else state[part])
                  for part in p.partitions if state.get(part) != DONE]
        self._calls = 0
        # A fair share per shard plus a margin: a shard that holds more of the page is read again.
        first = max(math.ceil(q.limit / max(1, len(shards))) + 3, SELECTIVE_LIMIT if p.selective else 0)
        for shard in shards:
            self._fill(p, q, shard, first)
        items: list[dict[str, Any]] = []
        while len(items) < q.limit:
            if not self._refill(p, q, shards, q.limit - len(items) + 1):
                break  # out of Query calls: return what is certain so far
            ready = [s for s in shards if s.buffer]
            if not ready:
                break
            shard = max(ready, key=lambda s: _order(s.buffer[0]))
            item = shard.buffer.popleft()
            shard.resume = self._key_of(item, p.partition_attribute)
            items.append(item)
        # A cursor only when an item is known to follow: one already read, or (read on) found.
        if not any(s.buffer for s in shards):
            self._refill(p, q, shards, 1)
        more = any(s.buffer or not s.exhausted for s in shards)
        if not more:
            return Page(items, None)
        cursor: dict[str, Any] = {part: DONE for part in p.partitions}
        for s in shards:
            if s.buffer or not s.exhausted:
                cursor[s.partition] = s.resume
        return Page(items, cursor)

    def _refill(self, p: Plan, q: CommentQuery, shards: list[_Shard], limit: int) -> bool:
        """Read every shard that has nothing buffered until it has, or is exhausted."""
        for shard in shards:
            while not shard.buffer and not shard.exhausted:
                if self._calls >= MAX_QUERY_CALLS:
                    return False
                self._fill(p, q, shard, max(limit, SELECTIVE_LIMIT if p.selective else 0))
        return True

    def _fill(self, p: Plan, q: CommentQuery, shard: _Shard, limit: int) -> None:
        names = {"#p": p.partition_attribute, **p.names}
        values: dict[str, Any] = {":p": {"S": shard.partition}, **p.values}
        condition = "#p = :p"
        if q.since is not None or q.until is not None:
            names["#t"] = schema.SORT_ATTRIBUTE
        if q.since is not None and q.until is not None:
            values[":t0"], values[":t1"] = {"N": str(q.since)}, {"N": str(q.until)}
            condition += " AND #t BETWEEN :t0 AND :t1"
        elif q.since is not None:
            values[":t0"] = {"N": str(q.since)}
            condition += " AND #t >= :t0"
        elif q.until is not None:
            values[":t1"] = {"N": str(q.until)}
            condition += " AND #t <= :t1"
        params: dict[str, Any] = {
            "TableName": self._table, "IndexName": p.index, "KeyConditionExpression": condition,
            "ScanIndexForward": False, "Limit": limit, "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if p.filters:
            params["FilterExpression"] = " AND ".join(p.filters)
        if shard.start is not None:
            params["ExclusiveStartKey"] = shard.start
        self._calls += 1
        response = self._query(**params)
        shard.buffer.extend(response.get("Items", []))
        shard.start = response.get("LastEvaluatedKey")
        shard.exhausted = shard.start is None

    @staticmethod
    def _key_of(item: dict[str, Any], partition_attribute: str) -> dict[str, Any]:
        return {k: item[k] for k in (schema.PARTITION_KEY, schema.SORT_ATTRIBUTE, partition_attribute)}
