"""The deletion sweep: stored comments checked against Reddit again, the deleted ones removed here.

Reddit's Data API terms require that content deleted on Reddit is deleted downstream too. Each
scheduled run walks the stored comments oldest first from a rotating cursor (a bookkeeping item),
asks Reddit about them 100 at a time (``reddit.info``), deletes those that are gone, with their
counters, and saves the cursor after every page. When the walk reaches the newest comment the
pass is complete and the next run starts again from the oldest.

Budget: a share of Reddit's rate limit (SWEEP_SHARE_PERCENT, default 20 % of the 100 requests a
minute one OAuth client may send), spent evenly: a run every SWEEP_MINUTES may send
``share * 100 * SWEEP_MINUTES`` requests. Ingestion reads at most 10 listing pages per
subreddit and run, so it is left the rest, and the sweep also stops when Reddit's window is down
to INGEST_RESERVE requests.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.models import GoneCheck, StoredRef, SweepReport
from chalicelib.retry import Deadline, Leases, leased

log = logging.getLogger(__name__)

#: Reddit Data API: 100 queries a minute per OAuth client id, averaged over a 10-minute window.
REDDIT_REQUESTS_PER_MINUTE = 100
#: /api/info answers up to 100 fullnames a request.
FULLNAMES_PER_REQUEST = 100
#: Requests of Reddit's window the sweep never takes: one minute of the whole rate, ten times
#: what one ingestion run of one subreddit needs.
INGEST_RESERVE = 100
#: Stop starting pages when less than this is left of the Lambda's time.
SWEEP_RESERVE_MS = 30_000
#: One sweep at a time, whatever Lambda's concurrency (reserved concurrency is optional, see
#: provisioning/concurrency.py): two runs would walk from the same cursor and spend the budget twice.
SWEEP_LEASE = "sweep"
SWEEP_BUSY = "another sweep is running"


def requests_per_run(share_percent: int, sweep_minutes: int) -> int:
    """Requests one run may send: its share of the rate limit over the time until the next run."""
    return max(1, math.floor(share_percent / 100 * REDDIT_REQUESTS_PER_MINUTE * sweep_minutes))


def daily_capacity(share_percent: int) -> int:
    """Stored comments the sweep can check in a day at this share of the rate limit."""
    return math.floor(share_percent / 100 * REDDIT_REQUESTS_PER_MINUTE * 1440) * FULLNAMES_PER_REQUEST


def days_per_pass(stored: int, share_percent: int) -> float:
    """How often each stored comment is checked (days between two checks of it)."""
    return stored / daily_capacity(share_percent)


@dataclass(frozen=True)
class SweepCursor:
    """Where the walk resumes: a partition of the index it reads and the last key read in it."""

    partition: int = 0
    after: dict[str, Any] | None = None
    passes: int = 0  # complete passes so far


@dataclass(frozen=True)
class StoredPage:
    refs: list[StoredRef]
    cursor: SweepCursor  # where the next page starts
    wrapped: bool  # this page reached the newest stored comment: the pass is complete


@dataclass(frozen=True)
class Deletion:
    deleted: tuple[str, ...]  # ids removed now, with their counters
    already_gone: tuple[str, ...]  # ids someone else (TTL, another sweep, forget) removed first


class DeletionChecker(Protocol):
    def gone(self, fullnames: Sequence[str], max_requests: int, deadline: Deadline,
             reserve: int = 0) -> GoneCheck: ...


class SweepStore(Protocol):
    def sweep_cursor(self) -> SweepCursor: ...

    def save_sweep_cursor(self, cursor: SweepCursor) -> None: ...

    def stored_page(self, cursor: SweepCursor, limit: int) -> StoredPage: ...

    def delete_comments(self, refs: Sequence[StoredRef]) -> Deletion: ...


@dataclass
class Sweeper:
    reddit: DeletionChecker
    store: SweepStore
    leases: Leases
    max_requests: int
    reserve_ms: int = SWEEP_RESERVE_MS
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def run(self, deadline: Deadline) -> SweepReport:
        """One run under the lease ``sweep``; a run that finds it taken checks nothing and says so."""
        with leased(self.leases, SWEEP_LEASE, self.owner, deadline) as held:
            if not held:
                log.warning("sweep lease held by another run, skipping this run", extra={"lease": SWEEP_LEASE})
                return SweepReport(0, 0, 0, 0, 0, {}, pass_completed=False, stopped_reason=SWEEP_BUSY)
            return self._run(deadline)

    def _run(self, deadline: Deadline) -> SweepReport:
        cursor = self.store.sweep_cursor()
        checked = deleted = already = unanswered = requests = 0
        reasons: Counter[str] = Counter()
        stopped: str | None = None
        completed = False
        while not completed:
            if requests >= self.max_requests:
                stopped = "request budget used"
                break
            if deadline.remaining_ms() < self.reserve_ms:
                stopped = "time budget"
                break
            page = self.store.stored_page(cursor, FULLNAMES_PER_REQUEST)
            by_name = {r.fullname: r for r in page.refs}
            result = self.reddit.gone(list(by_name), self.max_requests - requests, deadline, INGEST_RESERVE)
            requests += result.requests
            checked += len(result.checked)
            unanswered += len(result.unanswered)
            if result.gone:
                done = self.store.delete_comments([by_name[f] for f in result.gone])
                deleted += len(done.deleted)
                already += len(done.already_gone)
                reasons.update(result.gone[f"t1_{cid}"] for cid in done.deleted)
            if len(result.checked) + len(result.unanswered) < len(by_name):
                # Stopped inside the page: the cursor stays, the next run asks again.
                stopped = result.stopped_reason or "stopped"
                break
            completed = page.wrapped
            cursor = SweepCursor(page.cursor.partition, page.cursor.after, cursor.passes + int(completed))
            self.store.save_sweep_cursor(cursor)
        report = SweepReport(checked, deleted, already, unanswered, requests, dict(reasons), completed, stopped)
        log.info("sweep summary", extra={"sweep": report.__dict__})
        return report
