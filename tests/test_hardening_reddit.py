"""Issue 8: nothing is lost under bad input and faults -- the Reddit side.

Real PRAW against devtools.fake_reddit through the real ingest handler: deleted
authors, rate limits within and beyond the time budget, server errors.
Helpers: tests/hardening_support.py; ``reddit_sleeps`` is in tests/conftest.py.
"""

from __future__ import annotations

from typing import Any

import app as app_module
from chalicelib.models import Checkpoint
from devtools.fake_reddit import FakeRedditServer
from tests.conftest import FakeEndpoint
from tests.hardening_support import (
    FakeContext,
    classify_new,
    ingest,
    listing_requests,
    reddit_comment,
    stored,
    wire_reddit,
)


def test_comment_whose_author_was_deleted(settings: Any, endpoint: FakeEndpoint, reddit_sleeps: list[float]
                                          ) -> None:
    # Reddit sends "[deleted]" for a deleted account; PRAW turns it into author None.
    comments = [reddit_comment(1, "ghosts", author="[deleted]"), reddit_comment(2, "ghosts")]
    with FakeRedditServer(comments) as server:
        services = wire_reddit(settings, server, endpoint, ("ghosts",))
        try:
            assert ingest()["delivered"] == 2
            classify_new(set())
        finally:
            app_module.set_services(None)
    table = stored()
    assert set(table) == {"r00001", "r00002"}
    assert "author" not in table["r00001"]  # stored as absent: no "[deleted]" or "None" string
    assert table["r00002"]["author"]["S"] == "user2"
    comment = services.repository.get_comment("r00001")
    assert comment is not None and comment["author"] is None  # the API answers null


def test_rate_limit_is_honoured_when_the_budget_allows(settings: Any, endpoint: FakeEndpoint,
                                                       reddit_sleeps: list[float]) -> None:
    sleeps: list[float] = []
    with FakeRedditServer([reddit_comment(i, "busy") for i in range(3)]) as server:
        server.set_fault("busy", 429, times=1, headers={"retry-after": "7", "x-ratelimit-reset": "7"})
        wire_reddit(settings, server, endpoint, ("busy",), sleeps)
        try:
            result = ingest(FakeContext(300_000))
        finally:
            app_module.set_services(None)
        assert result["delivered"] == 3
        assert listing_requests(server, "busy") == 2
    assert sleeps[0] == 7.0  # waited what Reddit asked (then one jittered backoff pause)


def test_rate_limit_longer_than_the_budget_skips_without_blowing_it(
        settings: Any, endpoint: FakeEndpoint, reddit_sleeps: list[float]) -> None:
    sleeps: list[float] = []
    comments = [reddit_comment(i, "busy") for i in range(2)] + [reddit_comment(i, "calm") for i in range(2, 4)]
    with FakeRedditServer(comments) as server:
        # remaining=0 with a 5 minute reset: prawcore itself would sleep 300 s before the next request.
        server.set_fault("busy", 429, times=1, headers={"x-ratelimit-reset": "300", "x-ratelimit-remaining": "0"})
        services = wire_reddit(settings, server, endpoint, ("busy", "calm"), sleeps)
        services.repository.put_checkpoint(Checkpoint("busy", "old1", 1.0))
        try:
            result = ingest(FakeContext(120_000))  # two minutes left
        finally:
            app_module.set_services(None)
        assert listing_requests(server, "busy") == 1
    assert sleeps == [] and reddit_sleeps == []  # no wait was started that the budget cannot cover
    assert services.repository.get_checkpoint("busy") == Checkpoint("busy", "old1", 1.0)
    assert result["delivered"] == 0  # "calm" shares the same client rate limit: left for the next run


def test_server_errors_are_retried_then_the_subreddit_is_skipped(
        settings: Any, endpoint: FakeEndpoint, reddit_sleeps: list[float]) -> None:
    sleeps: list[float] = []
    comments = [reddit_comment(i, "flaky") for i in range(2)] + [reddit_comment(i, "fine") for i in range(2, 5)]
    with FakeRedditServer(comments) as server:
        server.set_fault("flaky", 503, times=None)
        services = wire_reddit(settings, server, endpoint, ("flaky", "fine"), sleeps)
        services.repository.put_checkpoint(Checkpoint("flaky", "old1", 1.0))
        try:
            result = ingest()
        finally:
            app_module.set_services(None)
        # prawcore tries 3 times per call, RedditSource makes 3 calls with backoff between them.
        assert listing_requests(server, "flaky") == 9
    # Two pauses between three attempts, full jitter under a doubling cap (base 1 s).
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0
    assert result == {"delivered": 3, "subreddits": 2}
    assert services.repository.get_checkpoint("flaky") == Checkpoint("flaky", "old1", 1.0)
    assert services.repository.get_checkpoint("fine") is not None
