"""Domain records: frozen dataclasses that hold data and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def default_permalink(subreddit: str, link_id: str, comment_id: str) -> str:
    """Reddit's comment path, for records that arrive without one (the slug is optional)."""
    return f"/r/{subreddit}/comments/{link_id.removeprefix('t3_')}/_/{comment_id}/"


@dataclass(frozen=True)
class Comment:
    """A Reddit comment as it travels through Firehose (one JSON line)."""

    id: str
    fullname: str
    subreddit: str
    author: str | None
    body: str
    created_utc: float
    permalink: str
    link_id: str
    parent_id: str
    ingested_at: float = 0.0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fullname": self.fullname,
            "subreddit": self.subreddit,
            "author": self.author,
            "body": self.body,
            "created_utc": self.created_utc,
            "permalink": self.permalink,
            "link_id": self.link_id,
            "parent_id": self.parent_id,
            "ingested_at": self.ingested_at,
        }


@dataclass(frozen=True)
class Prediction:
    label: str  # "hate" | "nothate"
    score: float  # probability of ``label``
    model: str


@dataclass(frozen=True)
class LabeledComment:
    comment: Comment
    prediction: Prediction
    classified_at: float


@dataclass(frozen=True)
class Rejected:
    """An input line that could not become a Comment, kept with its reason."""

    line_number: int
    reason: str
    raw: str


@dataclass(frozen=True)
class Checkpoint:
    """Newest comment already delivered for one subreddit listing."""

    subreddit: str
    last_id: str
    last_created_utc: float


@dataclass(frozen=True)
class CommentQuery:
    """A validated GET /comments request."""

    label: str | None = None
    subreddit: str | None = None
    since: float | None = None  # created_utc >= since (epoch seconds)
    until: float | None = None  # created_utc <= until
    min_score: float | None = None  # p_hate >= min_score
    reviewed: bool | None = None
    limit: int = 25
    #: Where each shard of the serving index resumes (from the signed cursor).
    start_key: dict[str, Any] | None = None


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    last_key: dict[str, Any] | None


@dataclass(frozen=True)
class IngestReport:
    subreddit: str
    fetched: int
    delivered: int
    gap: bool
    skipped_reason: str | None = None
    cut_short: str | None = None  # read only partly (time ran out): delivered, checkpoint kept


@dataclass(frozen=True)
class ObjectReport:
    """Accounting for one S3 object: lines_in == stored + already_stored + quarantined."""

    bucket: str
    key: str
    lines_in: int
    stored: int
    already_stored: int
    quarantined: int
    labels: dict[str, int]
    endpoint_calls: int


@dataclass(frozen=True)
class Attempts:
    """The reconciler's failed tries on one raw object."""

    count: int
    next_at: float  # epoch seconds before which the reconciler leaves it alone
    last_error: str


@dataclass(frozen=True)
class RawObject:
    bucket: str
    key: str
    last_modified: float  # epoch seconds

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class ReconcileReport:
    """One reconcile run, filled in as it goes (hence not frozen)."""

    listed: int = 0  # raw objects in the window, old enough to be owed a completion record
    unfinished: int = 0  # of those, without one
    recovered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    needing_attention: dict[str, int] = field(default_factory=dict)  # uri -> failed tries
    busy: int = 0  # leased by another invocation
    deferred: int = 0  # waiting for their slow-cadence retry
    left: int = 0  # for the next run (time, or the endpoint is failing)
    stored: int = 0
    quarantined: int = 0
    labels: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {"listed": self.listed, "unfinished": self.unfinished, "recovered": len(self.recovered),
                "failed": len(self.failed), "needing_attention": len(self.needing_attention), "busy": self.busy,
                "deferred": self.deferred, "left": self.left, "stored": self.stored,
                "quarantined": self.quarantined, **{f"label_{k}": v for k, v in sorted(self.labels.items())}}


@dataclass(frozen=True)
class GoneCheck:
    """What Reddit said about a list of fullnames (``RedditSource.gone``).

    ``checked`` are the fullnames Reddit answered a request for; ``gone`` maps those that
    must be deleted here to the reason (deleted, removed, author gone, not returned);
    ``unanswered`` are fullnames of a request that returned none of them (suspect, kept);
    anything not in ``checked`` was not asked because the budget or the time ran out.
    """

    checked: tuple[str, ...]
    gone: dict[str, str]
    unanswered: tuple[str, ...]
    requests: int
    stopped_reason: str | None = None


@dataclass(frozen=True)
class StoredRef:
    """A stored comment as the sweep and forget see it: what its counters need."""

    comment_id: str
    subreddit: str
    label: str
    model: str | None = None
    verdict: str | None = None

    @property
    def fullname(self) -> str:
        return f"t1_{self.comment_id}"


@dataclass(frozen=True)
class SweepReport:
    """One sweep run: fullnames checked against Reddit, comments deleted, and why it stopped."""

    checked: int
    deleted: int
    already_gone: int
    unanswered: int
    requests: int
    reasons: dict[str, int]
    pass_completed: bool
    stopped_reason: str | None = None
