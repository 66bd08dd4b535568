"""Validation of REST parameters and the opaque, tamper-evident paging cursor."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from chalicelib import schema
from chalicelib.errors import ValidationError
from chalicelib.models import CommentQuery

COMMENT_PARAMS = frozenset({"label", "subreddit", "since", "limit", "cursor"})
STATS_PARAMS = frozenset({"subreddit"})
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
MAX_CURSOR_CHARS = 2048
# Reddit subreddit names: 2-21 letters, digits, underscores ("all" is 3).
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
_COMMENT_ID = re.compile(schema.COMMENT_ID_PATTERN)
_SINCE_MAX = 32_503_680_000  # year 3000


def _only(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError(unknown[0], f"unknown parameter; allowed: {', '.join(sorted(allowed))}")


def subreddit_param(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip().removeprefix("r/")
    if not _SUBREDDIT.match(name):
        raise ValidationError("subreddit", "must be a subreddit name (2-21 letters, digits or _)")
    return name.lower()


def comment_id_param(value: str) -> str:
    if not _COMMENT_ID.match(value or ""):
        raise ValidationError("comment_id", "must be a Reddit comment id (1-32 letters, digits or _)")
    return value


class CursorCodec:
    """Cursor = base64url(JSON of the DynamoDB key and the query it belongs to) + HMAC-SHA256.

    The key is signed so that a client can neither forge a start key nor
    replay a cursor against other filters.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, payload, hashlib.sha256).digest()[:18]).decode()

    def encode(self, last_key: Mapping[str, Any], scope: str) -> str:
        payload = json.dumps({"k": dict(last_key), "s": scope}, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + self._mac(payload)

    def decode(self, cursor: str, scope: str) -> dict[str, Any]:
        if len(cursor) > MAX_CURSOR_CHARS or cursor.count(".") != 1:
            raise ValidationError("cursor", "malformed cursor")
        body, mac = cursor.split(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise ValidationError("cursor", "malformed cursor") from None
        if not hmac.compare_digest(self._mac(payload), mac):
            raise ValidationError("cursor", "invalid or tampered cursor")
        doc = json.loads(payload)
        if doc.get("s") != scope:
            raise ValidationError("cursor", "cursor belongs to a query with other filters")
        key = doc.get("k")
        if not isinstance(key, dict):
            raise ValidationError("cursor", "malformed cursor")
        return key


def scope_of(q: CommentQuery) -> str:
    """What a cursor is bound to: the filters, not the page size."""
    return f"{q.label or ''}|{q.subreddit or ''}|{q.since if q.since is not None else ''}"


def _int_param(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"\d{1,12}", raw.strip()):
        raise ValidationError(name, f"must be a whole number between {low} and {high}")
    value = int(raw)
    if not low <= value <= high:
        raise ValidationError(name, f"must be between {low} and {high}")
    return value


def parse_comment_query(params: Mapping[str, str] | None, codec: CursorCodec | None) -> CommentQuery:
    """Validate GET /comments parameters; every failure names its parameter."""
    params = params or {}
    _only(params, COMMENT_PARAMS)
    label = params.get("label")
    if label is not None and label not in schema.LABELS:
        raise ValidationError("label", f"must be one of {', '.join(schema.LABELS)}")
    limit = _int_param(params, "limit", 1, MAX_LIMIT)
    query = CommentQuery(
        label=label,
        subreddit=subreddit_param(params.get("subreddit")),
        since=_int_param(params, "since", 0, _SINCE_MAX),
        limit=DEFAULT_LIMIT if limit is None else limit,
    )
    cursor = params.get("cursor")
    if cursor is None:
        return query
    if codec is None:
        raise ValidationError("cursor", "paging is not configured")
    return CommentQuery(query.label, query.subreddit, query.since, query.limit,
                        start_key=codec.decode(cursor, scope_of(query)))


def parse_stats_query(params: Mapping[str, str] | None) -> str | None:
    params = params or {}
    _only(params, STATS_PARAMS)
    return subreddit_param(params.get("subreddit"))
