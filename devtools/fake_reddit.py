"""A fake Reddit API server that replays recorded comment listings for PRAW.

Point PRAW at it with ``oauth_url``/``reddit_url``/``short_url`` set to the
server URL (see :meth:`FakeRedditServer.praw_kwargs`). It implements only what
read-only comment ingestion needs:

* ``POST /api/v1/access_token`` - any credentials get a bearer token.
* ``GET /r/{sub}/comments`` (also ``/comments/``, ``.json``, ``r/all``, ``r/a+b``) -
  a Listing, newest first, with Reddit's ``limit``/``after``/``before`` paging.

Comments come from betamax cassettes or raw Listing JSON files
(:func:`load_replay`), or from the bundled synthetic sample. Faults (403, 404,
429, 5xx ...) can be injected per subreddit for hardening tests.

CLI: ``python -m devtools.fake_reddit [--replay DIR_OR_FILE ...] [--port N]``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import gzip
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, TypedDict
from urllib.parse import parse_qs, urlsplit

# Fixed name so `python -m devtools.fake_reddit` logs under the same logger as imports do.
log = logging.getLogger("devtools.fake_reddit")

SAMPLE_LISTING = Path(__file__).resolve().parent / "sample_data" / "synthetic_listing.json"

#: Fault key that targets ``POST /api/v1/access_token`` instead of a subreddit.
ACCESS_TOKEN_FAULT = "@access_token"  # noqa: S105 - a fault-table key, not a secret
#: Fault key that matches every listing request.
ANY_SUBREDDIT_FAULT = "*"

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

_REASONS: dict[int, str] = {
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

JSONDict = dict[str, Any]


# --------------------------------------------------------------------------- loading


@dataclass
class ReplayData:
    """Comments extracted from replay files.

    ``comments`` holds the original comment ``data`` dicts, deduplicated by id
    (first occurrence wins). ``per_file`` maps each file that yielded comments
    to its number of unique comment ids; ``warnings`` names every file (or part)
    that was skipped and why.
    """

    comments: list[JSONDict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    per_file: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0

    @property
    def subreddits(self) -> set[str]:
        """Lower-cased names of all subreddits that have at least one comment."""
        return {str(c["subreddit"]).lower() for c in self.comments}


def _warn(data: ReplayData, message: str) -> None:
    data.warnings.append(message)
    log.warning("%s", message)


def _iter_t1(node: Any) -> Iterator[Any]:
    """Yield the ``data`` of every t1 thing in a Listing / list / thing tree (incl. replies)."""
    if isinstance(node, list):
        for item in node:
            yield from _iter_t1(item)
    elif isinstance(node, dict):
        kind = node.get("kind")
        inner = node.get("data")
        if kind == "t1" and isinstance(inner, dict):
            yield inner
            yield from _iter_t1(inner.get("replies"))
        elif kind == "Listing" and isinstance(inner, dict):
            yield from _iter_t1(inner.get("children"))


def _is_listing_like(node: Any) -> bool:
    return isinstance(node, dict) and node.get("kind") in {"Listing", "t1"}


def _cassette_bodies(doc: JSONDict, name: str, data: ReplayData) -> Iterator[Any]:
    """Yield the parsed JSON response bodies of a betamax cassette (non-JSON bodies are skipped)."""
    interactions = doc.get("interactions")
    if not isinstance(interactions, list):
        return
    for index, interaction in enumerate(interactions):
        if not isinstance(interaction, dict) or not isinstance(interaction.get("response"), dict):
            continue
        body = interaction["response"].get("body")
        if not isinstance(body, dict):
            continue
        raw: bytes | None = None
        if isinstance(body.get("string"), str) and body["string"]:
            raw = body["string"].encode("utf-8")
        elif isinstance(body.get("base64_string"), str) and body["base64_string"]:
            try:
                raw = base64.b64decode(body["base64_string"])
                if raw[:2] == b"\x1f\x8b":
                    raw = gzip.decompress(raw)
            except (ValueError, OSError) as exc:
                _warn(data, f"{name}: interaction {index}: undecodable base64 body ({exc})")
                continue
        if raw is None:
            continue
        try:
            yield json.loads(raw)
        except ValueError:
            # Token responses are JSON, but HTML error pages etc. are not; only listings matter.
            continue


def _valid_comment(comment: Any) -> bool:
    return (
        isinstance(comment, dict)
        and isinstance(comment.get("id"), str)
        and bool(comment["id"])
        and isinstance(comment.get("subreddit"), str)
        and bool(comment["subreddit"])
        and isinstance(comment.get("created_utc"), int | float)
        and not isinstance(comment.get("created_utc"), bool)
    )


def _load_file(path: Path, data: ReplayData, seen: set[str]) -> None:
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        _warn(data, f"{name}: skipped, not UTF-8 ({exc.reason} at byte {exc.start})")
        return
    except OSError as exc:
        _warn(data, f"{name}: skipped, cannot read ({exc.strerror or exc})")
        return
    try:
        doc = json.loads(text)
    except ValueError as exc:
        _warn(data, f"{name}: skipped, not valid JSON ({exc})")
        return

    if isinstance(doc, dict) and "interactions" in doc:
        kind = "cassette"
        found = [c for body in _cassette_bodies(doc, name, data) for c in _iter_t1(body)]
    elif _is_listing_like(doc) or (isinstance(doc, list) and doc and all(_is_listing_like(x) for x in doc)):
        kind = "listing"
        found = list(_iter_t1(doc))
    else:
        _warn(
            data,
            f"{name}: skipped, unknown shape (expected a betamax cassette, a Reddit Listing "
            "or a JSON list of Listings)",
        )
        return

    valid = [c for c in found if _valid_comment(c)]
    invalid = len(found) - len(valid)
    if invalid:
        _warn(data, f"{name}: ignored {invalid} comment(s) lacking id/subreddit/created_utc")
    if not valid:
        _warn(data, f"{name}: skipped, {kind} contains no usable t1 comments")
        return

    unique_in_file: set[str] = set()
    for comment in valid:
        cid = comment["id"]
        unique_in_file.add(cid)
        if cid in seen:
            data.duplicates += 1
            continue
        seen.add(cid)
        data.comments.append(comment)
    data.per_file[name] = len(unique_in_file)
    log.info("%s: %d unique comments (%s)", name, len(unique_in_file), kind)


def load_replay(paths: Iterable[Path]) -> ReplayData:
    """Load comments from replay files (directories are expanded to their ``*.json`` files).

    Bad files produce a warning in ``ReplayData.warnings`` (also logged) and are
    skipped; loading continues with the rest.
    """
    data = ReplayData()
    seen: set[str] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.json") if p.is_file())
            if not files:
                _warn(data, f"{path}: directory has no *.json files")
            for file in files:
                _load_file(file, data, seen)
        elif path.is_file():
            _load_file(path, data, seen)
        else:
            _warn(data, f"{path}: skipped, no such file or directory")
    return data


def load_replay_dir(directory: Path) -> ReplayData:
    """Load every ``*.json`` file in ``directory`` (see :func:`load_replay`)."""
    return load_replay([Path(directory)])


def load_sample() -> ReplayData:
    """Load the bundled synthetic sample listing."""
    return load_replay([SAMPLE_LISTING])


# --------------------------------------------------------------------------- store


def _base36(value: str) -> int:
    try:
        return int(value, 36)
    except ValueError:
        return -1


def _sort_key(comment: Mapping[str, Any]) -> tuple[float, int, str]:
    """Newest-first order is descending by this key (created_utc, then id)."""
    cid = str(comment["id"])
    return (float(comment["created_utc"]), _base36(cid), cid)


def normalize_comment(comment: Mapping[str, Any]) -> JSONDict:
    """Return a copy carrying every field PRAW's Comment and the app read.

    Missing fields get neutral defaults so PRAW never lazily re-fetches a
    comment (which would be a request this server does not implement).
    """
    out: JSONDict = copy.deepcopy(dict(comment))
    cid = str(out["id"])
    link_id = out.get("link_id") if isinstance(out.get("link_id"), str) and out.get("link_id") else None
    out.setdefault("name", f"t1_{cid}")
    out.setdefault("body", "")
    out.setdefault("author", "[deleted]")
    out.setdefault("score", 1)
    out.setdefault("replies", "")
    if link_id is None:
        link_id = "t3_unknown"
        out["link_id"] = link_id
    out.setdefault("parent_id", link_id)
    if not out.get("permalink"):
        out["permalink"] = f"/r/{out['subreddit']}/comments/{link_id.removeprefix('t3_')}/_/{cid}/"
    out.setdefault("subreddit_name_prefixed", f"r/{out['subreddit']}")
    return out


class PrawEndpoints(TypedDict):
    """``praw.Reddit(**server.praw_kwargs())`` endpoint overrides."""

    oauth_url: str
    reddit_url: str
    short_url: str


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


class _Store:
    """Thread-safe comment store + fault table shared by request handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_id: dict[str, JSONDict] = {}
        self.by_sub: dict[str, list[JSONDict]] = {}  # lower-cased name -> newest first
        self.known: set[str] = set()
        self.faults: dict[str, Fault] = {}
        self.requests: list[RequestRecord] = []

    def add(self, comments: Iterable[Mapping[str, Any]]) -> int:
        added = 0
        with self.lock:
            touched: set[str] = set()
            for raw in comments:
                if not _valid_comment(raw):
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
                self.by_sub[sub].sort(key=_sort_key, reverse=True)
        return added


