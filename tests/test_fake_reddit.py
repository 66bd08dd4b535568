"""Tests for devtools.fake_reddit, driving real PRAW against the fake server."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import praw
import prawcore
import pytest
import requests

from devtools.fake_reddit import (
    ACCESS_TOKEN_FAULT,
    SAMPLE_LISTING,
    FakeRedditServer,
    load_replay,
    load_replay_dir,
    load_sample,
    normalize_comment,
)
from devtools.reddit_api import unauthorized
from tests.conftest import base36

BASE_TS = 1_796_000_000  # late Nov 2026
SECRET = "s3cr3t-client-secret"


def _shared_data_dir() -> Path:
    env = os.environ.get("SHARED_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


CASSETTES = _shared_data_dir() / "reddit-cassettes"


def make_comments(sub: str, n: int, *, first_id: int, start_ts: int = BASE_TS) -> list[dict[str, Any]]:
    """Synthetic comments; pairs share created_utc so the id tie-break matters."""
    return [
        {
            "id": base36(first_id + i),
            "subreddit": sub,
            "created_utc": float(start_ts + (i // 2) * 10),
            "body": f"synthetic comment {i}",
            "author": f"synthetic_user_{i % 5}",
            "link_id": "t3_abc",
            "parent_id": "t3_abc",
        }
        for i in range(n)
    ]


def newest_first_ids(comments: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(comments, key=lambda c: (c["created_utc"], int(c["id"], 36)), reverse=True)
    return [c["id"] for c in ordered]


def make_reddit(server: FakeRedditServer) -> praw.Reddit:
    return praw.Reddit(
        client_id="fake-client-id",
        client_secret=SECRET,
        user_agent="fake-reddit tests by u/nobody",
        check_for_updates=False,
        **server.praw_kwargs(),
    )


@pytest.fixture(autouse=True)
def _no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    # prawcore sleeps 0-2 s then 2-4 s between 5xx retries; the retry *count* is what we test.
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda self: None)


BIG = make_comments("BigSub", 250, first_id=50_000)
OTHER = make_comments("othersub", 30, first_id=90_000, start_ts=BASE_TS + 5)


@pytest.fixture
def server() -> Iterator[FakeRedditServer]:
    with FakeRedditServer(BIG + OTHER) as srv:
        yield srv


def get(server: FakeRedditServer, path: str, **params: Any) -> requests.Response:
    return requests.get(server.url + path, params=params, headers={"Authorization": "bearer x"}, timeout=5)


# --------------------------------------------------------------------------- PRAW end to end


def test_praw_reads_whole_subreddit_once_newest_first(server: FakeRedditServer) -> None:
    reddit = make_reddit(server)
    got = [c.id for c in reddit.subreddit("bigsub").comments(limit=None)]
    assert got == newest_first_ids(BIG)
    listing_gets = [r for r in server.requests if r.method == "GET" and r.status == 200]
    assert len(listing_gets) == 3  # 100 + 100 + 50, PRAW follows `after`
    assert [r.params.get("after") for r in listing_gets] == [None, f"t1_{got[99]}", f"t1_{got[199]}"]
    assert server.requests[0].path == "/api/v1/access_token"


def test_praw_comment_objects_have_fields(server: FakeRedditServer) -> None:
    comment = next(iter(make_reddit(server).subreddit("othersub").comments(limit=1)))
    assert comment.subreddit.display_name == "othersub"
    assert comment.author.name.startswith("synthetic_user_")
    assert comment.fullname == f"t1_{comment.id}"
    # Synthesized because the input had no permalink.
    assert comment.permalink == f"/r/othersub/comments/abc/_/{comment.id}/"
    assert comment.body.startswith("synthetic comment")


def test_comments_serves_what_the_listings_serve(server: FakeRedditServer) -> None:
    server.add_subreddit("EmptySub")
    assert [c["id"] for c in server.comments()] == newest_first_ids(BIG + OTHER)
    assert [c["id"] for c in server.comments("OtherSub")] == newest_first_ids(OTHER)
    assert server.comments("emptysub") == [] and server.comments("nosuchsub") == []


def test_praw_r_all_multi_and_case_insensitive(server: FakeRedditServer) -> None:
    reddit = make_reddit(server)
    expected = newest_first_ids(BIG + OTHER)
    assert [c.id for c in reddit.subreddit("all").comments(limit=None)] == expected
    assert [c.id for c in reddit.subreddit("BIGSUB+OtherSub").comments(limit=None)] == expected
    assert [c.id for c in reddit.subreddit("OTHERSUB").comments(limit=5)] == newest_first_ids(OTHER)[:5]


def test_praw_before_param_returns_only_newer(server: FakeRedditServer) -> None:
    reddit = make_reddit(server)
    order = newest_first_ids(BIG)
    got = [c.id for c in reddit.subreddit("bigsub").comments(limit=None, params={"before": f"t1_{order[40]}"})]
    assert got == order[:40]
    # More than one page newer: like Reddit, one page of the 100 items closest to the anchor.
    got = [c.id for c in reddit.subreddit("bigsub").comments(limit=None, params={"before": f"t1_{order[150]}"})]
    assert got == order[50:150]


def test_add_comments_between_runs(server: FakeRedditServer) -> None:
    reddit = make_reddit(server)
    first_run = [c.fullname for c in reddit.subreddit("othersub").comments(limit=None)]
    new = make_comments("othersub", 3, first_id=99_000, start_ts=BASE_TS + 10_000)
    assert server.add_comments(new + OTHER[:2]) == 3  # already-known ids are ignored
    second = [c.id for c in reddit.subreddit("othersub").comments(limit=None, params={"before": first_run[0]})]
    assert second == newest_first_ids(new)
    assert len(server.comments("othersub")) == 33


def test_tie_on_created_utc_breaks_by_numeric_base36_id_desc() -> None:
    same = [{"id": i, "subreddit": "ties", "created_utc": 5.0} for i in ("z", "10", "y")]
    with FakeRedditServer([*same, {"id": "a", "subreddit": "ties", "created_utc": 6.0}]) as srv:
        assert [c.id for c in make_reddit(srv).subreddit("ties").comments(limit=None)] == ["a", "10", "z", "y"]


# --------------------------------------------------------------------------- raw protocol


def test_token_endpoint_and_ratelimit_headers(server: FakeRedditServer) -> None:
    resp = requests.post(
        server.url + "/api/v1/access_token",
        data={"grant_type": "client_credentials"},
        auth=("id", SECRET),
        timeout=5,
    )
    body = resp.json()
    assert resp.status_code == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 86400 and body["scope"] == "*"
    assert body["access_token"]
    listing = get(server, "/r/othersub/comments")
    assert float(listing.headers["x-ratelimit-remaining"]) > 100
    assert "x-ratelimit-used" in listing.headers and "x-ratelimit-reset" in listing.headers
    no_auth = requests.get(server.url + "/r/othersub/comments", timeout=5)
    assert no_auth.status_code == 401


@pytest.mark.parametrize(("authorization", "refused"), [
    ("bearer abc", False), ("Bearer abc", False), ("", True), ("bearer   ", True), ("Basic abc", True)])
def test_only_a_bearer_token_gets_past_the_check(authorization: str, refused: bool) -> None:
    reply = unauthorized(authorization)
    assert (reply is not None) is refused
    if reply is not None:
        assert reply.status == 401 and "invalid_token" in reply.headers["www-authenticate"]


@pytest.mark.parametrize("path", ["/r/othersub/comments", "/r/othersub/comments/", "/r/othersub/comments.json"])
def test_path_variants_and_default_limit(server: FakeRedditServer, path: str) -> None:
    data = get(server, path).json()["data"]
    assert data["dist"] == 25  # Reddit's default limit
    assert [c["data"]["id"] for c in data["children"]] == newest_first_ids(OTHER)[:25]
    assert data["after"] == f"t1_{newest_first_ids(OTHER)[24]}" and data["before"] is None


def test_limit_clamped_and_after_before_fields(server: FakeRedditServer) -> None:
    order = newest_first_ids(BIG)
    assert len(get(server, "/r/bigsub/comments", limit=1000).json()["data"]["children"]) == 100
    assert len(get(server, "/r/bigsub/comments", limit=0).json()["data"]["children"]) == 25

    page = get(server, "/r/bigsub/comments", limit=10, after=f"t1_{order[9]}").json()["data"]
    assert [c["data"]["id"] for c in page["children"]] == order[10:20]
    assert page["after"] == f"t1_{order[19]}" and page["before"] == f"t1_{order[10]}"

    last = get(server, "/r/bigsub/comments", limit=100, after=f"t1_{order[199]}").json()["data"]
    assert len(last["children"]) == 50 and last["after"] is None

    newer = get(server, "/r/bigsub/comments", limit=10, before=f"t1_{order[30]}").json()["data"]
    assert [c["data"]["id"] for c in newer["children"]] == order[20:30]
    assert newer["before"] == f"t1_{order[20]}" and newer["after"] is None
    top = get(server, "/r/bigsub/comments", limit=10, before=f"t1_{order[5]}").json()["data"]
    assert [c["data"]["id"] for c in top["children"]] == order[:5] and top["before"] is None
    # `before` wins over `after`, as on Reddit.
    both = get(server, "/r/bigsub/comments", limit=10, before=f"t1_{order[5]}", after=f"t1_{order[50]}")
    assert [c["data"]["id"] for c in both.json()["data"]["children"]] == order[:5]
    # Unknown anchors are ignored (first page).
    assert (
        get(server, "/r/bigsub/comments", limit=3, after="t1_zzzzzzz").json()["data"]["children"][0]["data"]["id"]
        == order[0]
    )


# --------------------------------------------------------------------------- errors & faults


def test_unknown_subreddit_is_notfound(server: FakeRedditServer) -> None:
    reddit = make_reddit(server)
    with pytest.raises(prawcore.exceptions.NotFound):
        list(reddit.subreddit("doesnotexist").comments(limit=5))
    with pytest.raises(prawcore.exceptions.NotFound):
        list(reddit.subreddit("bigsub+doesnotexist").comments(limit=5))
    assert get(server, "/r/doesnotexist/comments").json() == {"message": "Not Found", "error": 404}
    server.add_subreddit("EmptySub")
    assert list(reddit.subreddit("emptysub").comments(limit=None)) == []


def test_unknown_subreddit_redirect_mode() -> None:
    with (
        FakeRedditServer(OTHER, unknown_subreddit="redirect") as srv,
        pytest.raises(prawcore.exceptions.Redirect) as info,
    ):
        list(make_reddit(srv).subreddit("doesnotexist").comments(limit=5))
    assert info.value.path == "/subreddits/search"


def test_fault_403_forbidden_only_for_target(server: FakeRedditServer) -> None:
    reddit = make_reddit(server)
    server.set_fault("OtherSub", 403, times=1)
    assert len(list(reddit.subreddit("bigsub").comments(limit=5))) == 5
    with pytest.raises(prawcore.exceptions.Forbidden):
        list(reddit.subreddit("othersub").comments(limit=5))
    assert len(list(reddit.subreddit("othersub").comments(limit=5))) == 5  # fault used up


def test_fault_429_not_retried_and_carries_headers(server: FakeRedditServer) -> None:
    server.set_fault("othersub", 429, times=2, headers={"retry-after": "7"})
    with pytest.raises(prawcore.exceptions.TooManyRequests) as info:
        list(make_reddit(server).subreddit("othersub").comments(limit=5))
    headers = info.value.response.headers
    assert headers["x-ratelimit-remaining"] == "0.0" and headers["x-ratelimit-reset"] == "1"
    assert headers["x-ratelimit-used"] == "1000" and info.value.retry_after == "7"
    assert sum(r.status == 429 for r in server.requests) == 1  # prawcore does not retry 429
    # A fresh client (the old one would sleep >= 1 s honouring remaining=0): one 429 left, then OK.
    with pytest.raises(prawcore.exceptions.TooManyRequests):
        list(make_reddit(server).subreddit("othersub").comments(limit=5))
    assert len(list(make_reddit(server).subreddit("othersub").comments(limit=5))) == 5


@pytest.mark.parametrize("status", [500, 503])
def test_fault_5xx_retried_twice_by_prawcore(server: FakeRedditServer, status: int) -> None:
    reddit = make_reddit(server)
    server.set_fault("othersub", status, times=2)
    assert len(list(reddit.subreddit("othersub").comments(limit=5))) == 5  # 2 failures absorbed
    server.set_fault("othersub", status, times=3)
    with pytest.raises(prawcore.exceptions.ServerError):
        list(reddit.subreddit("othersub").comments(limit=5))
    statuses = [r.status for r in server.requests if r.path.startswith("/r/")]
    assert statuses == [status, status, 200, status, status, status]


def test_fault_wildcard_persistent_and_token(server: FakeRedditServer) -> None:
    server.set_fault("*", 404, times=None)
    for _ in range(2):
        assert get(server, "/r/bigsub/comments").status_code == 404
    server.clear_faults()
    assert get(server, "/r/bigsub/comments").status_code == 200
    server.set_fault(ACCESS_TOKEN_FAULT, 401, times=1)
    with pytest.raises(prawcore.exceptions.ResponseException) as info:
        list(make_reddit(server).subreddit("bigsub").comments(limit=1))
    assert info.value.response.status_code == 401
    with pytest.raises(ValueError):
        server.set_fault("bigsub", 500, times=0)


def test_request_log_has_path_and_status_but_no_secrets(
    server: FakeRedditServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="devtools.fake_reddit")
    list(make_reddit(server).subreddit("othersub").comments(limit=5))
    lines = [r.getMessage() for r in caplog.records if r.name == "devtools.fake_reddit"]
    assert any("POST /api/v1/access_token -> 200" in line for line in lines)
    assert any("GET /r/othersub/comments/" in line and "-> 200" in line for line in lines)
    text = "\n".join(lines).lower()
    assert SECRET not in text and "authorization" not in text and "bearer" not in text


# --------------------------------------------------------------------------- loader


def _listing(comments: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"children": [{"kind": "t1", "data": c} for c in comments]}}


def _cassette(bodies: list[Any]) -> dict[str, Any]:
    token = {"access_token": "<ACCESS_TOKEN>", "token_type": "bearer", "expires_in": 3600, "scope": "*"}
    interactions = [
        {
            "request": {"method": "GET", "uri": "https://oauth.reddit.com/r/x/comments/"},
            "response": {"status": {"code": 200}, "headers": {}, "body": {"string": json.dumps(b)}},
        }
        for b in [token, *bodies]
    ]
    return {"interactions": interactions, "recorded_with": "betamax"}


def test_loader_warns_on_bad_files_and_keeps_good_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = make_comments("goodsub", 4, first_id=1000)
    (tmp_path / "a_not_json.json").write_text("{oops", encoding="utf-8")
    (tmp_path / "b_latin1.json").write_bytes('{"body": "caf\u00e9"}'.encode("latin-1"))
    (tmp_path / "c_unknown.json").write_text(json.dumps({"foo": 1}), encoding="utf-8")
    (tmp_path / "d_empty_listing.json").write_text(json.dumps(_listing([])), encoding="utf-8")
    (tmp_path / "e_cassette_no_comments.json").write_text(json.dumps(_cassette([])), encoding="utf-8")
    (tmp_path / "f_good_listing.json").write_text(json.dumps(_listing(good[:3])), encoding="utf-8")
    # Overlaps f by one id and nests a reply: dedup + recursion into replies.
    nested = dict(good[3], replies=_listing([make_comments("goodsub", 1, first_id=2000)[0]]))
    (tmp_path / "g_good_cassette.json").write_text(
        json.dumps(_cassette([[_listing([]), _listing([good[2], nested])]])), encoding="utf-8"
    )
    (tmp_path / "ignored.txt").write_text("not json at all", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="devtools.fake_reddit"):
        data = load_replay_dir(tmp_path)

    for bad in ["a_not_json", "b_latin1", "c_unknown", "d_empty_listing", "e_cassette_no_comments"]:
        assert sum(bad in w for w in data.warnings) == 1, (bad, data.warnings)
        assert any(bad in r.getMessage() for r in caplog.records)
    assert "not valid JSON" in next(w for w in data.warnings if "a_not_json" in w)
    assert "not UTF-8" in next(w for w in data.warnings if "b_latin1" in w)
    assert not any("ignored.txt" in w or "f_good" in w or "g_good" in w for w in data.warnings)
    assert sorted(c["id"] for c in data.comments) == sorted([*(c["id"] for c in good), base36(2000)])
    assert data.duplicates == 1
    assert data.per_file[str(tmp_path / "g_good_cassette.json")] == 3
    assert "replies" in data.comments[3]  # original dicts are kept whole

    missing = load_replay([tmp_path / "nope.json"])
    assert missing.comments == [] and "nope.json" in missing.warnings[0]


def test_loader_skips_comments_without_required_fields(tmp_path: Path) -> None:
    ok = make_comments("s", 1, first_id=5)
    (tmp_path / "partial.json").write_text(json.dumps(_listing([*ok, {"id": "x1", "body": "hi"}])), "utf-8")
    data = load_replay_dir(tmp_path)
    assert [c["id"] for c in data.comments] == [ok[0]["id"]]
    assert any("partial.json" in w and "1 comment" in w for w in data.warnings)


def test_normalize_comment_fills_praw_fields() -> None:
    out = normalize_comment({"id": "abc", "subreddit": "s", "created_utc": 1.0})
    assert out["name"] == "t1_abc" and out["permalink"] == "/r/s/comments/unknown/_/abc/"
    assert out["link_id"] == out["parent_id"] == "t3_unknown" and out["author"] == "[deleted]"
    kept = normalize_comment({"id": "abc", "subreddit": "s", "created_utc": 1.0, "permalink": "/keep/"})
    assert kept["permalink"] == "/keep/"


def test_synthetic_sample() -> None:
    raw = json.loads(SAMPLE_LISTING.read_text(encoding="utf-8"))
    assert "synthetic" in raw["_comment"]
    data = load_sample()
    assert data.warnings == []
    assert len(data.comments) == 40
    assert data.subreddits == {"samplecity", "samplegaming", "sampleaskers", "samplecooking"}
    assert all(c["author"].startswith("synthetic_user_") for c in data.comments)
    stamps = [c["created_utc"] for c in data.comments]
    assert len(set(stamps)) == len(stamps) and min(stamps) >= 1_790_812_800  # >= 2026-10-01
    with FakeRedditServer(data.comments) as srv:
        got = list(make_reddit(srv).subreddit("all").comments(limit=None))
    assert len(got) == 40 and got[0].created_utc == max(stamps)


# --------------------------------------------------------------------------- real cassettes


@pytest.mark.skipif(not CASSETTES.is_dir(), reason=f"shared data not present: {CASSETTES} (set SHARED_DATA_DIR)")
def test_real_cassettes_unique_counts() -> None:
    data = load_replay_dir(CASSETTES)
    per_file = {Path(k).name: v for k, v in data.per_file.items()}
    assert per_file == {
        "TestSubredditListings.test_comments.json": 100,
        "TestSubredditStreams.test_comments.json": 417,  # as stated in the README
        "TestSubredditStreams.test_comments__with_continue_after_id.json": 100,
        "TestSubredditStreams.test_comments__with_pause.json": 17,
    }
    assert len(data.comments) == 634
    # One recording names its subreddit with betamax's placeholder; it is served under a valid name.
    assert [w.split(": ", 1)[1] for w in data.warnings] == [
        "195 comment(s) in '<TEST_SUBREDDIT>', a recording placeholder rather than a subreddit name, "
        "served as r/test_subreddit"]
    assert sum(c["subreddit"] == "test_subreddit" for c in data.comments) == 100
    with FakeRedditServer(data.comments) as srv:
        got = [c.id for c in make_reddit(srv).subreddit("all").comments(limit=None)]
        assert len(got) == len(set(got)) == 634
        askreddit = list(make_reddit(srv).subreddit("askreddit").comments(limit=None))
    assert len(askreddit) == 121 and all(c.permalink.startswith("/r/AskReddit/comments/") for c in askreddit)


def test_recording_placeholders_are_served_under_a_valid_name_and_reported(tmp_path: Path) -> None:
    """PRAW's cassettes name a subreddit ``<TEST_SUBREDDIT>``: Reddit never does, and the API refuses it."""
    placeholder = make_comments("<TEST_SUBREDDIT>", 3, first_id=100)
    for c in placeholder:
        c["permalink"] = f"/r/<TEST_SUBREDDIT>/comments/abc/_/{c['id']}/"
        c["subreddit_name_prefixed"] = "r/<TEST_SUBREDDIT>"
    plain = make_comments("news", 2, first_id=300)
    cassette = {"interactions": [{"response": {"body": {"string": json.dumps(
        {"kind": "Listing", "data": {"children": [{"kind": "t1", "data": c} for c in placeholder + plain],
                                     "after": None}})}}}]}
    (tmp_path / "rec.json").write_text(json.dumps(cassette))
    data = load_replay([tmp_path])
    assert sorted({c["subreddit"] for c in data.comments}) == ["news", "test_subreddit"]
    mapped = [c for c in data.comments if c["subreddit"] == "test_subreddit"]
    assert len(mapped) == 3
    assert all(c["permalink"].startswith("/r/test_subreddit/") and c["subreddit_name_prefixed"] == "r/test_subreddit"
               for c in mapped)
    assert any("3 comment(s) in '<TEST_SUBREDDIT>', a recording placeholder" in w
               and w.endswith("served as r/test_subreddit") for w in data.warnings)
    assert placeholder[0]["subreddit"] == "<TEST_SUBREDDIT>"  # the loaded document itself is not changed
    with FakeRedditServer(data.comments) as server:
        reddit = make_reddit(server)
        served = list(reddit.subreddit("test_subreddit").comments(limit=None))
    assert sorted(c.id for c in served) == sorted(c["id"] for c in placeholder)
