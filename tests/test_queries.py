"""REST parameter validation and the signed cursor."""

from __future__ import annotations

import pytest

from chalicelib.errors import ValidationError
from chalicelib.models import CommentQuery
from chalicelib.queries import (
    CursorCodec,
    encode_cursor,
    parse_comment_query,
    parse_stats_query,
    parse_time,
)

CODEC = CursorCodec(b"k" * 32)


def test_defaults_and_normalisation() -> None:
    assert parse_comment_query({}, None) == CommentQuery(limit=25)
    q = parse_comment_query({"subreddit": "r/AskReddit", "label": "hate", "since": "10", "limit": "100"}, None)
    assert q == CommentQuery(label="hate", subreddit="askreddit", since=10, limit=100)


def test_cursor_round_trip_is_bound_to_filters() -> None:
    q = CommentQuery(label="hate")
    shards = {"h#0": {"comment_id": "abc", "created_utc": 12.5, "hate_shard": "h#0"}, "h#1": "done"}
    cursor = encode_cursor(CODEC, q, {"label": "hate"}, shards)
    assert cursor is not None
    assert parse_comment_query({"label": "hate", "cursor": cursor}, CODEC).start_key == shards
    with pytest.raises(ValidationError, match="other filters"):
        parse_comment_query({"label": "nothate", "cursor": cursor}, CODEC)
    with pytest.raises(ValidationError, match="tampered"):
        parse_comment_query({"label": "hate", "cursor": cursor}, CursorCodec(b"other-key" * 4))
    assert encode_cursor(CODEC, q, {}, None) is None  # no item follows: no cursor


def test_an_age_keeps_the_first_pages_moment_through_the_cursor() -> None:
    params = {"since": "24h"}
    first = parse_comment_query(params, None, now=lambda: 1_000_000.0)
    assert first.since == 1_000_000 - 86_400
    cursor = encode_cursor(CODEC, first, params, {"f#0": "done"})
    assert cursor is not None
    later = parse_comment_query({**params, "cursor": cursor}, CODEC, now=lambda: 2_000_000.0)
    assert later.since == first.since
    with pytest.raises(ValidationError, match="other filters"):
        parse_comment_query({"since": "7d", "cursor": cursor}, CODEC)


def test_time_forms_and_new_filters() -> None:
    assert parse_time("1790000000") == 1_790_000_000
    assert parse_time("2026-01-01") == 1_767_225_600
    assert parse_time("2026-01-01T01:00+01:00") == 1_767_225_600
    assert parse_time("24h", now=lambda: 1_000_000) == 1_000_000 - 86_400
    assert parse_time("7D", now=lambda: 1_000_000) == 1_000_000 - 7 * 86_400
    with pytest.raises(ValueError, match="ISO date"):
        parse_time("yesterday")
    q = parse_comment_query({"label": "HATE", "reviewed": "False", "min_score": "0.85", "since": "2026-01-01",
                             "until": "1800000000"}, None)
    assert q == CommentQuery(label="hate", reviewed=False, min_score=0.85, since=1_767_225_600,
                             until=1_800_000_000)


class _Multi(dict[str, str]):
    """Chalice's MultiDict in miniature: the last value, and getlist for all of them."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._all = pairs

    def getlist(self, k: str) -> list[str]:
        return [v for name, v in self._all if name == k]


def test_a_repeated_parameter_is_named() -> None:
    with pytest.raises(ValidationError) as info:
        parse_comment_query(_Multi([("limit", "5"), ("label", "hate"), ("label", "nothate")]), None)
    assert info.value.parameter == "label" and "more than once" in info.value.message


@pytest.mark.parametrize("cursor", ["", "x", "a.b.c", "!!!.abc", "e30.AAAA", "x" * 5000])
def test_malformed_cursors(cursor: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_comment_query({"cursor": cursor}, CODEC)
    assert info.value.parameter == "cursor"


@pytest.mark.parametrize("params, name", [
    ({"limit": "1e3"}, "limit"), ({"limit": " "}, "limit"), ({"since": "99999999999999"}, "since"),
    ({"label": "hat"}, "label"), ({"subreddit": "a"}, "subreddit"), ({"extra": "1"}, "extra"),
    ({"until": "soon"}, "until"), ({"min_score": "1.5"}, "min_score"), ({"min_score": "-0.1"}, "min_score"),
    ({"reviewed": "yes"}, "reviewed"), ({"since": "20", "until": "10"}, "until"),
])
def test_each_bad_parameter_is_named(params: dict[str, str], name: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_comment_query(params, CODEC)
    assert info.value.parameter == name


def test_stats_parameters() -> None:
    assert parse_stats_query(None) is None
    assert parse_stats_query({"subreddit": "Python"}) == "python"
    with pytest.raises(ValidationError):
        parse_stats_query({"label": "hate"})
