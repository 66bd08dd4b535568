"""Names shared by the app, deploy_model.py, the offline tools and the report.

One DynamoDB table, keyed by ``comment_id``, holds labeled comments plus a few
bookkeeping items whose partition key carries a ``#`` (comment ids never do):
per-subreddit ingestion checkpoints, label counters, short leases, and
per-object completion and attempt records. The bookkeeping items have none of
the index key attributes below, so every index is sparse and only ever holds
comments.

Table design (the cost and throughput arithmetic is in bench/README.md)
-----------------------------------------------------------------------
The API has three independent orderings, and each needs its own physical copy:

* by comment id: the table itself (GetItem, and the strongly consistent
  BatchGetItem that skips comments stored already);
* every comment, newest first: ``feed-index``, partition ``feed`` =
  ``f#<shard>`` with FEED_SHARDS write shards chosen from a hash of the comment
  id, so no key value takes more than ~1/FEED_SHARDS of the writes. A page is an
  exact k-way merge of the shards (the cursor holds one position per shard);
* one subreddit, newest first: ``subreddit-shard-index``, partition
  ``sub_shard`` = ``<subreddit>#<shard>`` (SUBREDDIT_SHARDS shards per
  subreddit, merged the same way).

Small sparse indexes serve what moderators look at, at a fraction of a write
per comment: ``hate-index`` (partition ``hate_shard``, hate-labelled comments
only), ``review-queue-index`` (partition ``review_queue``, hate-labelled
comments nobody has reviewed yet) and ``reviewed-index`` (partition
``verdict``, reviewed comments only). ``label=nothate`` is the feed with a
FilterExpression: ~95 % of comments pass it. Every index sorts on
``created_utc`` and projects PUBLIC_FIELDS only (INCLUDE), never the
bookkeeping attributes.

Review contract (the writer of POST /comments/{id}/review)
-----------------------------------------------------------
One UpdateItem on the comment's item, conditioned on ``attribute_exists(comment_id)``:
``SET`` VERDICT (one of VERDICTS), REVIEWED_AT (epoch seconds), REVIEWER and,
optionally, REVIEW_NOTE; ``REMOVE`` every attribute in REVIEW_QUEUE_ATTRIBUTES,
so that the item leaves the unreviewed queue. Setting VERDICT puts the item in
``reviewed-index``; nothing else about the item changes.
"""

from __future__ import annotations

import hashlib

PARTITION_KEY = "comment_id"
SORT_ATTRIBUTE = "created_utc"

#: Marks comment items (bookkeeping items have no kind).
KIND_ATTRIBUTE = "kind"
KIND_COMMENT = "comment"

#: TTL attribute (epoch seconds); enabled on the table by deploy_model.py.
TTL_ATTRIBUTE = "expires_at"


def expiry(now: float, retention_days: int) -> int | None:
    """TTL value for an item written at ``now``: RETENTION_DAYS later, or None (kept) when it is 0."""
    return int(now) + retention_days * 86_400 if retention_days > 0 else None

#: Probability of hate whatever the label (score is the confidence of the label given).
P_HATE_ATTRIBUTE = "p_hate"

# -- index key attributes (each set only on the items its index holds) --------
FEED_ATTRIBUTE = "feed"
SUBREDDIT_SHARD_ATTRIBUTE = "sub_shard"
HATE_ATTRIBUTE = "hate_shard"
REVIEW_QUEUE_ATTRIBUTE = "review_queue"

# -- review fields (written by the review endpoint, see the contract above) ----
VERDICT_ATTRIBUTE = "verdict"
REVIEWED_AT_ATTRIBUTE = "reviewed_at"
REVIEW_NOTE_ATTRIBUTE = "review_note"
REVIEWER_ATTRIBUTE = "reviewer"
VERDICTS = ("hate", "nothate")
#: What a review must REMOVE from the item so that it leaves the unreviewed queue.
REVIEW_QUEUE_ATTRIBUTES: tuple[str, ...] = (REVIEW_QUEUE_ATTRIBUTE,)

#: Write shards. Five feed shards keep every key value at ~20 % of a burst (the hot-key goal
#: is at most 25 %; four random shards would exceed it about half the time), and every
#: newest-first page reads each shard once: 5 Query calls of >= 0.5 read unit.
FEED_SHARDS = 5
HATE_SHARDS = 5
SUBREDDIT_SHARDS = 2

INDEX_FEED = "feed-index"
INDEX_BY_SUBREDDIT = "subreddit-shard-index"
INDEX_HATE = "hate-index"
INDEX_REVIEW_QUEUE = "review-queue-index"
INDEX_REVIEWED = "reviewed-index"

