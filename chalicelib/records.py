"""Turns the bytes of one Firehose object into comments, or rejections with reasons.

Pure functions, no I/O. Each JSON value in the object counts as one input
record; a line that cannot be decoded counts as one rejected record.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from chalicelib import schema
from chalicelib.models import Comment, Rejected, default_permalink

GZIP_MAGIC = b"\x1f\x8b"
_ID = re.compile(schema.COMMENT_ID_PATTERN)
_DELETED_BODIES = frozenset({"[deleted]", "[removed]"})
#: DynamoDB items are at most 400 KB; Reddit bodies are at most 10,000 chars.
MAX_STORED_BODY_CHARS = 40_000
#: Raw text kept in a quarantine record, so one huge line cannot blow up the file.
MAX_QUARANTINE_RAW_CHARS = 1_000_000


@dataclass(frozen=True)
class Decoded:
    comments: list[tuple[int, Comment]]  # (record number, comment), in input order
    rejected: list[Rejected]

    @property
    def records_in(self) -> int:
        return len(self.comments) + len(self.rejected)


def decompress(data: bytes) -> bytes:
    """Gunzip when the object starts with the gzip magic bytes (Firehose GZIP), else as is."""
    if data[:2] != GZIP_MAGIC:
        return data
    return gzip.decompress(data)


def _raw(line: bytes) -> str:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = "base64:" + base64.b64encode(line).decode()
    return text[:MAX_QUARANTINE_RAW_CHARS]


def _text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def to_comment(doc: Any) -> Comment | str:
    """A Comment, or the reason this JSON value is not one."""
    if not isinstance(doc, dict):
        return f"record is a JSON {type(doc).__name__}, not an object"
    comment_id = doc.get("id")
    if not isinstance(comment_id, str) or not _ID.match(comment_id):
        return "missing or invalid id"
    body = doc.get("body")
    if body is None:
        return "missing body"
    if not isinstance(body, str):
        return f"body is a {type(body).__name__}, not a string"
    if not body.strip():
        return "empty body"
    if body.strip() in _DELETED_BODIES:
        # Content deleted on Reddit must not be kept by API users.
        return "body deleted or removed on Reddit"
    created = doc.get("created_utc", 0)
    if isinstance(created, bool) or not isinstance(created, int | float):
        return "created_utc is not a number"
    subreddit = _text(doc.get("subreddit")).strip() or "unknown"
    link_id = _text(doc.get("link_id"))
    author = doc.get("author")
    ingested = doc.get("ingested_at", 0)
    return Comment(
        id=comment_id,
        fullname=_text(doc.get("fullname")) or _text(doc.get("name")) or f"t1_{comment_id}",
        subreddit=subreddit,
        author=author if isinstance(author, str) and author else None,
        body=body[:MAX_STORED_BODY_CHARS],
        created_utc=float(created),
        permalink=_text(doc.get("permalink")) or default_permalink(subreddit, link_id, comment_id),
        link_id=link_id,
        parent_id=_text(doc.get("parent_id")),
        ingested_at=float(ingested) if isinstance(ingested, int | float) and not isinstance(ingested, bool)
        else 0.0,
    )


def decode(data: bytes) -> Decoded:
    """Parse newline-delimited JSON, tolerating several JSON objects on one line."""
    try:
        text_data = decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        return Decoded([], [Rejected(1, f"corrupt gzip object: {exc}", _raw(data))])
    decoder = json.JSONDecoder()
    comments: list[tuple[int, Comment]] = []
    rejected: list[Rejected] = []
    number = 0
    for raw_line in text_data.split(b"\n"):
        if not raw_line.strip():
            continue
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            number += 1
            rejected.append(Rejected(number, f"invalid UTF-8 at byte {exc.start}", _raw(raw_line)))
            continue
        position = 0
        while position < len(line):
            # Skip whitespace between concatenated values.
            while position < len(line) and line[position] in " \t\r":
                position += 1
            if position >= len(line):
                break
            number += 1
            try:
                doc, end = decoder.raw_decode(line, position)
            except json.JSONDecodeError as exc:
                rejected.append(Rejected(number, f"malformed JSON: {exc.msg} at column {exc.colno}",
                                         _raw(line[position:].encode())))
                break
            result = to_comment(doc)
            if isinstance(result, str):
                rejected.append(Rejected(number, result, line[position:end][:MAX_QUARANTINE_RAW_CHARS]))
            else:
                comments.append((number, result))
            position = end
    return Decoded(comments, rejected)
