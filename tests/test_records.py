"""Decoding Firehose objects: every record becomes a comment or a reason."""

from __future__ import annotations

import gzip
import json

import pytest

from chalicelib.records import MAX_STORED_BODY_CHARS, decode
from tests.conftest import comment_doc, ndjson


def test_plain_and_gzip_objects_decode_the_same() -> None:
    data = ndjson([comment_doc(i) for i in range(3)])
    plain, packed = decode(data), decode(gzip.compress(data))
    assert [c.id for _, c in plain.comments] == ["c00000", "c00001", "c00002"]
    assert plain == packed and not plain.rejected


def test_concatenated_objects_without_newline() -> None:
    data = b"".join(json.dumps(comment_doc(i)).encode() for i in range(3))
    decoded = decode(data + b"\n" + json.dumps(comment_doc(3)).encode())
    assert [c.id for _, c in decoded.comments] == ["c00000", "c00001", "c00002", "c00003"]
    assert decoded.records_in == 4


@pytest.mark.parametrize("line, reason", [
    (b'{"id": "a1", "body": ', "malformed JSON"),
    (b'{"id": "a1", "body": "x\xff\xfe"}', "invalid UTF-8"),
    (b'{"body": "no id"}', "missing or invalid id"),
    (b'{"id": "a1"}', "missing body"),
    (b'{"id": "a1", "body": 5}', "body is a int"),
    (b'{"id": "a1", "body": ["x"]}', "body is a list"),
    (b'{"id": "a1", "body": null}', "missing body"),
    (b'{"id": "a1", "body": "[deleted]"}', "deleted or removed"),
    (b'{"id": "a1", "body": "[removed]"}', "deleted or removed"),
    (b'{"id": "a1", "body": "  "}', "empty body"),
    (b'{"id": "a\\u0000", "body": "x"}', "missing or invalid id"),
    (b'{"id": "a1", "body": "x\x00y"}', "malformed JSON"),
    (b'[1, 2]', "JSON list"),
    (b'{"id": "a1", "body": "x", "created_utc": "yesterday"}', "created_utc"),
])
def test_bad_records_are_rejected_with_a_reason(line: bytes, reason: str) -> None:
    good = json.dumps(comment_doc(1)).encode()
    decoded = decode(good + b"\n" + line + b"\n" + good.replace(b"c00001", b"c00002"))
    assert [c.id for _, c in decoded.comments] == ["c00001", "c00002"]
    assert len(decoded.rejected) == 1
    assert reason in decoded.rejected[0].reason
    assert decoded.rejected[0].line_number == 2
    assert decoded.records_in == 3


def test_invalid_utf8_raw_is_kept_as_base64() -> None:
    decoded = decode(b'{"id": "a\xff"}\n')
    assert decoded.rejected[0].raw.startswith("base64:")


def test_empty_object_has_no_records() -> None:
    assert decode(b"").records_in == 0
    assert decode(b"\n\n  \n").records_in == 0
    assert decode(gzip.compress(b"")).records_in == 0


def test_corrupt_gzip_is_one_rejected_record() -> None:
    decoded = decode(b"\x1f\x8b" + b"garbage")
    assert decoded.records_in == 1 and "corrupt gzip" in decoded.rejected[0].reason


def test_huge_body_is_kept_but_truncated_to_fit_dynamodb() -> None:
    decoded = decode(ndjson([comment_doc(1, body="x" * 1_000_000)]))
    (_, comment), = decoded.comments
    assert len(comment.body) == MAX_STORED_BODY_CHARS


def test_escaped_nul_in_body_is_a_valid_comment() -> None:
    decoded = decode(ndjson([comment_doc(1, body="before\u0000after")]))
    assert decoded.comments[0][1].body == "before\x00after"


def test_author_none_and_missing_optional_fields() -> None:
    decoded = decode(b'{"id": "abc", "body": "hello", "author": null}\n')
    (_, c), = decoded.comments
    assert c.author is None and c.subreddit == "unknown" and c.fullname == "t1_abc"
