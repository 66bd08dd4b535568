"""Names shared by the app, deploy_model.py, the offline tools and the report.

One DynamoDB table holds labeled comments plus a few bookkeeping items whose
partition key carries a ``#`` (comment ids never do): per-subreddit ingestion
checkpoints, label counters, short leases, and per-object completion and
attempt records. The bookkeeping items have no
``kind`` / ``label`` / ``subreddit`` attribute, so the sparse indexes below
only ever hold comments.
"""

from __future__ import annotations

PARTITION_KEY = "comment_id"
SORT_ATTRIBUTE = "created_utc"

#: Constant partition of the all-comments index ("newest first, no filter").
KIND_ATTRIBUTE = "kind"
KIND_COMMENT = "comment"

#: TTL attribute (epoch seconds); enabled on the table by deploy_model.py.
TTL_ATTRIBUTE = "expires_at"

INDEX_BY_TIME = "kind-created-index"
INDEX_BY_LABEL = "label-created-index"
INDEX_BY_SUBREDDIT = "subreddit-created-index"

#: index name -> partition attribute; every index sorts on created_utc.
INDEXES: dict[str, str] = {
    INDEX_BY_TIME: KIND_ATTRIBUTE,
    INDEX_BY_LABEL: "label",
    INDEX_BY_SUBREDDIT: "subreddit",
}

CHECKPOINT_PREFIX = "checkpoint#"
STATS_PREFIX = "stats#"
STATS_ALL = "stats#all"
LEASE_PREFIX = "lease#"
#: ``done#s3://bucket/key``: every line of that raw object is stored or quarantined.
DONE_PREFIX = "done#"
#: ``attempts#s3://bucket/key``: the reconciler's failed tries on that object.
ATTEMPTS_PREFIX = "attempts#"

LABELS = ("hate", "nothate")

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

#: Model ids of the embedded offline stand-in (devtools/hatemodel) start with this: labels from
#: such a model are demo labels, never moderation decisions (the console and report say so).
OFFLINE_MODEL_PREFIX = "devtools/"


def is_offline_model(model_id: str | None) -> bool:
    return bool(model_id) and str(model_id).startswith(OFFLINE_MODEL_PREFIX)

# -- moderator reviews (POST /comments/{id}/review) ------------------------------------------

#: Attributes a review sets on a comment item; a second review replaces them.
VERDICT_ATTRIBUTE = "verdict"
REVIEWED_AT_ATTRIBUTE = "reviewed_at"
REVIEW_NOTE_ATTRIBUTE = "review_note"
REVIEWER_ATTRIBUTE = "reviewer"
REVIEW_FIELDS = (VERDICT_ATTRIBUTE, REVIEWED_AT_ATTRIBUTE, REVIEWER_ATTRIBUTE, REVIEW_NOTE_ATTRIBUTE)
#: Attributes that place an item in the review queue (a sparse index key); a review REMOVEs them.
#: Empty until the table design gives the queue an index of its own.
REVIEW_QUEUE_ATTRIBUTES: tuple[str, ...] = ()
#: Verdicts a moderator can give: the same values as the model's labels.
VERDICTS = ("hate", "nothate")
#: Counter item of the review figures (all models, and one attribute per model and bucket).
REVIEW_STATS_KEY = "stats#reviews"