#: index name -> partition attribute; every index sorts on created_utc.
INDEXES: dict[str, str] = {
    INDEX_FEED: FEED_ATTRIBUTE,
    INDEX_BY_SUBREDDIT: SUBREDDIT_SHARD_ATTRIBUTE,
    INDEX_HATE: HATE_ATTRIBUTE,
    INDEX_REVIEW_QUEUE: REVIEW_QUEUE_ATTRIBUTE,
    INDEX_REVIEWED: VERDICT_ATTRIBUTE,
}
#: Indexes of the previous design; deploy_model.py deletes them once the new ones are ACTIVE.
OBSOLETE_INDEXES = ("kind-created-index", "label-created-index", "subreddit-created-index")

LABELS = ("hate", "nothate")

#: Public fields of a stored comment, in API order; also what every index projects.
PUBLIC_FIELDS = ("comment_id", "subreddit", "author", "body", "permalink", "created_utc", "label", "score",
                 P_HATE_ATTRIBUTE, "model", "link_id", "parent_id", "classified_at",
                 VERDICT_ATTRIBUTE, REVIEWED_AT_ATTRIBUTE, REVIEWER_ATTRIBUTE, REVIEW_NOTE_ATTRIBUTE)

CHECKPOINT_PREFIX = "checkpoint#"
STATS_PREFIX = "stats#"
STATS_ALL = "stats#all"
LEASE_PREFIX = "lease#"
#: ``done#s3://bucket/key``: every line of that raw object is stored or quarantined.
DONE_PREFIX = "done#"
#: ``attempts#s3://bucket/key``: the reconciler's failed tries on that object.
ATTEMPTS_PREFIX = "attempts#"

#: Comment ids the pipeline stores and the API serves (Reddit's are base36).
COMMENT_ID_PATTERN = r"^[A-Za-z0-9_]{1,32}$"

DEFAULT_RAW_PREFIX = "raw/"
DEFAULT_ERROR_PREFIX = "errors/"
DEFAULT_QUARANTINE_PREFIX = "quarantine/"


def stats_key(subreddit: str | None) -> str:
    """Partition key of the counter item for one subreddit, or for all."""
    return STATS_ALL if subreddit is None else f"{STATS_PREFIX}r#{subreddit.lower()}"


def checkpoint_key(subreddit: str) -> str:
    return f"{CHECKPOINT_PREFIX}{subreddit.lower()}"


def shard_of(comment_id: str, shards: int) -> int:
    """Stable write shard of a comment: the same id always lands in the same shard."""
    return int.from_bytes(hashlib.sha256(comment_id.encode()).digest()[:8], "big") % shards


def feed_keys() -> list[str]:
    return [f"f#{s}" for s in range(FEED_SHARDS)]


def hate_keys() -> list[str]:
    return [f"h#{s}" for s in range(HATE_SHARDS)]


def review_queue_keys() -> list[str]:
    return [f"q#{s}" for s in range(HATE_SHARDS)]


def subreddit_keys(subreddit: str) -> list[str]:
    return [f"{subreddit.lower()}#{s}" for s in range(SUBREDDIT_SHARDS)]


def p_hate(label: str, score: float) -> float:
    """Probability of hate from a binary label and the confidence of that label."""
    return score if label == "hate" else 1.0 - score


def index_keys(comment_id: str, subreddit: str, label: str, reviewed: bool = False) -> dict[str, str]:
    """The index key attributes a comment item carries (which indexes hold it)."""
    keys = {
        FEED_ATTRIBUTE: feed_keys()[shard_of(comment_id, FEED_SHARDS)],
        SUBREDDIT_SHARD_ATTRIBUTE: subreddit_keys(subreddit)[shard_of(comment_id, SUBREDDIT_SHARDS)],
    }
    if label == "hate":
        shard = shard_of(comment_id, HATE_SHARDS)
        keys[HATE_ATTRIBUTE] = hate_keys()[shard]
        if not reviewed:
            keys[REVIEW_QUEUE_ATTRIBUTE] = review_queue_keys()[shard]
    return keys


#: Model ids of the embedded offline stand-in (devtools/hatemodel) start with this: labels from
#: such a model are demo labels, never moderation decisions (the console and report say so).
OFFLINE_MODEL_PREFIX = "devtools/"


def is_offline_model(model_id: str | None) -> bool:
    return bool(model_id) and str(model_id).startswith(OFFLINE_MODEL_PREFIX)


# -- moderator reviews (POST /comments/{id}/review) ------------------------------------------

#: Counter item of the review figures (all models, and one attribute per model and bucket).
REVIEW_STATS_KEY = "stats#reviews"