# --------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    server: _FakeHTTPServer
    # HTTP/1.0: one request per connection; simplest and robust for a test double.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # Silence the default stderr access log; we log (without headers) in _send.
        return

    # -- helpers
    def _send(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        # A str payload goes out as raw HTML (an outage page); anything else as JSON.
        raw = isinstance(payload, str)
        body = payload.encode("utf-8") if raw else json.dumps(payload).encode("utf-8")
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        store = self.server.store
        # Record before replying so a client that saw the response always sees the record.
        with store.lock:
            store.requests.append(RequestRecord(self.command, split.path, params, status))
        # Only method, path+query and status: never headers (Authorization) or bodies (credentials).
        log.debug("%s %s -> %d", self.command, self.path, status)
        self.send_response(status, _REASONS.get(status))
        self.send_header("Content-Type", "text/html; charset=UTF-8" if raw else "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _take_fault(self, keys: Iterable[str]) -> Fault | None:
        store = self.server.store
        with store.lock:
            for key in keys:
                fault = store.faults.get(key)
                if fault is None:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del store.faults[key]
                return fault
        return None

    def _send_fault(self, fault: Fault) -> None:
        self._send(fault.status, fault.body, fault.headers)

    # -- verbs
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # credentials: read and discard, never log
        path = urlsplit(self.path).path.rstrip("/")
        if path != "/api/v1/access_token":
            self._send(404, {"message": "Not Found", "error": 404}, DEFAULT_RATELIMIT_HEADERS)
            return
        fault = self._take_fault([ACCESS_TOKEN_FAULT])
        if fault is not None:
            self._send_fault(fault)
            return
        token = {
            "access_token": "fake-" + secrets.token_hex(8),
            "token_type": "bearer",
            "expires_in": 86400,
            "scope": "*",
        }
        self._send(200, token)

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        path = split.path.removesuffix(".json").rstrip("/")
        parts = path.split("/")
        # Accepted: /r/{sub}/comments  (after stripping a trailing "/" and ".json")
        if len(parts) != 4 or parts[0] != "" or parts[1] != "r" or parts[3] != "comments" or not parts[2]:
            self._send(404, {"message": "Not Found", "error": 404}, DEFAULT_RATELIMIT_HEADERS)
            return
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            self._send(
                401,
                {"message": "Unauthorized", "error": 401},
                {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'},
            )
            return

        spec = parts[2]
        names = [n.lower() for n in spec.split("+") if n]
        fault = self._take_fault([spec.lower(), *names, ANY_SUBREDDIT_FAULT])
        if fault is not None:
            self._send_fault(fault)
            return

        store = self.server.store
        pool: list[JSONDict] | None
        with store.lock:
            if names == ["all"]:
                pool = [c for sub in store.by_sub.values() for c in sub]
            else:
                unknown = [n for n in names if n not in store.known]
                # Strict: one unknown name fails the whole multireddit (old Reddit did the same).
                pool = None if unknown or not names else [c for n in set(names) for c in store.by_sub.get(n, [])]
            anchors = dict(store.by_id)
        if pool is None:
            self._unknown_subreddit(spec)
            return
        pool.sort(key=_sort_key, reverse=True)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        self._send(200, build_listing(pool, query, anchors), DEFAULT_RATELIMIT_HEADERS)

    def _unknown_subreddit(self, spec: str) -> None:
        if self.server.unknown_subreddit == "redirect":
            # What reddit.com does for a name that never existed: 302 to search.
            self._send(
                302,
                {},
                {"Location": f"{self.server.url}/subreddits/search.json?q={spec}", **DEFAULT_RATELIMIT_HEADERS},
            )
        else:
            self._send(404, {"message": "Not Found", "error": 404}, DEFAULT_RATELIMIT_HEADERS)


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
        return _sort_key(found) if found is not None else None

    before_key = anchor_key(query.get("before"))
    after_key = anchor_key(query.get("after"))
    after_name: str | None = None
    before_name: str | None = None
    if before_key is not None:
        newer = [c for c in pool if _sort_key(c) > before_key]
        page = newer[-limit:]
        if len(newer) > limit:
            before_name = page[0]["name"]
    else:
        older = pool if after_key is None else [c for c in pool if _sort_key(c) < after_key]
        page = older[:limit]
        if len(older) > limit:
            after_name = page[-1]["name"]
        if after_key is not None and page:
            before_name = page[0]["name"]
    return {
        "kind": "Listing",
        "data": {
            "after": after_name,
            "before": before_name,
            "dist": len(page),
            "modhash": None,
            "geo_filter": "",
            "children": [{"kind": "t1", "data": copy.deepcopy(c)} for c in page],
        },
    }


class _FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    store: _Store
    url: str
    unknown_subreddit: Literal["404", "redirect"]


class FakeRedditServer:
    """In-process fake Reddit API (read-only comment listings) for PRAW.

    >>> with FakeRedditServer(load_sample().comments) as server:
    ...     reddit = praw.Reddit(client_id="x", client_secret="y", user_agent="test by u/x",
    ...                          check_for_updates=False, **server.praw_kwargs())
    """

    def __init__(
        self,
        comments: Iterable[Mapping[str, Any]] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        subreddits: Iterable[str] = (),
        unknown_subreddit: Literal["404", "redirect"] = "404",
    ) -> None:
        """Create (not start) a server holding ``comments``.

        ``subreddits`` registers extra existing-but-empty subreddits. An unknown
        subreddit answers 404 (``prawcore.NotFound``) or, with
        ``unknown_subreddit="redirect"``, a 302 to search like reddit.com does for
        names that never existed (``prawcore.Redirect``).
        """
        self._store = _Store()
        self._store.add(comments)
        self._store.known.update(s.lower() for s in subreddits)
        self._host = host
        self._requested_port = port
        self._unknown_subreddit: Literal["404", "redirect"] = unknown_subreddit
        self._httpd: _FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeRedditServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        httpd = _FakeHTTPServer((self._host, self._requested_port), _Handler)
        httpd.store = self._store
        httpd.unknown_subreddit = self._unknown_subreddit
        httpd.url = f"http://{self._host}:{httpd.server_address[1]}"
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-reddit", daemon=True
        )
        self._thread.start()
        log.info("fake Reddit listening on %s", httpd.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeRedditServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (only after start())."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (only after start())."""
        return f"http://{self._host}:{self.port}"

    def praw_kwargs(self) -> PrawEndpoints:
        """The ``praw.Reddit`` keyword arguments that route all traffic here."""
        return {"oauth_url": self.url, "reddit_url": self.url, "short_url": self.url}

    # -- data
    def add_comments(self, comments: Iterable[Mapping[str, Any]]) -> int:
        """Add comments at run time (e.g. 'new' comments between ingestion runs).

        Returns how many were new (ids already present are ignored).
        """
        return self._store.add(comments)

    def add_subreddit(self, name: str) -> None:
        """Register an existing subreddit that has no comments (yet)."""
        with self._store.lock:
            self._store.known.add(name.lower())

    def comments(self, subreddit: str = "all") -> list[JSONDict]:
        """The served comments of ``subreddit`` (or all), newest first."""
        with self._store.lock:
            if subreddit.lower() == "all":
                pool = [c for sub in self._store.by_sub.values() for c in sub]
            else:
                pool = list(self._store.by_sub.get(subreddit.lower(), []))
        return sorted(pool, key=_sort_key, reverse=True)

    @property
    def subreddits(self) -> set[str]:
        """Lower-cased names of all known subreddits."""
        with self._store.lock:
            return set(self._store.known)

    # -- faults & introspection
    def set_fault(
        self,
        subreddit: str,
        status: int,
        *,
        times: int | None = 1,
        headers: Mapping[str, str] | None = None,
        body: JSONDict | str | None = None,
    ) -> None:
        """Answer the next ``times`` listing requests for ``subreddit`` with ``status``.

        ``subreddit`` may also be ``"*"`` (every listing) or ``ACCESS_TOKEN_FAULT``
        (the token endpoint). ``times=None`` keeps failing until
        :meth:`clear_faults`. A 429 carries exhausted ``x-ratelimit-*`` headers
        unless overridden; other statuses carry the normal generous ones.
        ``headers`` are merged on top.
        """
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        base = RATELIMITED_HEADERS if status == 429 else DEFAULT_RATELIMIT_HEADERS
        merged = {**base, **(headers or {})}
        payload = body if body is not None else {"message": _REASONS.get(status, "Error"), "error": status}
        with self._store.lock:
            self._store.faults[subreddit.lower()] = Fault(status, times, merged, payload)

    def clear_faults(self) -> None:
        """Remove all injected faults."""
        with self._store.lock:
            self._store.faults.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        """Copy of every answered request so far (method, path, query params, status)."""
        with self._store.lock:
            return list(self._store.requests)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Run the fake server in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.fake_reddit",
        description="Fake Reddit API server replaying recorded comment listings for PRAW.",
    )
    parser.add_argument(
        "--replay",
        action="append",
        type=Path,
        metavar="PATH",
        help="directory of *.json (or a single file): betamax cassettes or Reddit Listing JSON; repeatable. "
        "Default: the bundled synthetic sample.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 picks a free port (default: 8089)")
    parser.add_argument("--unknown-subreddit", choices=["404", "redirect"], default="404")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    data = load_replay(args.replay) if args.replay else load_sample()
    if not data.comments:
        log.error("no comments loaded; nothing to serve")
        return 1
    server = FakeRedditServer(data.comments, host=args.host, port=args.port, unknown_subreddit=args.unknown_subreddit)
    server.start()
    print(
        f"fake Reddit at {server.url}: {len(data.comments)} comments in {len(data.subreddits)} subreddits "
        f"({len(data.warnings)} warnings). Point PRAW's oauth_url, reddit_url and short_url here. Ctrl-C to stop.",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
