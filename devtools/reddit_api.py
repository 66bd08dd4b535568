"""What the fake Reddit answers, without any HTTP: tokens, paged listings, /api/info, injected faults.

:class:`RedditState` holds the comments, the known subreddits, the comments
deleted on Reddit since they were recorded, the fault table and the request
log; its ``token()`` / ``listing()`` / ``info()`` return a :class:`Reply` that
``devtools.fake_reddit``'s request handler sends as is.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from devtools.reddit_replay import JSONDict, normalize_comment, sort_key, valid_comment

#: Fault key that targets ``POST /api/v1/access_token`` instead of a subreddit.
ACCESS_TOKEN_FAULT = "@access_token"  # noqa: S105 - a fault-table key, not a secret
#: Fault key that matches every listing request.
ANY_SUBREDDIT_FAULT = "*"
#: Fault key that targets ``GET /api/info``.
INFO_FAULT = "@info"
TOKEN_PATH = "/api/v1/access_token"  # noqa: S105 - a URL path, not a secret
INFO_PATH = "/api/info"
#: Reddit takes at most 100 fullnames per /api/info request (PRAW sends chunks of 100).
MAX_INFO_IDS = 100
#: What Reddit shows in place of a comment's body once its author deleted it, or a moderator removed it.
DELETION_MARKERS = ("[deleted]", "[removed]")

DEFAULT_LIMIT = 25
MAX_LIMIT = 100

# Sent on every normal response. prawcore's RateLimiter derives a pre-request
# sleep from these; with used=1 and reset=60 (< window 600 * remaining/total)
# that sleep is 0, so replay runs at full speed.
DEFAULT_RATELIMIT_HEADERS: dict[str, str] = {
    "x-ratelimit-remaining": "999.0",
    "x-ratelimit-used": "1",
    "x-ratelimit-reset": "60",
}
# Sent with an injected 429. remaining=0 makes prawcore sleep max(1, reset) s
# before the *next* request of the same praw.Reddit instance.
RATELIMITED_HEADERS: dict[str, str] = {
    "x-ratelimit-remaining": "0.0",
    "x-ratelimit-used": "1000",
    "x-ratelimit-reset": "1",
}

REASONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

UnknownSubreddit = Literal["404", "redirect"]


@dataclass
class Fault:
    """An injected error answered instead of a normal response."""

    status: int
    remaining: int | None  # None = until cleared
    headers: dict[str, str]
    body: JSONDict | str


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered (for test assertions)."""

    method: str
    path: str
    params: dict[str, str]
    status: int


@dataclass(frozen=True)
class Reply:
    """One answer: a str payload is raw HTML (an outage page), anything else JSON."""

    status: int
    payload: Any
    headers: Mapping[str, str]


NOT_FOUND = Reply(404, {"message": "Not Found", "error": 404}, DEFAULT_RATELIMIT_HEADERS)


def fault_for(status: int, headers: Mapping[str, str] | None, body: JSONDict | str | None,
              times: int | None) -> Fault:
    """A 429 carries exhausted ``x-ratelimit-*`` headers, other statuses the generous ones; ``headers`` on top."""
    if times is not None and times < 1:
        raise ValueError("times must be >= 1 or None")
    base = RATELIMITED_HEADERS if status == 429 else DEFAULT_RATELIMIT_HEADERS
    payload = body if body is not None else {"message": REASONS.get(status, "Error"), "error": status}
    return Fault(status, times, {**base, **(headers or {})}, payload)


