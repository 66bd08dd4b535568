"""Domain records: frozen dataclasses that hold data and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
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
    since: int | None = None
    limit: int = 25
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
