"""RedditSource stops inside a listing when the Lambda's time runs low, prawcore's waits included."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from chalicelib.models import Checkpoint
from chalicelib.reddit_source import RESERVE_MS, RedditSource
from chalicelib.retry import NO_WAIT


class Item:
    def __init__(self, i: int) -> None:
        self.id = f"k{i:04d}"
        self.name = f"t1_{self.id}"
        self.subreddit = "busy"
        self.author = "u"
        self.body = f"text {i}"
        self.created_utc = 1_790_000_000.0 + i
        self.permalink = f"/r/busy/comments/x/_/{self.id}/"
        self.link_id = "t3_x"
        self.parent_id = "t3_x"


@dataclass
class Limiter:
    next_request_timestamp_ns: int | None = None


@dataclass
class FakeReddit:
    """PRAW's surface RedditSource uses; pages of 100 like Reddit's listings."""

    count: int
    clock: list[float]  # the Lambda's remaining seconds, moved by each page fetch
    page_seconds: float = 1.0
    wait_before_page: dict[int, float] = field(default_factory=dict)  # page number -> prawcore's pending sleep
    _core: Any = None
    pages: int = 0

    def __post_init__(self) -> None:
        self._core = type("Core", (), {"rate_limiter": Limiter()})()

    def subreddit(self, _name: str) -> FakeReddit:
        return self

    def comments(self, limit: int) -> Listing:
        return Listing(self, min(limit, self.count))


class Listing:
    """Like PRAW's ListingGenerator: the current page in ``_listing``, fetched inside next()."""

    def __init__(self, reddit: FakeReddit, limit: int) -> None:
        self.reddit = reddit
        self.left = limit
        self._listing: list[Item] | None = None
        self._list_index = 0

    def __iter__(self) -> Iterator[Item]:
        return self

    def __next__(self) -> Item:
        r = self.reddit
        if self._listing is None or self._list_index >= len(self._listing):
            if self.left <= 0:
                raise StopIteration
            # prawcore sleeps until its rate limiter allows the request, then fetches.
            r.clock[0] -= r.wait_before_page.get(r.pages, 0.0) + r.page_seconds
            r.pages += 1
            self._listing = [Item(self.left - i) for i in range(min(100, self.left))]
            self.left -= len(self._listing)
            self._list_index = 0
            upcoming = r.wait_before_page.get(r.pages, 0.0)
            r._core.rate_limiter.next_request_timestamp_ns = (
                time.monotonic_ns() + int(upcoming * 1e9) if upcoming else None)
        self._list_index += 1
        return self._listing[self._list_index - 1]


@dataclass
class Remaining:
    seconds: list[float]

    def remaining_ms(self) -> int:
        return int(self.seconds[0] * 1000)


def test_a_listing_stops_inside_when_the_deadline_nears() -> None:
    # Before: the deadline was checked only before a listing started; a listing of
    # ten slow pages ran on past the Lambda's timeout, losing everything read.
    remaining = [RESERVE_MS / 1000 + 4.5]
    reddit = FakeReddit(1000, remaining, page_seconds=1.0)
    result = RedditSource(cast(Any, reddit), NO_WAIT).fetch("busy", Checkpoint("busy", "k0000", 0.0), 1000,
                                                             Remaining(remaining))
    # The fifth page took the time below the reserve: nothing more is read after it.
    assert result.stopped_reason and reddit.pages == 5 and len(result.comments) == 401
    assert remaining[0] >= RESERVE_MS / 1000 - 1.0
    assert result.comments[0].id == "k1000"  # newest first, delivered as read


def test_a_rate_limit_wait_that_would_eat_the_reserve_is_not_started() -> None:
    remaining = [RESERVE_MS / 1000 + 60.0]
    # After page 1 prawcore announces a 65 s sleep before page 2: the reserve would be gone.
    reddit = FakeReddit(300, remaining, page_seconds=0.0, wait_before_page={1: 65.0})
    result = RedditSource(cast(Any, reddit), NO_WAIT).fetch("busy", None, 1000, Remaining(remaining))
    assert result.stopped_reason and len(result.comments) == 100 and reddit.pages == 1
    assert remaining[0] == RESERVE_MS / 1000 + 60.0  # the wait never started
