"""REST parameter validation and the signed cursor."""

from __future__ import annotations

import pytest

from chalicelib.errors import ValidationError
from chalicelib.models import CommentQuery
from chalicelib.queries import CursorCodec, parse_comment_query, parse_stats_query, scope_of

CODEC = CursorCodec(b"k" * 32)


def test_defaults_and_normalisation() -> None:
    assert parse_comment_query({}, None) == CommentQuery(limit=25)
    q = parse_comment_query({"subreddit": "r/AskReddit", "label": "hate", "since": "10", "limit": "100"}, None)
    assert q == CommentQuery(label="hate", subreddit="askreddit", since=10, limit=100)


def test_cursor_round_trip_is_bound_to_filters() -> None:
    q = CommentQuery(label="hate")
    key = {"comment_id": "abc", "created_utc": 12.5, "label": "hate"}
    cursor = CODEC.encode(key, scope_of(q))
    assert parse_comment_query({"label": "hate", "cursor": cursor}, CODEC).start_key == key
    with pytest.raises(ValidationError, match="other filters"):
        parse_comment_query({"label": "nothate", "cursor": cursor}, CODEC)
    with pytest.raises(ValidationError, match="tampered"):
        CursorCodec(b"other-key" * 4).decode(cursor, scope_of(q))


@pytest.mark.parametrize("cursor", ["", "x", "a.b.c", "!!!.abc", "e30.AAAA", "x" * 5000])
def test_malformed_cursors(cursor: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_comment_query({"cursor": cursor}, CODEC)
    assert info.value.parameter == "cursor"


@pytest.mark.parametrize("params, name", [
    ({"limit": "1e3"}, "limit"), ({"limit": " "}, "limit"), ({"since": "99999999999999"}, "since"),
    ({"label": "HATE"}, "label"), ({"subreddit": "a"}, "subreddit"), ({"extra": "1"}, "extra"),
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
