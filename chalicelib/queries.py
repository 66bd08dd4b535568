"""Validation of REST parameters, the one time-parameter parser, and the tamper-evident cursor."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib import schema
from chalicelib.errors import ValidationError
from chalicelib.models import CommentQuery

COMMENT_PARAMS = frozenset({"label", "subreddit", "since", "until", "min_score", "reviewed", "limit", "cursor"})
STATS_PARAMS = frozenset({"subreddit"})
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
MAX_CURSOR_CHARS = 2048
# Reddit subreddit names: 2-21 letters, digits, underscores ("all" is 3).
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
_COMMENT_ID = re.compile(schema.COMMENT_ID_PATTERN)
_SINCE_MAX = 32_503_680_000  # year 3000
_RELATIVE = re.compile(r"^(\d{1,9}(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_SCORE = re.compile(r"^(?:\d(?:\.\d{0,6})?|\.\d{1,6})$")
TIME_FORMS = "epoch seconds, an age (30m, 24h, 7d, 2w) or an ISO date/time (2026-01-31[T12:00[+01:00]], UTC by default)"


class MultiValued(Protocol):
    """Chalice's MultiDict: every value of a repeated query parameter."""

    def getlist(self, k: Any) -> list[Any]: ...


def parse_time(value: str, now: Callable[[], float] = time.time) -> float:
    """Epoch seconds from epoch seconds, an age before ``now`` (``24h``, ``7d``) or an ISO date/time.

    The one parser of moments for the API's since/until and ``make report --since``.
    Raises ValueError with a message that lists the accepted forms.
    """
    text = value.strip()
    if re.fullmatch(r"\d{1,12}(?:\.\d{1,6})?", text):
        return float(text)
    relative = _RELATIVE.match(text.lower())
    if relative:
        return now() - float(relative[1]) * _UNITS[relative[2]]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not {TIME_FORMS}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _only(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError(unknown[0], f"unknown parameter; allowed: {', '.join(sorted(allowed))}")
    getlist = getattr(params, "getlist", None)
    if getlist is not None:
        for name in sorted(params):
            if len(getlist(name)) > 1:
                raise ValidationError(name, "given more than once; give each parameter at most once")


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


def scope_of(q: CommentQuery, params: Mapping[str, str] | None = None) -> str:
    """What a cursor is bound to: the filters as given (not the page size).

    ``since``/``until`` enter as written; the cursor carries their resolved epoch seconds,
    so an age such as ``since=24h`` keeps meaning the moment of the first page.
    """
    params = params or {}
    parts = (q.label, q.subreddit, q.min_score, q.reviewed, params.get("since"), params.get("until"))
    return "|".join("" if v is None else str(v).strip() for v in parts)


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


def _time_param(params: Mapping[str, str], name: str, now: Callable[[], float]) -> int | float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = parse_time(raw, now)
    except ValueError:
        raise ValidationError(name, f"must be {TIME_FORMS}") from None
    if not 0 <= value <= _SINCE_MAX:
        raise ValidationError(name, "must be between 1970 and 3000")
    return int(value) if value == int(value) else round(value, 6)


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()  # HATE, Hate and hate mean the same
    if value not in allowed:
        raise ValidationError(name, f"must be one of {', '.join(allowed)}")
    return value


def _score_param(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not _SCORE.match(text) or not 0.0 <= float(text) <= 1.0:
        raise ValidationError(name, "must be a probability between 0 and 1 (p_hate, e.g. 0.8)")
    return float(text)


def parse_comment_query(params: Mapping[str, str] | None, codec: CursorCodec | None,
                        now: Callable[[], float] = time.time) -> CommentQuery:
    """Validate GET /comments parameters; every failure names its parameter."""
    params = params or {}
    _only(params, COMMENT_PARAMS)
    limit = _int_param(params, "limit", 1, MAX_LIMIT)
    reviewed = _choice(params, "reviewed", ("true", "false"))
    query = CommentQuery(
        label=_choice(params, "label", schema.LABELS),
        subreddit=subreddit_param(params.get("subreddit")),
        since=_time_param(params, "since", now),
        until=_time_param(params, "until", now),
        min_score=_score_param(params, "min_score"),
        reviewed=None if reviewed is None else reviewed == "true",
        limit=DEFAULT_LIMIT if limit is None else limit,
    )
    if query.since is not None and query.until is not None and query.since > query.until:
        raise ValidationError("until", "must not be before since")
    cursor = params.get("cursor")
    if cursor is None:
        return query
    if codec is None:
        raise ValidationError("cursor", "paging is not configured")
    # Ages resolve against the first page's clock, which the cursor carries.
    doc = codec.decode(cursor, scope_of(query, params))
    times, shards = doc.get("t"), doc.get("shards")
    if not (isinstance(times, list) and len(times) == 2 and isinstance(shards, dict)
            and all(t is None or isinstance(t, int | float) for t in times)):
        raise ValidationError("cursor", "malformed cursor")
    return CommentQuery(query.label, query.subreddit, times[0], times[1], query.min_score, query.reviewed,
                        query.limit, start_key=shards)


def encode_cursor(codec: CursorCodec, q: CommentQuery, params: Mapping[str, str] | None,
                  shards: Mapping[str, Any] | None) -> str | None:
    """The next_cursor of a page: None when no item follows it."""
    if shards is None:
        return None
    return codec.encode({"shards": dict(shards), "t": [q.since, q.until]}, scope_of(q, params))


def parse_stats_query(params: Mapping[str, str] | None) -> str | None:
    params = params or {}
    _only(params, STATS_PARAMS)
    return subreddit_param(params.get("subreddit"))