class RedditState:
    """Thread-safe comment store + fault table + request log shared by request handler threads."""

    def __init__(self, unknown_subreddit: UnknownSubreddit = "404") -> None:
        self.lock = threading.Lock()
        self.by_id: dict[str, JSONDict] = {}
        self.by_sub: dict[str, list[JSONDict]] = {}  # lower-cased name -> newest first
        self.known: set[str] = set()
        self.faults: dict[str, Fault] = {}
        self.requests: list[RequestRecord] = []
        self.unknown_subreddit: UnknownSubreddit = unknown_subreddit
        #: comment id -> body marker. Listings keep serving the recorded comment (what an
        #: ingestion run saw before the deletion); /api/info answers it as deleted.
        self.deleted: dict[str, str] = {}

    def add(self, comments: Iterable[Mapping[str, Any]]) -> int:
        added = 0
        with self.lock:
            touched: set[str] = set()
            for raw in comments:
                if not valid_comment(raw):
                    raise ValueError(f"comment needs str id, str subreddit and numeric created_utc: {raw!r:.200}")
                if raw["id"] in self.by_id:
                    continue
                comment = normalize_comment(raw)
                sub = str(comment["subreddit"]).lower()
                self.by_id[comment["id"]] = comment
                self.by_sub.setdefault(sub, []).append(comment)
                self.known.add(sub)
                touched.add(sub)
                added += 1
            for sub in touched:
                self.by_sub[sub].sort(key=sort_key, reverse=True)
        return added

    def delete(self, ids: Iterable[str], marker: str = "[deleted]") -> None:
        """Report ``ids`` as deleted on Reddit from now on (body ``marker``, author gone)."""
        if marker not in DELETION_MARKERS:
            raise ValueError(f"marker must be one of {', '.join(DELETION_MARKERS)}")
        with self.lock:
            for cid in ids:
                self.deleted[cid.removeprefix("t1_")] = marker

    def record(self, method: str, target: str, status: int) -> None:
        split = urlsplit(target)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        with self.lock:
            self.requests.append(RequestRecord(method, split.path, params, status))

    def take_fault(self, keys: Iterable[str]) -> Fault | None:
        with self.lock:
            for key in keys:
                fault = self.faults.get(key)
                if fault is None:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self.faults[key]
                return fault
        return None

    # -- answers

    def token(self, target: str) -> Reply:
        """``POST /api/v1/access_token``: any credentials get a bearer token."""
        if urlsplit(target).path.rstrip("/") != TOKEN_PATH:
            return NOT_FOUND
        fault = self.take_fault([ACCESS_TOKEN_FAULT])
        if fault is not None:
            return Reply(fault.status, fault.body, fault.headers)
        token = {"access_token": "fake-" + secrets.token_hex(8), "token_type": "bearer", "expires_in": 86400,
                 "scope": "*"}
        return Reply(200, token, {})

    def listing(self, target: str, authorization: str, base_url: str) -> Reply:
        """``GET /r/{sub}/comments`` (also ``/comments/``, ``.json``, ``r/all``, ``r/a+b``)."""
        split = urlsplit(target)
        parts = split.path.removesuffix(".json").rstrip("/").split("/")
        if len(parts) != 4 or parts[0] != "" or parts[1] != "r" or parts[3] != "comments" or not parts[2]:
            return NOT_FOUND
        refused = unauthorized(authorization)
        if refused is not None:
            return refused
        spec = parts[2]
        names = [n.lower() for n in spec.split("+") if n]
        fault = self.take_fault([spec.lower(), *names, ANY_SUBREDDIT_FAULT])
        if fault is not None:
            return Reply(fault.status, fault.body, fault.headers)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        with self.lock:
            pool = self._pool(names)
            # Only the paging anchors the request names, not a copy of every comment.
            wanted = [f[3:] for f in (query.get("after"), query.get("before")) if f and f.startswith("t1_")]
            anchors = {cid: self.by_id[cid] for cid in wanted if cid in self.by_id}
        if pool is None:
            if self.unknown_subreddit == "redirect":
                # What reddit.com does for a name that never existed: 302 to search.
                return Reply(302, {}, {"Location": f"{base_url}/subreddits/search.json?q={spec}",
                                       **DEFAULT_RATELIMIT_HEADERS})
            return NOT_FOUND
        pool.sort(key=sort_key, reverse=True)
        return Reply(200, build_listing(pool, query, anchors), DEFAULT_RATELIMIT_HEADERS)

    def pool(self, names: list[str]) -> list[JSONDict] | None:
        """The comments a listing of ``names`` (lower-cased; ``["all"]``: every one) serves, newest first.

        None when a name is not a known subreddit (or there is none).
        """
        with self.lock:
            pool = self._pool(names)
        if pool is not None:
            pool.sort(key=sort_key, reverse=True)
        return pool

    def _pool(self, names: list[str]) -> list[JSONDict] | None:
        """:meth:`pool` unsorted; the caller holds ``self.lock``."""
        if names == ["all"]:
            return [c for sub in self.by_sub.values() for c in sub]
        # Strict: one unknown name fails the whole multireddit (old Reddit did the same).
        if not names or any(n not in self.known for n in names):
            return None
        return [c for n in set(names) for c in self.by_sub.get(n, [])]


    def info(self, target: str, authorization: str) -> Reply | None:
        """``GET /api/info?id=t1_a,t1_b``: the known comments among the fullnames, in the order asked.

        None when ``target`` is not /api/info. Like Reddit, a fullname that names nothing
        is left out of the answer; a deleted comment is answered with body ``[deleted]``
        (or ``[removed]``) and author ``[deleted]``, which PRAW turns into ``None``.
        """
        split = urlsplit(target)
        if split.path.removesuffix(".json").rstrip("/") != INFO_PATH:
            return None
        refused = unauthorized(authorization)
        if refused is not None:
            return refused
        fault = self.take_fault([INFO_FAULT])
        if fault is not None:
            return Reply(fault.status, fault.body, fault.headers)
        raw = ",".join(parse_qs(split.query).get("id", []))
        fullnames = [f for f in raw.split(",") if f]
        if len(fullnames) > MAX_INFO_IDS:
            return Reply(400, {"message": "Bad Request", "error": 400, "reason": "TOO_MANY_IDS"},
                         DEFAULT_RATELIMIT_HEADERS)
        children: list[JSONDict] = []
        with self.lock:
            for fullname in dict.fromkeys(fullnames):
                found = self.by_id.get(fullname[3:]) if fullname.startswith("t1_") else None
                if found is None:
                    continue
                data = copy.deepcopy(found)
                marker = self.deleted.get(str(data["id"]))
                if marker is not None:
                    data.update({"body": marker, "author": "[deleted]", "author_fullname": None})
                children.append({"kind": "t1", "data": data})
        return Reply(200, listing_of(children), DEFAULT_RATELIMIT_HEADERS)


