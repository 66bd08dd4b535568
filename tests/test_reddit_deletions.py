"""Real PRAW against the fake Reddit: /api/info, --deleted, and RedditSource.gone within a budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import prawcore
import pytest
import requests

from chalicelib.reddit_source import RedditSource, deletion_reason
from chalicelib.retry import Backoff, Unlimited
from devtools.fake_reddit import INFO_FAULT, FakeRedditServer, read_deleted
from tests.test_fake_reddit import make_comments, make_reddit

COMMENTS = make_comments("somesub", 250, first_id=60_000)
IDS = [c["id"] for c in COMMENTS]


@pytest.fixture(autouse=True)
def _no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda self: None)


@pytest.fixture
def server() -> Iterator[FakeRedditServer]:
    with FakeRedditServer(COMMENTS) as srv:
        yield srv


def source(server: FakeRedditServer) -> RedditSource:
    return RedditSource(make_reddit(server), Backoff(attempts=1, sleep=lambda _s: None))


def info_requests(server: FakeRedditServer) -> list[list[str]]:
    return [r.params["id"].split(",") for r in server.requests if r.path.rstrip("/") == "/api/info"]


def test_praw_info_reads_100_fullnames_a_request_in_order_and_leaves_out_unknown(server: FakeRedditServer) -> None:
    asked = [f"t1_{i}" for i in reversed(IDS)] + ["t1_nosuchid", "t3_notacomment"]
    got = [c.id for c in make_reddit(server).info(fullnames=asked)]
    assert got == list(reversed(IDS))
    assert [len(chunk) for chunk in info_requests(server)] == [100, 100, 52]


def test_deleted_and_removed_comments_come_back_marked_and_authorless(server: FakeRedditServer) -> None:
    server.delete_comments([IDS[0]])
    server.delete_comments([f"t1_{IDS[1]}"], "[removed]")
    reddit = make_reddit(server)
    first, second, third = reddit.info(fullnames=[f"t1_{i}" for i in IDS[:3]])
    assert (first.body, first.author) == ("[deleted]", None)  # PRAW maps author "[deleted]" to None
    assert (second.body, second.author) == ("[removed]", None)
    assert third.body == COMMENTS[2]["body"] and third.author is not None
    # The listing still serves what was recorded: the comment was ingested before it was deleted.
    listed = {c.id: c.body for c in reddit.subreddit("somesub").comments(limit=None)}
    assert listed[IDS[0]] == COMMENTS[0]["body"]


def test_info_refuses_more_than_100_ids_and_needs_a_token(server: FakeRedditServer) -> None:
    ids = ",".join(f"t1_{i}" for i in IDS[:101])
    assert requests.get(f"{server.url}/api/info", params={"id": ids}, headers={"Authorization": "bearer x"},
                        timeout=5).status_code == 400
    assert requests.get(f"{server.url}/api/info", params={"id": "t1_x"}, timeout=5).status_code == 401


def test_read_deleted_file(tmp_path: Path) -> None:
    path = tmp_path / "deleted.txt"
    path.write_text("# ids\nabc\n\nt1_def removed\nghi deleted\n")
    assert read_deleted(path) == {"abc": "[deleted]", "def": "[removed]", "ghi": "[deleted]"}
    path.write_text("abc\nnot an id!\n")
    with pytest.raises(ValueError, match=r"deleted\.txt:2"):
        read_deleted(path)


@pytest.mark.parametrize(("data", "reason"), [
    ({"body": "[deleted]", "author": None}, "deleted"),
    ({"body": "[removed]", "author": None}, "removed"),
    ({"body": "[ Removed by Reddit ]", "author": "x"}, "removed"),
    ({"body": "still here", "author": None}, "author gone"),
    ({"body": "still here", "author": "someone"}, None),
])
def test_deletion_reason(data: dict[str, object], reason: str | None) -> None:
    assert deletion_reason(data) == reason


def test_gone_names_deleted_removed_and_vanished_comments(server: FakeRedditServer) -> None:
    server.delete_comments([IDS[3]])
    server.delete_comments([IDS[4]], "[removed]")
    asked = [f"t1_{i}" for i in IDS[:10]] + ["t1_vanished"]
    result = source(server).gone(asked, max_requests=5, deadline=Unlimited())
    assert result.gone == {f"t1_{IDS[3]}": "deleted", f"t1_{IDS[4]}": "removed", "t1_vanished": "not returned"}
    assert result.checked == tuple(asked)
    assert (result.requests, result.stopped_reason, result.unanswered) == (1, None, ())


def test_gone_stays_within_its_request_budget(server: FakeRedditServer) -> None:
    server.delete_comments([IDS[150]])
    asked = [f"t1_{i}" for i in IDS]
    result = source(server).gone(asked, max_requests=1, deadline=Unlimited())
    assert result.requests == 1 and len(info_requests(server)) == 1
    assert result.checked == tuple(asked[:100])
    assert result.gone == {} and result.stopped_reason == "request budget used"


def test_gone_leaves_the_rate_limit_reserve_to_ingestion(server: FakeRedditServer) -> None:
    # The fake answers x-ratelimit-remaining 999: a reserve of 999 forbids the second request.
    result = source(server).gone([f"t1_{i}" for i in IDS], max_requests=10, deadline=Unlimited(), reserve=999)
    assert result.requests == 1 and len(result.checked) == 100
    assert result.stopped_reason is not None and "left to ingestion" in result.stopped_reason


def test_a_reddit_fault_stops_the_check_and_deletes_nothing(server: FakeRedditServer) -> None:
    server.set_fault(INFO_FAULT, 503, times=None)
    result = source(server).gone([f"t1_{i}" for i in IDS[:5]], max_requests=3, deadline=Unlimited())
    assert result.checked == () and result.gone == {}
    assert result.stopped_reason is not None and "ServerError" in result.stopped_reason


def test_an_answer_with_none_of_several_fullnames_is_suspect_not_a_mass_deletion(server: FakeRedditServer) -> None:
    asked = [f"t1_gone{i}" for i in range(5)]
    result = source(server).gone(asked, max_requests=3, deadline=Unlimited())
    assert result.gone == {} and result.unanswered == tuple(asked) and result.checked == ()
    # One fullname alone that Reddit does not return is gone.
    assert source(server).gone(["t1_gone0"], max_requests=1, deadline=Unlimited()).gone == {"t1_gone0": "not returned"}


