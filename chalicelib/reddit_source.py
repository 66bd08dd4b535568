"""Reads new comments from Reddit with PRAW, newest first, back to a checkpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import praw
import praw.exceptions
import prawcore

from chalicelib.models import Checkpoint, Comment, GoneCheck, default_permalink
from chalicelib.retry import Backoff, Deadline
from chalicelib.secrets import RedditCredentials

log = logging.getLogger(__name__)

# Reddit answers these for private, banned, quarantined or missing subreddits:
# retrying cannot help, the other subreddits go on.
_PERMANENT = (
    prawcore.exceptions.NotFound,
    prawcore.exceptions.Forbidden,
    prawcore.exceptions.Redirect,
    prawcore.exceptions.UnavailableForLegalReasons,
    prawcore.exceptions.BadRequest,
)
# prawcore already retries 5xx a few times; these are what is left after that.
_TRANSIENT = (prawcore.exceptions.ServerError, prawcore.exceptions.RequestException)
#: Wait for a rate-limit reset only while this much of the Lambda budget would remain.
RESERVE_MS = 20_000
#: Reddit's /api/info takes at most 100 fullnames a request (PRAW chunks by 100 too).
INFO_CHUNK = 100
#: Bodies Reddit shows once a comment's author deleted it or a moderator / Reddit removed it.
_DELETED_BODY = "[deleted]"
_REMOVED_BODIES = ("[removed]",)
_REMOVED_BY_REDDIT = "[ Removed by Reddit"


def deletion_reason(data: dict[str, Any]) -> str | None:
    """Why a comment as Reddit serves it now must not be kept, or None if it may.

    PRAW turns the author ``[deleted]`` into None, so a missing author means the account
    or the comment is gone.
    """
    body = str(data.get("body") or "").strip()
    if body == _DELETED_BODY:
        return "deleted"
    if body in _REMOVED_BODIES or body.startswith(_REMOVED_BY_REDDIT):
        return "removed"
    if data.get("author") is None:
        return "author gone"
    return None


@dataclass(frozen=True)
class FetchResult:
    subreddit: str
    comments: list[Comment]  # newest first
    gap: bool  # the listing ended (or the cap was hit) before the checkpoint
    skipped_reason: str | None = None
    #: Set when reading stopped early (time ran out inside the listing): the
    #: comments read are delivered, the checkpoint must not move.
    stopped_reason: str | None = None


def build_reddit(credentials: RedditCredentials, urls: dict[str, str]) -> praw.Reddit:
    """Read-only PRAW client; ``urls`` may point oauth/reddit/short URLs at a stand-in server."""
    options: dict[str, Any] = dict(urls)
    return praw.Reddit(
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        user_agent=credentials.user_agent,
        check_for_updates=False,
        **options,
    )


def to_comment(item: Any, ingested_at: float) -> Comment:
    """Map a PRAW Comment without triggering lazy fetches (only listing data is read)."""
    data = vars(item)
    subreddit = str(data.get("subreddit") or "")
    link_id = str(data.get("link_id") or "")
    comment_id = str(data["id"])
    author = data.get("author")
    permalink = data.get("permalink") or default_permalink(subreddit, link_id, comment_id)
    return Comment(
        id=comment_id,
        fullname=str(data.get("name") or f"t1_{comment_id}"),
        subreddit=subreddit,
        author=str(author) if author is not None else None,
        body=str(data.get("body") or ""),
        created_utc=float(data.get("created_utc") or 0.0),
        permalink=str(permalink),
        link_id=link_id,
        parent_id=str(data.get("parent_id") or ""),
        ingested_at=ingested_at,
    )


def _reset_seconds(exc: prawcore.exceptions.ResponseException) -> float:
    headers = getattr(exc.response, "headers", {}) or {}
    for name in ("retry-after", "x-ratelimit-reset"):
        try:
            return max(0.0, float(headers[name]))
        except (KeyError, TypeError, ValueError):
            continue
    return 60.0


def _fetches_next(listing: Any) -> bool:
    """Whether the next item needs a new page (PRAW's ListingGenerator keeps the
    current page in ``_listing``); True when that cannot be told."""
    page = getattr(listing, "_listing", None)
    index = getattr(listing, "_list_index", None)
    try:
        return page is None or not isinstance(index, int) or index >= len(page)
    except TypeError:
        return True


class RedditSource:
    def __init__(
        self,
        reddit: praw.Reddit,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        reserve_ms: int = RESERVE_MS,
    ) -> None:
        self._reddit = reddit
        self._backoff = backoff or Backoff(attempts=3, base=1.0)
        self._clock = clock
        #: Time kept for delivering what was read; waits and pages that would eat it are not started.
        self.reserve_ms = reserve_ms

    def fetch(
        self, subreddit: str, checkpoint: Checkpoint | None, limit: int, deadline: Deadline
    ) -> FetchResult:
        reason = "no attempt made"
        for _ in self._backoff.pauses():
            # prawcore sleeps, before its next request, until the rate-limit window
            # it was told about resets (up to 10 min after a 429 or remaining=0),
            # whatever the Lambda budget. Skip instead of starting a wait that
            # cannot end in time: the limit is per client, so it also holds for
            # the subreddits after the one that hit it.
            pending = self._pending_wait()
            if pending and deadline.remaining_ms() - pending * 1000 < self.reserve_ms:
                reason = f"rate limited for {pending:.0f}s"
                break
            try:
                return self._read(subreddit, checkpoint, limit, deadline)
            except _PERMANENT as exc:
                reason = f"{type(exc).__name__}: subreddit unavailable"
                break
            except prawcore.exceptions.TooManyRequests as exc:
                wait = _reset_seconds(exc)
                reason = f"rate limited for {wait:.0f}s"
                if deadline.remaining_ms() - wait * 1000 < self.reserve_ms:
                    break
                log.warning("reddit rate limit, waiting", extra={"subreddit": subreddit, "seconds": wait})
                self._backoff.sleep(wait)
            except _TRANSIENT as exc:
                reason = f"{type(exc).__name__} after retries"
                log.warning("reddit transient error", extra={"subreddit": subreddit, "error": type(exc).__name__})
            except (prawcore.exceptions.PrawcoreException, praw.exceptions.PRAWException) as exc:
                # Anything else Reddit can answer (an HTML outage page, a 52x from the
                # CDN, a revoked token): skip this subreddit, keep the others going.
                reason = f"{type(exc).__name__}: {str(exc)[:200]}"
                break
        log.error("subreddit skipped this run", extra={"subreddit": subreddit, "reason": reason})
        return FetchResult(subreddit, [], gap=False, skipped_reason=reason)

    def gone(self, fullnames: Sequence[str], max_requests: int, deadline: Deadline,
             reserve: int = 0) -> GoneCheck:
        """Ask Reddit (``reddit.info``, 100 fullnames a request) which of ``fullnames`` are gone.

        At most ``max_requests`` requests; it also stops before a request when prawcore's
        rate-limit window has ``reserve`` or fewer requests left (they belong to ingestion),
        when prawcore would first sleep past the Lambda budget, or on any Reddit error: what
        was not asked is simply not in ``checked``, and the next run asks again.

        A fullname Reddit leaves out of its answer no longer exists, or is no longer visible
        to this client (a subreddit gone private or banned): either way the text may not be
        kept, so it counts as gone ("not returned"). A request of several fullnames that
        returns none of them looks like a faulty answer, not a mass deletion: those are
        ``unanswered`` and kept until the next pass.
        """
        checked: list[str] = []
        unanswered: list[str] = []
        gone: dict[str, str] = {}
        requests = 0
        stopped: str | None = None
        for start in range(0, len(fullnames), INFO_CHUNK):
            chunk = list(dict.fromkeys(fullnames[start : start + INFO_CHUNK]))
            stopped = self._may_not_ask(requests, max_requests, deadline, reserve)
            if stopped:
                break
            requests += 1
            try:
                # Keyed by id: a comment's fullname is t1_<id> whatever else its data says.
                answered = {f"t1_{vars(item).get('id')}": vars(item) for item in self._reddit.info(fullnames=chunk)}
            except (prawcore.exceptions.PrawcoreException, praw.exceptions.PRAWException) as exc:
                stopped = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.warning("reddit info failed, sweep stops", extra={"error": type(exc).__name__})
                break
            if not answered and len(chunk) > 1:
                unanswered += chunk
                log.warning("reddit answered none of the fullnames asked", extra={"count": len(chunk)})
                continue
            checked += chunk
            for fullname in chunk:
                data = answered.get(fullname)
                reason = "not returned" if data is None else deletion_reason(data)
                if reason:
                    gone[fullname] = reason
        return GoneCheck(tuple(checked), gone, tuple(unanswered), requests, stopped)

    def _may_not_ask(self, used: int, max_requests: int, deadline: Deadline, reserve: int) -> str | None:
        """Why the next /api/info request must not be sent, or None."""
        if used >= max_requests:
            return "request budget used"
        remaining = self._reddit.auth.limits.get("remaining")
        if isinstance(remaining, int | float) and remaining <= reserve:
            return f"rate-limit window down to {remaining:.0f} requests, left to ingestion"
        # The caller watches its own time; only a rate-limit sleep prawcore would start
        # before the request has to fit in what is left.
        pending = self._pending_wait()
        if pending and deadline.remaining_ms() - pending * 1000 < self.reserve_ms:
            return f"rate limited for {pending:.0f}s"
        return None

    def _pending_wait(self) -> float:
        """Seconds prawcore's rate limiter will sleep before the next request (0 if unknown)."""
        core = getattr(self._reddit, "_core", None)  # praw keeps its prawcore session private
        limiter = getattr(core, "rate_limiter", None)
        next_ns = getattr(limiter, "next_request_timestamp_ns", None)
        if not isinstance(next_ns, int):
            return 0.0
        return max(0.0, (next_ns - time.monotonic_ns()) / 1e9)

    def _read(self, subreddit: str, checkpoint: Checkpoint | None, limit: int, deadline: Deadline) -> FetchResult:
        now = self._clock()
        listing: Iterator[Any] = iter(self._reddit.subreddit(subreddit).comments(limit=limit))
        comments: list[Comment] = []
        seen: set[str] = set()
        while True:
            # PRAW fetches the next page inside next(), after prawcore's rate-limit
            # sleep: stop before a page (or a wait) that would eat the reserve the
            # delivery of what was read needs. A Lambda deadline runs on wall-clock
            # time, so prawcore's sleeps count against it like any other wait.
            wait = self._pending_wait() if _fetches_next(listing) else 0.0
            if deadline.remaining_ms() - wait * 1000 < self.reserve_ms:
                log.warning("time budget low inside a listing: delivering what was read",
                            extra={"subreddit": subreddit, "read": len(comments)})
                return FetchResult(subreddit, comments, gap=False,
                                   stopped_reason=f"time ran out after {len(comments)} comments")
            item = next(listing, None)
            if item is None:
                break
            comment = to_comment(item, now)
            if checkpoint and (
                comment.id == checkpoint.last_id or comment.created_utc < checkpoint.last_created_utc
            ):
                return FetchResult(subreddit, comments, gap=False)
            if comment.id not in seen:  # a listing can shift while it is paged
                seen.add(comment.id)
                comments.append(comment)
        # The listing ended (Reddit stops near 1,000 items) or the per-run cap was
        # hit before the checkpoint: anything older than what we read is missed.
        gap = checkpoint is not None
        return FetchResult(subreddit, comments, gap=gap)