def unauthorized(authorization: str) -> Reply | None:
    """The 401 Reddit answers without a bearer token, or None when ``authorization`` carries one."""
    if authorization.lower().startswith("bearer ") and authorization[7:].strip():
        return None
    return Reply(401, {"message": "Unauthorized", "error": 401},
                 {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'})


def listing_of(children: list[JSONDict], after: str | None = None, before: str | None = None) -> JSONDict:
    """Reddit's Listing envelope around ``children`` (``{"kind": "t1", "data": ...}`` each)."""
    return {"kind": "Listing", "data": {"after": after, "before": before, "dist": len(children),
                                        "modhash": None, "geo_filter": "", "children": children}}


def _parse_limit(raw: str | None) -> int:
    try:
        value = int(raw) if raw is not None else DEFAULT_LIMIT
    except ValueError:
        return DEFAULT_LIMIT
    if value <= 0:
        return DEFAULT_LIMIT
    return min(value, MAX_LIMIT)


def build_listing(pool: list[JSONDict], query: Mapping[str, str], anchors: Mapping[str, JSONDict]) -> JSONDict:
    """Page ``pool`` (sorted newest first) like Reddit does.

    * ``after=X``: items older than X; ``after`` in the response is the last
      item's fullname when more remain, ``before`` the first item's fullname.
    * ``before=X`` (wins over ``after``, as on Reddit): the ``limit`` items just
      newer than X, still newest first; ``before`` in the response is set when
      even newer items remain, ``after`` is null (matches recorded responses).
    * An anchor that is not a known comment is ignored (Reddit ignores invalid
      fullnames); a known anchor from another subreddit cuts by its sort key.
    """
    limit = _parse_limit(query.get("limit"))

    def anchor_key(fullname: str | None) -> tuple[float, int, str] | None:
        if not fullname or not fullname.startswith("t1_"):
            return None
        found = anchors.get(fullname[3:])
        return sort_key(found) if found is not None else None

    before_key = anchor_key(query.get("before"))
    after_key = anchor_key(query.get("after"))
    after_name: str | None = None
    before_name: str | None = None
    if before_key is not None:
        newer = [c for c in pool if sort_key(c) > before_key]
        page = newer[-limit:]
        if len(newer) > limit:
            before_name = page[0]["name"]
    else:
        older = pool if after_key is None else [c for c in pool if sort_key(c) < after_key]
        page = older[:limit]
        if len(older) > limit:
            after_name = page[-1]["name"]
        if after_key is not None and page:
            before_name = page[0]["name"]
    return listing_of([{"kind": "t1", "data": copy.deepcopy(c)} for c in page], after_name, before_name)
