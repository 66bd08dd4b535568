"""A fake Reddit API server that replays recorded comment listings for PRAW.

Point PRAW at it with ``oauth_url``/``reddit_url``/``short_url`` set to the
server URL (see :meth:`FakeRedditServer.praw_kwargs`). It implements only what
read-only comment ingestion needs:

* ``POST /api/v1/access_token`` - any credentials get a bearer token.
* ``GET /r/{sub}/comments`` (also ``/comments/``, ``.json``, ``r/all``, ``r/a+b``) -
  a Listing, newest first, with Reddit's ``limit``/``after``/``before`` paging.
* ``GET /api/info?id=t1_a,t1_b`` (what ``reddit.info(fullnames=...)`` sends, 100 a
  request) - the known comments; the ones deleted on Reddit since they were
  recorded (:meth:`FakeRedditServer.delete_comments`, ``--deleted FILE``) come back
  with body ``[deleted]`` / ``[removed]`` and no author.

Comments come from betamax cassettes or raw Listing JSON files
(:func:`load_replay`), or from the bundled synthetic sample. Faults (403, 404,
429, 5xx ...) can be injected per subreddit for hardening tests.

This module is the HTTP plumbing and the public server class; what Reddit
answers lives in ``devtools.reddit_api`` and the loading of recorded data in
``devtools.reddit_replay``.

CLI: ``python -m devtools.fake_reddit [--replay DIR_OR_FILE ...] [--deleted FILE] [--port N]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypedDict

from devtools.reddit_api import (
    ACCESS_TOKEN_FAULT,
    ANY_SUBREDDIT_FAULT,
    INFO_FAULT,
    REASONS,
    RedditState,
    Reply,
    RequestRecord,
    UnknownSubreddit,
    fault_for,
)
from devtools.reddit_replay import (
    SAMPLE_LISTING,
    JSONDict,
    ReplayData,
    load_replay,
    load_replay_dir,
    load_sample,
    normalize_comment,
)

# Fixed name so `python -m devtools.fake_reddit` logs under the same logger as imports do.
log = logging.getLogger("devtools.fake_reddit")

#: What importers of this module use; the behaviour and the loading live next door.
__all__ = [
    "ACCESS_TOKEN_FAULT",
    "ANY_SUBREDDIT_FAULT",
    "INFO_FAULT",
    "SAMPLE_LISTING",
    "FakeRedditServer",
    "PrawEndpoints",
    "ReplayData",
    "RequestRecord",
    "load_replay",
    "load_replay_dir",
    "load_sample",
    "normalize_comment",
    "read_deleted",
]


class PrawEndpoints(TypedDict):
    """``praw.Reddit(**server.praw_kwargs())`` endpoint overrides."""

    oauth_url: str
    reddit_url: str
    short_url: str


class _Handler(BaseHTTPRequestHandler):
    """HTTP only: reads the request, asks the :class:`RedditState` for a :class:`Reply`, sends it."""

    server: _FakeHTTPServer
    # HTTP/1.0: one request per connection; simplest and robust for a test double.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # Silence the default stderr access log; we log (without headers) in _send.
        return

    def _send(self, reply: Reply) -> None:
        raw = isinstance(reply.payload, str)
        body = reply.payload.encode("utf-8") if raw else json.dumps(reply.payload).encode("utf-8")
        # Record before replying so a client that saw the response always sees the record.
        self.server.store.record(self.command, self.path, reply.status)
        # Only method, path+query and status: never headers (Authorization) or bodies (credentials).
        log.debug("%s %s -> %d", self.command, self.path, reply.status)
        self.send_response(reply.status, REASONS.get(reply.status))
        self.send_header("Content-Type", "text/html; charset=UTF-8" if raw else "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # credentials: read and discard, never log
        self._send(self.server.store.token(self.path))

    def do_GET(self) -> None:
        store, authorization = self.server.store, self.headers.get("Authorization", "")
        reply = store.info(self.path, authorization)
        self._send(reply if reply is not None else store.listing(self.path, authorization, self.server.url))


class _FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    store: RedditState
    url: str


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
        unknown_subreddit: UnknownSubreddit = "404",
    ) -> None:
        """Create (not start) a server holding ``comments``.

        ``subreddits`` registers extra existing-but-empty subreddits. An unknown
        subreddit answers 404 (``prawcore.NotFound``) or, with
        ``unknown_subreddit="redirect"``, a 302 to search like reddit.com does for
        names that never existed (``prawcore.Redirect``).
        """
        self._store = RedditState(unknown_subreddit)
        self._store.add(comments)
        self._store.known.update(s.lower() for s in subreddits)
        self._host = host
        self._requested_port = port
        self._httpd: _FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeRedditServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        httpd = _FakeHTTPServer((self._host, self._requested_port), _Handler)
        httpd.store = self._store
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
        return self._store.pool([subreddit.lower()]) or []

    def delete_comments(self, ids: Iterable[str], marker: str = "[deleted]") -> None:
        """Report ``ids`` as deleted on Reddit (``/api/info``); listings keep the recorded comment."""
        self._store.delete(ids, marker)

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

        ``subreddit`` may also be ``"*"`` (every listing), ``ACCESS_TOKEN_FAULT``
        (the token endpoint) or ``INFO_FAULT`` (``/api/info``). ``times=None`` keeps failing until
        :meth:`clear_faults`. A 429 carries exhausted ``x-ratelimit-*`` headers
        unless overridden; other statuses carry the normal generous ones.
        ``headers`` are merged on top.
        """
        fault = fault_for(status, headers, body, times)
        with self._store.lock:
            self._store.faults[subreddit.lower()] = fault

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


def read_deleted(path: Path) -> dict[str, str]:
    """``--deleted FILE``: one comment id (or t1_ fullname) a line, optionally followed by ``removed``.

    Blank lines and ``#`` comments are skipped; anything else that is not an id is an error
    that names the line.
    """
    found: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        cid = parts[0].removeprefix("t1_")
        if not cid.isalnum() or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("deleted", "removed")):
            raise ValueError(f"{path}:{number}: expected a comment id, optionally followed by 'removed'")
        found[cid] = f"[{parts[1]}]" if len(parts) == 2 else "[deleted]"
    return found


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
    parser.add_argument("--deleted", type=Path, metavar="FILE",
                        help="comment ids (one a line) that /api/info reports as deleted on Reddit")
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
    try:
        deleted = read_deleted(args.deleted) if args.deleted else {}
    except (OSError, ValueError) as exc:
        log.error("--deleted: %s", exc)
        return 2
    server = FakeRedditServer(data.comments, host=args.host, port=args.port, unknown_subreddit=args.unknown_subreddit)
    for marker in set(deleted.values()):
        server.delete_comments([cid for cid, m in deleted.items() if m == marker], marker)
    server.start()
    print(
        f"fake Reddit at {server.url}: {len(data.comments)} comments in {len(data.subreddits)} subreddits "
        f"({len(data.warnings)} warnings, {len(deleted)} reported deleted). "
        "Point PRAW's oauth_url, reddit_url and short_url here. Ctrl-C to stop.",
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
